import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  FLOW_HIGH_WATERMARK_BYTES,
  type AppFrame,
  type CallFrame,
  type Result,
  type WorkspaceAnnouncement,
} from '@tether/shared';
import { Backoff } from './backoff.js';
import { connectUrlOf } from './connect-url.js';
import {
  parseRetryAfter,
  RelayClient,
  RETRY_AFTER_MAX_MS,
  type CallDispatcher,
  type CallSink,
  type RelayClientOptions,
} from './relay-client.js';

/** A small stand-in relay on a real port: checks the bearer token on upgrade and records frames. */
class TestRelay {
  readonly frames: AppFrame[] = [];
  readonly sockets: WebSocket[] = [];
  upgrades = 0;
  /** TLS handshakes that failed (the client refused the certificate). */
  tlsFailures = 0;
  authHeaders: string[] = [];
  welcome = true;
  heartbeatIntervalMs = 15_000;
  private readonly http: Server;
  private readonly wss: WebSocketServer;

  constructor(options: { autoPong?: boolean; tls?: { cert: string; key: string } } = {}) {
    this.wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
    const notFound = (_req: IncomingMessage, res: ServerResponse): void => void res.writeHead(404).end();
    this.http = options.tls ? createHttpsServer(options.tls, notFound) : createServer(notFound);
    this.http.on('tlsClientError', () => this.tlsFailures++);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrades++;
      this.authHeaders.push(req.headers.authorization ?? '');
      if (req.headers.authorization === 'Bearer tdt_limited') {
        socket.end(
          'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        );
        return;
      }
      if (req.url !== '/v1/connect' || req.headers.authorization !== 'Bearer tdt_good') {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    });
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', resolve));
    const scheme = 'cert' in this.http ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get last(): WebSocket {
    const ws = this.sockets.at(-1);
    if (ws === undefined) throw new Error('no connection yet');
    return ws;
  }

  send(frame: unknown, ws: WebSocket = this.last): void {
    ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  framesOf<T extends AppFrame['type']>(type: T): Extract<AppFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<AppFrame, { type: T }> => f.type === type);
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private onConnection(ws: WebSocket): void {
    this.sockets.push(ws);
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as AppFrame;
      this.frames.push(frame);
      if (frame.type === 'hello' && this.welcome) {
        this.send(
          {
            type: 'welcome',
            sessionId: `s${this.sockets.length}`,
            runtimes: frame.workspaces.map((w) => ({ workspaceId: w.workspaceId, runtimeId: `rt_${w.workspaceId}` })),
            limits: { maxFrameBytes: 8 << 20, maxInFlightPerRuntime: 32 },
            heartbeatIntervalMs: this.heartbeatIntervalMs,
          },
          ws,
        );
      }
    });
  }
}

/** A dispatcher that records calls and lets the test finish them. */
class TestCalls implements CallDispatcher {
  readonly runs: Array<{ call: CallFrame; sink: CallSink; finish: (r: Result<unknown>) => void }> = [];
  readonly cancelled: string[] = [];
  run(call: CallFrame, sink: CallSink): Promise<Result<unknown>> {
    return new Promise((finish) => this.runs.push({ call, sink, finish }));
  }
  cancel(callId: string): void {
    this.cancelled.push(callId);
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const workspace: WorkspaceAnnouncement = {
  workspaceId: 'ws1',
  name: 'Project',
  description: '',
  state: 'running',
  capabilities: { policy: { read: 'allow', write: 'ask', shell: 'ask' }, tools: ['read_file'] },
};

const call = (id: string): CallFrame => ({
  type: 'call',
  id,
  runtimeId: 'rt_ws1',
  workspaceId: 'ws1',
  tool: 'read_file',
  args: { path: 'a.txt' },
  deadline: Date.now() + 60_000,
  caller: 'test',
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  options: {
    autoPong?: boolean;
    tls?: { cert: string; key: string };
    token?: string;
    client?: Partial<RelayClientOptions>;
  } = {},
) {
  const relay = new TestRelay(options);
  const url = await relay.listen();
  cleanups.push(() => relay.close());
  const calls = new TestCalls();
  const logs: string[] = [];
  const announced = { current: [workspace] };
  const client = new RelayClient({
    relayUrl: url,
    token: options.token ?? 'tdt_good',
    device: () => ({ deviceId: 'dev1', name: 'Laptop', os: 'linux' }),
    appVersion: '0.1.0',
    announcements: () => announced.current,
    calls,
    backoff: { baseMs: 10, maxMs: 50 },
    log: (line) => logs.push(line),
    ...options.client,
  });
  cleanups.push(() => client.dispose());
  return { relay, url, calls, client, logs, announced };
}

describe('RelayClient', () => {
  describe('connect', () => {
    it('says hello with the bearer token in the upgrade header and is connected after welcome', async () => {
      const { relay, client } = await setup();
      const runtimes: unknown[] = [];
      client.on('runtimes', (r) => runtimes.push(r));
      await waitFor(() => client.status.state === 'connected', 'connected');
      expect(relay.authHeaders).toEqual(['Bearer tdt_good']);
      const [hello] = relay.framesOf('hello');
      expect(hello).toMatchObject({
        protocolVersion: 1,
        device: { deviceId: 'dev1' },
        appVersion: '0.1.0',
        workspaces: [workspace],
      });
      expect(client.runtimes).toEqual([{ workspaceId: 'ws1', runtimeId: 'rt_ws1' }]);
      expect(runtimes).toHaveLength(1);
    });

    it('stays in error without reconnecting when the relay answers 401', async () => {
      const { relay, client } = await setup({ token: 'tdt_bad' });
      await waitFor(() => client.status.state === 'error', 'error state');
      expect(client.status.reason).toMatch(/refused the desktop token \(HTTP 401\)/);
      await new Promise((r) => setTimeout(r, 300)); // with a 10-50 ms backoff, a retry would have happened by now
      expect(relay.upgrades).toBe(1);
    });

    it('waits as long as a 429 says in Retry-After before trying again, not its short backoff', async () => {
      const { relay, client, logs } = await setup({ token: 'tdt_limited' });
      await waitFor(() => logs.some((l) => l.includes('reconnecting in')), 'the retry to be planned');
      expect(client.status.state).toBe('connecting');
      expect(client.status.reason).toMatch(/limiting connections from this address \(HTTP 429\)/);
      const delay = Number(/reconnecting in (\d+) ms/.exec(logs.find((l) => l.includes('reconnecting in'))!)![1]);
      expect(delay).toBeGreaterThanOrEqual(3000); // the backoff alone is 10-50 ms
      expect(relay.upgrades).toBe(1);
    });

    it('reports error without a token and never connects', async () => {
      const { relay, client } = await setup({ token: '' });
      expect(client.status).toMatchObject({ state: 'error', reason: expect.stringMatching(/No desktop token/) });
      expect(relay.upgrades).toBe(0);
    });

    it('connects once configured with a token, without the old error as reason', async () => {
      const { client } = await setup({ token: '' });
      const seen: Array<{ state: string; reason?: string }> = [];
      client.on('status', (st: { state: string; reason?: string }) =>
        seen.push({ state: st.state, ...(st.reason ? { reason: st.reason } : {}) }),
      );
      client.configure({ token: 'tdt_good' });
      await waitFor(() => client.status.state === 'connected', 'connected');
      expect(seen).toEqual([{ state: 'connecting' }, { state: 'connected' }]);
    });

    it('reports a token a header cannot carry as an error, without the token', async () => {
      const { client, relay } = await setup({ token: 'tdt_bad\u0001token' });
      expect(client.status.state).toBe('error');
      expect(client.status.reason).toMatch(/Cannot connect/);
      expect(client.status.reason).not.toContain('tdt_bad');
      expect(relay.upgrades).toBe(0);
    });

    it('keeps retrying while the relay is unreachable and connects once it is up', async () => {
      const probe = new TestRelay();
      const url = await probe.listen();
      await probe.close(); // the port is now free and refuses connections
      const { client } = await setup({ client: { relayUrl: url } });
      await waitFor(
        () =>
          client.status.state === 'connecting' &&
          /nothing answers at that address; is the relay running.*\(ECONNREFUSED\)/.test(client.status.reason ?? ''),
        'a refused attempt',
      );
      const relay = new TestRelay();
      await relay.listen(Number(new URL(url).port));
      cleanups.push(() => relay.close());
      await waitFor(() => client.status.state === 'connected', 'connected after the relay came up');
    });
  });

  describe('wss', () => {
    /** A self-signed certificate for 127.0.0.1 (it is its own CA), made with the openssl CLI. */
    function selfSigned(): { cert: string; key: string; caFile: string; cleanup: () => void } {
      const dir = mkdtempSync(join(tmpdir(), 'tether-tls-'));
      const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
      const cert = execFileSync('cat', [certFile], { encoding: 'utf8' });
      const key = execFileSync('cat', [keyFile], { encoding: 'utf8' });
      writeFileSync(join(dir, 'ca.pem'), cert);
      return { cert, key, caFile: join(dir, 'ca.pem'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    }

    it('connects to a relay whose certificate is signed by the caFile CA', async () => {
      const tls = selfSigned();
      cleanups.push(async () => tls.cleanup());
      const { relay, client } = await setup({ tls, client: { caFile: tls.caFile } });
      await waitFor(() => client.status.state === 'connected', 'connected over wss');
      expect(relay.framesOf('hello')).toHaveLength(1);
    });

    it('refuses a certificate no trusted CA signed, and keeps retrying', async () => {
      const tls = selfSigned();
      cleanups.push(async () => tls.cleanup());
      const { relay, client } = await setup({ tls });
      await waitFor(
        () => client.status.state === 'connecting' && /certificate/i.test(client.status.reason ?? ''),
        'a certificate failure',
      );
      await waitFor(() => relay.tlsFailures >= 2, 'a second attempt');
      expect(relay.upgrades).toBe(0);
      expect(client.status.reason).toMatch(/set caFile/);
    });
  });

  describe('reconnect', () => {
    it('says hello again after the relay drops the connection', async () => {
      const { relay, client } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.last.close(1011, 'restarting');
      await waitFor(() => relay.framesOf('hello').length === 2 && client.status.state === 'connected', 'second hello');
      expect(relay.sockets).toHaveLength(2);
    });

    it.each([
      [4401, /revoked or refused the desktop token/],
      [4406, /does not support protocol version/],
      [4403, /registered to another desktop token \(4403\).*revoke the old token/],
    ])('does not reconnect after close code %i', async (code, reason) => {
      const { relay, client } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.last.close(code, 'no');
      await waitFor(() => client.status.state === 'error', 'error state');
      expect(client.status.reason).toMatch(reason);
      await new Promise((r) => setTimeout(r, 300));
      expect(relay.upgrades).toBe(1);
    });

    it("shows the relay's close reason without its control characters", async () => {
      const { relay, client } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      const reasons: string[] = [];
      client.on('status', (st: { reason?: string }) => st.reason && reasons.push(st.reason));
      relay.last.close(1011, '\u001b[2Jbye');
      await waitFor(() => reasons.some((r) => r.includes('1011')), 'the retry reason');
      const reason = reasons.find((r) => r.includes('1011'));
      expect(reason).toContain('(1011: ?[2Jbye)');
      expect(reason).not.toContain('\u001b');
    });

    it('starts backing off from the shortest delay again once a welcomed connection answered a heartbeat', async () => {
      // The largest delay of each attempt: 100, 200, 400, 800 ms … if nothing resets it.
      const { relay, client, logs } = await setup({
        client: { backoff: { baseMs: 100, maxMs: 60_000, random: () => 0.999 } },
      });
      for (let i = 1; i <= 4; i++) {
        await waitFor(() => relay.sockets.length === i && client.status.state === 'connected', `connection ${i}`);
        await new Promise((r) => setTimeout(r, 50)); // the welcome's heartbeat goes there and back
        relay.last.close(1001, 'relay restarting');
      }
      await waitFor(() => relay.sockets.length === 5, 'the fifth connection');
      const delays = logs.flatMap((l) => /reconnecting in (\d+) ms/.exec(l)?.[1] ?? []).map(Number);
      expect(delays).toEqual([99, 99, 99, 99]);
    });

    it('keeps backing off when a welcomed connection never answers a heartbeat', async () => {
      const { relay, client, logs } = await setup({
        autoPong: false,
        client: { backoff: { baseMs: 100, maxMs: 60_000, random: () => 0.999 } },
      });
      for (let i = 1; i <= 3; i++) {
        await waitFor(() => relay.sockets.length === i && client.status.state === 'connected', `connection ${i}`);
        await new Promise((r) => setTimeout(r, 50));
        relay.last.close(1001, 'relay restarting');
      }
      await waitFor(() => relay.sockets.length === 4, 'the fourth connection');
      const delays = logs.flatMap((l) => /reconnecting in (\d+) ms/.exec(l)?.[1] ?? []).map(Number);
      expect(delays).toEqual([99, 199, 399]);
    });

    it('terminates and reconnects when pongs stop coming', async () => {
      const { relay, client } = await setup({ autoPong: false });
      relay.heartbeatIntervalMs = 100;
      await waitFor(() => relay.sockets.length >= 2, 'a second connection after missed heartbeats');
      expect(client.status.state).not.toBe('error');
    });
  });

  describe('sendWorkspaces', () => {
    it('sends a workspaces frame when the announcements changed, and only then', async () => {
      const { relay, client, announced } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      client.sendWorkspaces();
      announced.current = [{ ...workspace, state: 'error', reason: 'The folder is gone.' }];
      client.sendWorkspaces();
      client.sendWorkspaces();
      await waitFor(() => relay.framesOf('workspaces').length === 1, 'workspaces frame');
      await new Promise((r) => setTimeout(r, 100));
      expect(relay.framesOf('workspaces')).toEqual([{ type: 'workspaces', workspaces: announced.current }]);
    });
  });

  describe('frames from the relay', () => {
    it('ignores bad frames and keeps serving good ones', async () => {
      const { relay, client, calls, logs } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.send('not json');
      relay.send({ type: 'call', id: 'x', tool: 'rm_rf' });
      relay.send({
        type: 'welcome',
        sessionId: 's9',
        runtimes: [],
        limits: { maxFrameBytes: 1, maxInFlightPerRuntime: 1 },
        heartbeatIntervalMs: 1000,
      });
      relay.send(call('c1'));
      await waitFor(() => calls.runs.length === 1, 'the good call');
      expect(logs.filter((l) => l.includes('ignored'))).toHaveLength(3);
      expect(client.runtimes).toEqual([{ workspaceId: 'ws1', runtimeId: 'rt_ws1' }]);
      expect(client.status.state).toBe('connected');
    });

    it('runs a call, streams its progress and answers with the result', async () => {
      const { relay, client, calls } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.send(call('c1'));
      await waitFor(() => calls.runs.length === 1, 'dispatch');
      const run = calls.runs[0]!;
      expect(run.call.id).toBe('c1');
      expect(run.sink.progress({ status: 'output', chunk: 'hello' })).toBe(true);
      run.finish({ ok: true, value: { content: 'x' } });
      await waitFor(() => relay.framesOf('result').length === 1, 'result');
      expect(relay.framesOf('progress')).toEqual([{ type: 'progress', id: 'c1', status: 'output', chunk: 'hello' }]);
      expect(relay.framesOf('result')[0]).toEqual({ type: 'result', id: 'c1', ok: true, value: { content: 'x' } });
    });

    it('passes cancel on to the dispatcher', async () => {
      const { relay, client, calls } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.send({ type: 'cancel', id: 'c7' });
      await waitFor(() => calls.cancelled.length === 1, 'cancel');
      expect(calls.cancelled).toEqual(['c7']);
    });

    it('drops the result of a call whose connection is gone (the relay re-delivers it)', async () => {
      const { relay, client, calls } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.send(call('c1'));
      await waitFor(() => calls.runs.length === 1, 'dispatch');
      relay.last.terminate();
      await waitFor(() => relay.sockets.length === 2 && client.status.state === 'connected', 'reconnected');
      calls.runs[0]!.finish({ ok: true, value: 1 });
      relay.send(call('c1'));
      await waitFor(() => calls.runs.length === 2, 're-delivery');
      calls.runs[1]!.finish({ ok: true, value: 1 });
      await waitFor(() => relay.framesOf('result').length === 1, 'one result');
      await new Promise((r) => setTimeout(r, 100));
      expect(relay.framesOf('result')).toHaveLength(1);
    });
  });

  describe('flow control', () => {
    it('reports backpressure above the high watermark and resolves whenDrained once the relay reads again', async () => {
      const { relay, client, calls } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      relay.send(call('c1'));
      await waitFor(() => calls.runs.length === 1, 'dispatch');
      const { sink } = calls.runs[0]!;
      const serverSocket = (relay.last as unknown as { _socket: Duplex })._socket;
      serverSocket.pause();
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      while (sink.progress({ status: 'output', chunk })) {
        sent += chunk.length;
        // Kernel socket buffers absorb a few MiB first; past this something is wrong.
        if (sent > 256 * 1024 * 1024) throw new Error('progress never reported backpressure');
        if (sent % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
      }
      expect(sent).toBeGreaterThanOrEqual(FLOW_HIGH_WATERMARK_BYTES - chunk.length);
      let drained = false;
      const waiting = sink.whenDrained().then(() => (drained = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(drained).toBe(false);
      serverSocket.resume();
      await waiting;
      expect(drained).toBe(true);
    });
  });

  describe('setEnabled', () => {
    it('disconnects when switched off and connects again when switched on', async () => {
      const { relay, client } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      client.setEnabled(false);
      expect(client.status).toMatchObject({ state: 'disconnected', enabled: false });
      await waitFor(() => relay.last.readyState === relay.last.CLOSED, 'server side closed');
      client.setEnabled(true);
      await waitFor(() => client.status.state === 'connected' && relay.sockets.length === 2, 'connected again');
    });
  });

  describe('dispose', () => {
    it('closes the connection', async () => {
      const { relay, client } = await setup();
      await waitFor(() => client.status.state === 'connected', 'connected');
      await client.dispose();
      await waitFor(() => relay.last.readyState === relay.last.CLOSED, 'server side closed');
      expect(client.status.state).toBe('disconnected');
    });
  });
});

describe('connectUrlOf', () => {
  it.each([
    ['http://127.0.0.1:8787', 'ws://127.0.0.1:8787/v1/connect'],
    ['https://relay.example/', 'wss://relay.example/v1/connect'],
    ['https://relay.example/tether', 'wss://relay.example/tether/v1/connect'],
    ['wss://relay.example/v1/connect', 'wss://relay.example/v1/connect'],
    ['ws://localhost:1/', 'ws://localhost:1/v1/connect'],
  ])('derives the connect URL of %s', (input, expected) => {
    expect(connectUrlOf(input).href).toBe(expected);
  });

  it.each(['ftp://relay.example', 'not a url', 'https://user:pw@relay.example', 'https://relay.example/?token=tdt_x'])(
    'refuses %s',
    (input) => {
      expect(() => connectUrlOf(input)).toThrow();
    },
  );
});

describe('Backoff', () => {
  describe('next', () => {
    it('doubles the ceiling up to the cap, with full jitter, until reset', () => {
      const backoff = new Backoff({ baseMs: 500, maxMs: 30_000, random: () => 0.999999 });
      const delays = Array.from({ length: 9 }, () => backoff.next());
      expect(delays).toEqual([499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
      backoff.reset();
      expect(backoff.next()).toBe(499);
      expect(new Backoff({ random: () => 0 }).next()).toBe(0);
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, caps them, and ignores what it cannot read', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(['7'], now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(RETRY_AFTER_MAX_MS);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
  });
});
