import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { RelayLimits } from '../relay-limits.js';
import type { TrustProxy } from './client-address.js';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies of many shapes
  body: any;
}

/** A plain node:http request, so a test can choose the client's own address (127.0.0.2 is loopback too on Linux). */
function send(
  url: string,
  options: {
    method?: string;
    token?: string;
    authorization?: string;
    json?: unknown;
    localAddress?: string;
    forwardedFor?: string;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.forwardedFor !== undefined) headers['x-forwarded-for'] = options.forwardedFor;
  const authorization = options.authorization ?? (options.token !== undefined ? `Bearer ${options.token}` : undefined);
  if (authorization !== undefined) headers.authorization = authorization;
  const body = options.json !== undefined ? JSON.stringify(options.json) : undefined;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers,
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // metrics text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A desktop upgrade that the relay refuses: its status, headers and JSON body. */
function refusedUpgrade(wsUrl: string, token: string, localAddress?: string, forwardedFor?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, {
      headers: {
        authorization: `Bearer ${token}`,
        ...(forwardedFor !== undefined ? { 'x-forwarded-for': forwardedFor } : {}),
      },
      ...(localAddress ? { localAddress } : {}),
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) });
      });
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => undefined);
  });
}

/** Repeats `attempt` until `done` holds of its answer (no fixed sleeps: a loaded machine only makes it slower). */
async function pollUntil(attempt: () => Promise<Answer>, done: (a: Answer) => boolean, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const answer = await attempt();
    if (done(answer)) return answer;
    if (Date.now() > until) throw new Error(`still ${answer.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const opened: TestRelay[] = [];
const desktops: FakeDesktop[] = [];
afterEach(async () => {
  for (const d of desktops.splice(0)) await d.close();
  for (const t of opened.splice(0)) await t.dispose();
});

async function relayWith(
  limits: Partial<RelayLimits>,
  options: { metricsToken?: string; host?: string; trustProxy?: TrustProxy } = {},
) {
  const t = await startTestRelay({ limits, ...options });
  opened.push(t);
  return t;
}

/** A platform key of org `acme` besides the test relay's own. */
async function secondKey(t: TestRelay): Promise<string> {
  return (await t.relay.admin.createToken({ org: 'acme', kind: 'platform', name: 'second backend' })).token;
}

const WIDE = 60_000;

describe('AccessGuard', () => {
  describe('credential limit', () => {
    it('answers 429 rate_limited with Retry-After once a key has used its requests in the window', async () => {
      const t = await relayWith({ credentialRequestsPerWindow: 3, credentialWindowMs: WIDE });
      for (let i = 0; i < 3; i++)
        expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
      const limited = await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey });
      expect(limited.status).toBe(429);
      const seconds = Number(limited.headers['retry-after']);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(limited.body).toEqual({
        error: {
          code: 'rate_limited',
          message: `too many requests with this token; retry in ${seconds} s`,
          details: { limit: 'credential', retryAfterSeconds: seconds },
        },
      });
      // The MCP endpoint counts against the same credential.
      const mcp = await send(`${t.relay.url}/v1/runtimes/rt_none/mcp`, {
        method: 'POST',
        token: t.platformKey,
        json: {},
      });
      expect(mcp.status).toBe(429);
      expect(mcp.body.error.code).toBe('rate_limited');
      const metrics = await send(`${t.relay.url}/metrics`);
      expect(metrics.body).toContain('tether_relay_rate_limited_total{limit="credential"} 2');
    });

    it('lets the key through again once its window has ended', async () => {
      const t = await relayWith({ credentialRequestsPerWindow: 2, credentialWindowMs: 1_000 });
      const list = () => send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey });
      await pollUntil(list, (a) => a.status === 429);
      const again = await pollUntil(list, (a) => a.status !== 429);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ runtimes: [], nextCursor: null });
    });

    it('counts each key on its own, its grants with it: one key flooding does not throttle another', async () => {
      const t = await relayWith({ credentialRequestsPerWindow: 3, credentialWindowMs: WIDE });
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      desktops.push(desktop);
      const runtimeId = (await desktop.hello({ deviceId: 'd1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]))
        .runtimes[0]!.runtimeId;
      const other = await secondKey(t);
      // The grant is minted with the other key (one of its three requests).
      const grant = await send(`${t.relay.url}/v1/grants`, {
        method: 'POST',
        token: other,
        json: { runtimeIds: [runtimeId], ttlSeconds: 600, label: 'stage' },
      });
      expect(grant.status).toBe(200);
      await pollUntil(
        () => send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey }),
        (a) => a.status === 429,
      );
      // The other key (1 request so far) and its grant share its budget of 3: minting grants does not multiply it.
      expect((await send(`${t.relay.url}/v1/runtimes/${runtimeId}`, { token: other })).status).toBe(200);
      expect((await send(`${t.relay.url}/v1/runtimes/${runtimeId}`, { token: grant.body.token })).status).toBe(200);
      const limited = await send(`${t.relay.url}/v1/runtimes/${runtimeId}`, { token: grant.body.token });
      expect(limited.status).toBe(429);
      expect(limited.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 'credential' } });
      expect((await send(`${t.relay.url}/v1/runtimes/${runtimeId}`, { token: other })).status).toBe(429);
    });
  });

  describe('auth failure limit', () => {
    it('after N refused tokens from an address, answers its guesses 429, but never a valid key', async () => {
      const t = await relayWith({ authFailuresPerWindow: 3, authFailureWindowMs: WIDE });
      const list = (token: string) => send(`${t.relay.url}/v1/runtimes`, { token });
      for (const guess of ['tpk_guess1', 'tpk_guess2', 'tgr_guess3']) expect((await list(guess)).status).toBe(401);
      // A NAT neighbour's (or the same machine's) valid key is not locked out by the guesses.
      expect((await list(t.platformKey)).status).toBe(200);
      const locked = await list('tpk_guess4');
      expect(locked.status).toBe(429);
      const seconds = Number(locked.headers['retry-after']);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(locked.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 'auth_failures' } });
      // A guess while locked learns nothing (429, not 401); a missing token is no guess (401).
      expect((await list('tgr_guess5')).status).toBe(429);
      expect((await send(`${t.relay.url}/v1/runtimes/x/mcp`, { method: 'POST', json: {} })).status).toBe(401);
      expect((await list(t.platformKey)).status).toBe(200);
      // Another address is not affected.
      expect(
        (await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey, localAddress: '127.0.0.2' })).status,
      ).toBe(200);
      // Open routes stay open.
      expect((await send(`${t.relay.url}/healthz`)).status).toBe(200);
      expect((await send(`${t.relay.url}/readyz`)).status).toBe(200);
    });

    it('lets the address try again once the window has ended', async () => {
      const t = await relayWith({ authFailuresPerWindow: 2, authFailureWindowMs: 1_000 });
      const list = (token: string) => send(`${t.relay.url}/v1/runtimes`, { token });
      await pollUntil(
        () => list('tpk_guess'),
        (a) => a.status === 429,
      );
      const recovered = await pollUntil(
        () => list('tpk_guess'),
        (a) => a.status !== 429,
      );
      expect(recovered.status).toBe(401);
    });

    it('does not count requests with a valid token as failures; HEAD routes are guarded too', async () => {
      const t = await relayWith({ authFailuresPerWindow: 2, authFailureWindowMs: WIDE });
      for (let i = 0; i < 10; i++)
        expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
      expect((await send(`${t.relay.url}/v1/runtimes`, { method: 'HEAD' })).status).toBe(401);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess' })).status).toBe(401);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess' })).status).toBe(401);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess' })).status).toBe(429);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
    });

    it('does not count requests without a token: 30 token-less GETs lock out neither a key nor a desktop', async () => {
      const t = await relayWith({ authFailuresPerWindow: 30, authFailureWindowMs: WIDE });
      for (let i = 0; i < 40; i++) expect((await send(`${t.relay.url}/v1/runtimes`)).status).toBe(401);
      for (let i = 0; i < 5; i++)
        expect((await send(`${t.relay.url}/v1/runtimes/rt_x/mcp`, { method: 'POST', json: {} })).status).toBe(401);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      desktops.push(desktop);
      await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]);
      // Still a plain 401: nothing was counted against the address.
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess' })).status).toBe(401);
    });

    it('refuses desktop upgrades with 429 after failed ones, counted with failed platform requests', async () => {
      const t = await relayWith({ authFailuresPerWindow: 2, authFailureWindowMs: WIDE });
      expect((await refusedUpgrade(t.relay.wsUrl, 'tdt_guess1')).status).toBe(401);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess2' })).status).toBe(401);
      const locked = await refusedUpgrade(t.relay.wsUrl, 'tdt_guess3');
      expect(locked.status).toBe(429);
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(locked.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 'auth_failures' } });
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess4' })).status).toBe(429);
      expect((await send(`${t.relay.url}/v1/runtimes`, { token: t.platformKey })).status).toBe(200);
      // The valid desktop token from the same address connects.
      const ws = new WebSocket(t.relay.wsUrl, { headers: { authorization: `Bearer ${t.desktopToken}` } });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.terminate();
      const metrics = await send(`${t.relay.url}/metrics`);
      expect(metrics.body).toContain('tether_relay_rate_limited_total{limit="auth_failures"} 2');
    });
  });

  describe('behind a proxy', () => {
    it('ignores X-Forwarded-For unless the proxy is trusted: a guesser cannot spread failures over made-up addresses', async () => {
      const t = await relayWith({ authFailuresPerWindow: 2, authFailureWindowMs: WIDE });
      const guess = (forwardedFor: string) => send(`${t.relay.url}/v1/runtimes`, { token: 'tpk_guess', forwardedFor });
      expect((await guess('203.0.113.1')).status).toBe(401);
      expect((await guess('203.0.113.2')).status).toBe(401);
      expect((await guess('203.0.113.3')).status).toBe(429);
      expect((await refusedUpgrade(t.relay.wsUrl, 'tdt_guess', undefined, '203.0.113.4')).status).toBe(429);
      // And a forged header does not make a remote client look local to /metrics.
      expect((await send(`${t.relay.url}/metrics`, { forwardedFor: '127.0.0.1' })).status).toBe(200);
    });

    it('with a trusted proxy, limits each forwarded client on its own, over HTTP and desktop upgrades', async () => {
      const t = await relayWith({ authFailuresPerWindow: 2, authFailureWindowMs: WIDE }, { trustProxy: ['loopback'] });
      const list = (token: string, forwardedFor: string) => send(`${t.relay.url}/v1/runtimes`, { token, forwardedFor });
      expect((await list('tpk_guess1', '203.0.113.7')).status).toBe(401);
      expect((await refusedUpgrade(t.relay.wsUrl, 'tdt_guess2', undefined, '203.0.113.7')).status).toBe(401);
      expect((await list('tpk_guess3', '203.0.113.7')).status).toBe(429);
      expect((await refusedUpgrade(t.relay.wsUrl, 'tdt_guess4', undefined, '203.0.113.7')).status).toBe(429);
      // Another client behind the same proxy is not locked out.
      expect((await list(t.platformKey, '203.0.113.8')).status).toBe(200);
      expect((await refusedUpgrade(t.relay.wsUrl, 'tdt_guess3', undefined, '203.0.113.8')).status).toBe(401);
    });

    it('with a trusted proxy on this machine, /metrics without a token is refused to the remote clients it forwards', async () => {
      const t = await relayWith({}, { trustProxy: ['loopback'] });
      const forwarded = await send(`${t.relay.url}/metrics`, { forwardedFor: '203.0.113.9' });
      expect(forwarded.status).toBe(403);
      expect(forwarded.body.error.code).toBe('forbidden');
      expect((await send(`${t.relay.url}/metrics`)).status).toBe(200);
    });

    it('with every proxy trusted, a client naming itself 127.0.0.1 in X-Forwarded-For does not get /metrics', async () => {
      const t = await relayWith({}, { trustProxy: true });
      // What a proxy that appends (nginx's $proxy_add_x_forwarded_for) passes on for a forged header.
      const forged = await send(`${t.relay.url}/metrics`, { forwardedFor: '127.0.0.1, 203.0.113.9' });
      expect(forged.status).toBe(403);
      expect((await send(`${t.relay.url}/metrics`, { forwardedFor: '127.0.0.1' })).status).toBe(200);
    });
  });

  describe('/metrics', () => {
    const METRICS_TOKEN = 'metrics-0123456789abcdef';

    it('with a metrics token, answers only that bearer token, even to loopback clients', async () => {
      const t = await relayWith(
        { authFailuresPerWindow: 3, authFailureWindowMs: WIDE },
        { metricsToken: METRICS_TOKEN },
      );
      const none = await send(`${t.relay.url}/metrics`);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer');
      expect(none.body.error.code).toBe('unauthorized');
      expect((await send(`${t.relay.url}/metrics`, { token: t.platformKey })).status).toBe(401);
      const ok = await send(`${t.relay.url}/metrics`, { token: METRICS_TOKEN });
      expect(ok.status).toBe(200);
      expect(ok.body).toContain('tether_relay_desktop_connections 0');
      // Guessing it is an auth failure like any other; the right token still gets through.
      expect((await send(`${t.relay.url}/metrics`, { token: 'metrics-guess' })).status).toBe(401);
      expect((await send(`${t.relay.url}/metrics`, { token: 'metrics-guess2' })).status).toBe(401);
      expect((await send(`${t.relay.url}/metrics`, { token: 'metrics-guess3' })).status).toBe(429);
      expect((await send(`${t.relay.url}/metrics`, { token: METRICS_TOKEN })).status).toBe(200);
      expect((await send(`${t.relay.url}/healthz`)).status).toBe(200);
    });

    const outside = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

    it.skipIf(outside === undefined)(
      'without a metrics token, answers loopback clients only (skipped where the machine has no non-loopback IPv4 address)',
      async () => {
        const t = await relayWith({}, { host: '0.0.0.0' });
        const port = t.relay.port;
        expect((await send(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
        const remote = await send(`http://${outside}:${port}/metrics`);
        expect(remote.status).toBe(403);
        expect(remote.body.error.code).toBe('forbidden');
        expect((await send(`http://${outside}:${port}/healthz`)).status).toBe(200);
        expect((await send(`http://${outside}:${port}/readyz`)).status).toBe(200);
      },
    );

    it.skipIf(outside === undefined)(
      'with a metrics token, serves a non-loopback client that sends it (skipped where the machine has no non-loopback IPv4 address)',
      async () => {
        const t = await relayWith({}, { host: '0.0.0.0', metricsToken: METRICS_TOKEN });
        const url = `http://${outside}:${t.relay.port}/metrics`;
        expect((await send(url)).status).toBe(401);
        expect((await send(url, { token: METRICS_TOKEN })).status).toBe(200);
      },
    );
  });
});
