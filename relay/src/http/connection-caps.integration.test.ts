import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, PROTOCOL_VERSION } from '@tether/shared';
import type { RelayLimits } from '../relay-limits.js';
import { FakeDesktop, refusedUpgradeStatus, testWorkspace } from '../testing/fake-desktop.js';
import { eventually, startTestRelay, type TestRelay } from '../testing/test-relay.js';

/*
 * Slow and many connections from one client: request timeouts, a refused request's connection
 * closed instead of drained, caps per address (unauthenticated ones lower) and per desktop token.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function relayWith(limits: Partial<RelayLimits>): Promise<TestRelay> {
  const t = await startTestRelay({ limits });
  cleanups.push(() => t.dispose());
  return t;
}

/** A raw TCP connection to the relay that records what it is sent and when it is closed. */
interface RawClient {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

async function rawClient(t: TestRelay): Promise<RawClient> {
  const socket = connect(t.relay.port, '127.0.0.1');
  let text = '';
  let closedFlag = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      resolve();
    }),
  );
  cleanups.push(async () => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed, isClosed: () => closedFlag };
}

/** Starts a POST whose body is announced but sent a byte at a time, every `everyMs`, until closed. */
function trickle(client: RawClient, headers: string, everyMs = 50): void {
  client.socket.write(
    `POST /v1/grants HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n${headers}\r\n`,
  );
  const timer = setInterval(() => {
    if (client.isClosed()) clearInterval(timer);
    else client.socket.write(' ');
  }, everyMs);
  cleanups.push(async () => clearInterval(timer));
}

describe('request timeouts', () => {
  it('answers a refused request with a trickled body and closes its connection at once', async () => {
    const t = await relayWith({ requestTimeoutMs: 60_000 });
    const client = await rawClient(t);
    trickle(client, '');
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 401/);
    expect(client.received().toLowerCase()).toContain('connection: close');
    const wrong = await rawClient(t);
    trickle(wrong, 'Authorization: Bearer tpk_wrongwrongwrong\r\n');
    await wrong.closed;
    expect(wrong.received()).toMatch(/^HTTP\/1\.1 401/);
  });

  it('closes a connection whose body (with a valid token) does not arrive within requestTimeoutMs', async () => {
    const t = await relayWith({ requestTimeoutMs: 1_500, headersTimeoutMs: 1_000 });
    const client = await rawClient(t);
    const started = Date.now();
    trickle(client, `Authorization: Bearer ${t.platformKey}\r\n`);
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });

  it('closes a connection that never finishes its headers within headersTimeoutMs', async () => {
    const t = await relayWith({ requestTimeoutMs: 5_000, headersTimeoutMs: 1_000 });
    const silent = await rawClient(t);
    const partial = await rawClient(t);
    partial.socket.write('GET /v1/runtimes HTTP/1.1\r\nHost: relay\r\n');
    await Promise.all([silent.closed, partial.closed]);
  });
});

describe('connection caps', () => {
  it('closes the oldest unauthenticated connections of an address past its cap; a valid key still gets in', async () => {
    const t = await relayWith({ maxUnauthenticatedConnectionsPerAddress: 5, maxConnectionsPerAddress: 100 });
    const idle: RawClient[] = [];
    for (let i = 0; i < 20; i++) idle.push(await rawClient(t));
    await eventually(
      () => idle.filter((c) => !c.isClosed()).length,
      (open) => open <= 5,
      10_000,
      'idle connections capped',
    );
    // The newest survive, the oldest went.
    expect(idle.slice(0, 15).every((c) => c.isClosed())).toBe(true);
    const counted = /limit="unauthenticated_connections_per_address"\} (\d+)/.exec(
      (await t.api('/metrics', { token: null })).body,
    );
    // 15 of the idle ones, and perhaps the metrics request's own new connection pushed out one more.
    expect(Number(counted?.[1])).toBeGreaterThanOrEqual(15);
    const list = await t.api('/v1/runtimes');
    expect(list.status).toBe(200);
    const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    cleanups.push(() => desktop.close());
    await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]);
  });

  it('closes new connections of an address holding maxConnectionsPerAddress', async () => {
    const t = await relayWith({ maxUnauthenticatedConnectionsPerAddress: 0, maxConnectionsPerAddress: 4 });
    const held: RawClient[] = [];
    for (let i = 0; i < 4; i++) held.push(await rawClient(t));
    const extra = await rawClient(t);
    await extra.closed;
    expect(extra.received()).toBe('');
    expect(held.some((c) => c.isClosed())).toBe(false);
    // Once one ends, there is room again.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await eventually(
      async () => (await t.api('/healthz', { token: null }).catch(() => ({ status: 0 }))).status,
      (status) => status === 200,
      10_000,
      'room for a new connection',
    );
  });

  it('refuses a desktop token past maxConnectionsPerDesktopToken with 429 rate_limited', async () => {
    const t = await relayWith({ maxConnectionsPerDesktopToken: 3 });
    const desktops: FakeDesktop[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      cleanups.push(() => d.close());
      desktops.push(d);
    }
    expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${t.desktopToken}`)).toBe(429);
    expect((await t.api('/metrics', { token: null })).body).toContain(
      'tether_relay_rate_limited_total{limit="connections_per_desktop_token"} 1',
    );
    // Another token of the org is not affected.
    const other = (await t.relay.admin.createToken({ org: 'acme', kind: 'desktop', name: 'other' })).token;
    const d = await FakeDesktop.connect(t.relay.wsUrl, other);
    cleanups.push(() => d.close());
    // A socket closing frees its slot.
    await desktops[0]!.close();
    await eventually(
      () =>
        FakeDesktop.connect(t.relay.wsUrl, t.desktopToken).then(
          (again) => {
            cleanups.push(() => again.close());
            return true;
          },
          () => false,
        ),
      Boolean,
      10_000,
      'a slot freed',
    );
  });
});

describe('per-org call cap', () => {
  it('refuses calls past maxInFlightCallsPerOrg with 429 busy, and counts finished calls out', async () => {
    const t = await relayWith({ maxInFlightCallsPerOrg: 2, maxInFlightPerRuntime: 10 });
    const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    cleanups.push(() => desktop.close());
    const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [
      testWorkspace('ws-1'),
      testWorkspace('ws-2'),
    ]);
    const held: string[] = [];
    desktop.onCall = (call) => void held.push(call.id);
    const call = (runtimeId: string) =>
      t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: '.' } } });
    const [a, b] = welcome.runtimes.map((r) => r.runtimeId) as [string, string];
    const first = call(a);
    const second = call(b);
    await eventually(
      () => held.length,
      (n) => n === 2,
      10_000,
      'two calls held',
    );
    const refused = await call(a);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'busy', details: { limit: 'in_flight_calls_per_org', max: 2 } });
    expect((await t.api('/metrics', { token: null })).body).toContain(
      'tether_relay_rate_limited_total{limit="in_flight_calls_per_org"} 1',
    );
    // Another org is not affected by this one's calls.
    await t.relay.admin.createOrg('other');
    const otherKey = (await t.relay.admin.createToken({ org: 'other', kind: 'platform' })).token;
    expect(
      (
        await t.api(`/v1/runtimes/${a}/calls`, {
          method: 'POST',
          token: otherKey,
          json: { tool: 'stat', args: { path: '.' } },
        })
      ).status,
    ).toBe(404);
    for (const id of held.splice(0)) desktop.succeed(id, {});
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    desktop.onCall = (c, d) => d.succeed(c.id, {});
    expect((await call(a)).status).toBe(200);
  });
});

describe('per-org runtime cap', () => {
  it('closes a desktop whose new workspaces would take the org past maxRuntimesPerOrg with 4429', async () => {
    const t = await relayWith({ maxRuntimesPerOrg: 5 });
    const hello = async (deviceId: string, count: number, token = t.desktopToken) => {
      const d = await FakeDesktop.connect(t.relay.wsUrl, token);
      cleanups.push(() => d.close());
      const workspaces = Array.from({ length: count }, (_, i) => testWorkspace(`ws-${i}`));
      d.send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        device: { deviceId, name: deviceId, os: 'linux' },
        appVersion: '1',
        workspaces,
      });
      return Promise.race([
        d.next('welcome').then(() => ({ welcomed: true, d })),
        d.closed.then((c) => ({ welcomed: false, code: c.code, d })),
      ]);
    };
    const a = await hello('dev-a', 3);
    expect(a.welcomed).toBe(true);
    const over = await hello('dev-b', 3);
    expect(over).toMatchObject({ welcomed: false, code: CLOSE_CODES.tooManyRuntimes });
    expect((await hello('dev-b', 2)).welcomed).toBe(true);
    // A device re-announcing its own workspaces is never refused.
    await a.d.close();
    expect((await hello('dev-a', 3)).welcomed).toBe(true);
    // Another org has its own count.
    await t.relay.admin.createOrg('other');
    const otherToken = (await t.relay.admin.createToken({ org: 'other', kind: 'desktop' })).token;
    expect((await hello('dev-c', 5, otherToken)).welcomed).toBe(true);
  });
});
