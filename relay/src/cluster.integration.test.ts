import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLOSE_CODES } from '@tether/shared';
import { runCli } from './cli.js';
import { BOOKKEEPING_EVERY_TICKS } from './relay-limits.js';
import { openClusterAdmin } from './relay-admin.js';
import { startRelay, type RelayHandle, type RelayOptions } from './relay-server.js';
import { FakeDesktop, FakeDeviceKey, refusedUpgradeStatus, testWorkspace } from './testing/fake-desktop.js';
import { postgresAvailable, startTestPostgres, type TestPostgres } from './testing/postgres-server.js';
import { REDIS_SERVER, startTestRedis, type TestRedis } from './testing/redis-server.js';
import { NGINX, startTestNginx } from './testing/nginx-server.js';
import { eventually, SseReader } from './testing/test-relay.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

// Real PostgreSQL and Redis from Debian's packages (.ci/run installs both); without them a
// cluster cannot be started here at all.
const canRun = REDIS_SERVER !== undefined && (await postgresAvailable());
const describeCluster = canRun ? describe : describe.skip;

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
/** Short heartbeats: a dead node's runtimes are swept within a few of them. */
const HEARTBEAT_MS = 500;
const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

describeCluster('a relay cluster on PostgreSQL and Redis', () => {
  let postgres: TestPostgres;
  let redis: TestRedis;
  let databaseUrl: string;
  let dir: string;
  const nodes: RelayHandle[] = [];
  const children: ChildProcess[] = [];
  const desktops: FakeDesktop[] = [];

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startTestPostgres(), startTestRedis()]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([postgres?.dispose(), redis?.dispose()]);
  });
  afterEach(async () => {
    await Promise.all(desktops.splice(0).map((d) => d.close()));
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh database and an empty Redis, an org with a desktop token and a platform key. */
  async function freshCluster(): Promise<{ desktopToken: string; key: string }> {
    dir = await mkdtemp(join(tmpdir(), 'tether-cluster-'));
    const name = `c_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client(postgres.url);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    databaseUrl = postgres.url.replace(/\/postgres$/, `/${name}`);
    const r = new Redis(redis.url);
    await r.flushall();
    r.disconnect();
    const relayAdmin = await openClusterAdmin(databaseUrl);
    await relayAdmin.createOrg('acme');
    const desktopToken = (await relayAdmin.createToken({ org: 'acme', kind: 'desktop' })).token;
    const key = (await relayAdmin.createToken({ org: 'acme', kind: 'platform', name: 'backend' })).token;
    await relayAdmin.close();
    return { desktopToken, key };
  }

  /** A node in this process (behind a balancer at `publicUrl`, when given). */
  async function node(extra: Partial<RelayOptions> = {}): Promise<RelayHandle> {
    const n = await startRelay({
      port: 0,
      ...extra,
      dataDir: join(dir, `unused-${nodes.length}`),
      databaseUrl,
      redisUrl: redis.url,
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    nodes.push(n);
    return n;
  }

  /** A node as its own process (`tether-relay serve` from the sources), to be killed with SIGKILL. */
  async function nodeProcess(): Promise<{ child: ChildProcess; url: string; wsUrl: string }> {
    const args = ['serve', '--port', '0', '--log-level', 'warn', '--heartbeat-interval-ms', String(HEARTBEAT_MS)];
    const script = `import(${JSON.stringify(CLI)}).then(async (m) => { const code = await m.runCli(${JSON.stringify(args)}); if (code !== 0) process.exit(code); })`;
    const child = spawn(process.execPath, ['--conditions=@tether/source', '--import', 'tsx', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TETHER_RELAY_DATABASE_URL: databaseUrl, TETHER_RELAY_REDIS_URL: redis.url },
    });
    children.push(child);
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${output}`)));
    });
    return { child, url, wsUrl: url.replace('http', 'ws') + '/v1/connect' };
  }

  async function connectDesktop(wsUrl: string, token: string, answer = true): Promise<FakeDesktop> {
    const desktop = await FakeDesktop.connect(wsUrl, token);
    desktops.push(desktop);
    if (answer) desktop.onCall = (call, d) => d.succeed(call.id, { echo: call.args });
    return desktop;
  }

  const api = (base: string, key: string, path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  it('answers a call, a cancel and an SSE stream on a node other than the one holding the desktop', async () => {
    const { desktopToken, key } = await freshCluster();
    const [a, b] = [await node(), await node()];
    const desktop = await connectDesktop(a.wsUrl, desktopToken);
    const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
    const runtimeId = welcome.runtimes[0]!.runtimeId;

    const listed = (await (await api(b.url, key, '/v1/runtimes')).json()) as {
      runtimes: Array<{ id: string; state: string }>;
    };
    expect(listed.runtimes.map((r) => [r.id, r.state])).toEqual([[runtimeId, 'running']]);

    const answered = await api(b.url, key, `/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      body: JSON.stringify({ tool: 'stat', args: { path: 'README.md' } }),
    });
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { result: unknown }).result).toEqual({ echo: { path: 'README.md' } });

    // A call the desktop holds on to, cancelled through the other node.
    desktop.onCall = null;
    const slow = api(b.url, key, `/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      body: JSON.stringify({ tool: 'stat', args: { path: 'slow' }, idempotencyKey: 'slow-1' }),
    });
    const call = await desktop.next('call', (c) => (c.args as { path: string }).path === 'slow');
    const cancel = await api(a.url, key, `/v1/runtimes/${runtimeId}/calls/${call.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBeLessThan(300);
    await desktop.next('cancel', (c) => c.id === call.id);
    expect((await slow).status).toBe(409);

    // State events of a desktop held by node A, on a stream served by node B.
    const events = await SseReader.open(`${b.url}/v1/runtimes/${runtimeId}/events`, key);
    await desktop.close();
    await eventually(
      () => events.events.filter((e) => e.event === 'state').map((e) => e.data.state as string),
      (states) => states.includes('stopped'),
      10_000,
      'a stopped event on the other node',
    );
    await events.close();
  });

  it('tells an MCP listen stream on one node of file changes from a desktop held by another', async () => {
    const { desktopToken, key } = await freshCluster();
    const [a, b] = [await node(), await node()];
    const desktop = await connectDesktop(a.wsUrl, desktopToken);
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    const client = new Client(
      { name: 'cluster-listen', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${b.url}/v1/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    try {
      const updated: string[] = [];
      client.setNotificationHandler('notifications/resources/updated', (n) => void updated.push(n.params.uri));
      const uri = `tether://${runtimeId}/src/main.ts`;
      const sub = await client.listen({ resourceSubscriptions: [uri] });
      desktop.send({
        type: 'event',
        events: [
          { kind: 'files', workspaceId: 'ws-1', changes: [{ path: 'src/main.ts', change: 'change' }], dropped: 0 },
        ],
      });
      await eventually(
        () => updated,
        (u) => u.length > 0,
        10_000,
        'notifications/resources/updated on the other node',
      );
      expect(updated).toEqual([uri]);
      await sub.close();
    } finally {
      await client.close();
    }
  });

  it('stops an MCP call on one node when its notifications/cancelled lands on another', async () => {
    const { desktopToken, key } = await freshCluster();
    const [a, b] = [await node(), await node()];
    const desktop = await connectDesktop(a.wsUrl, desktopToken, false);
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    const post = (base: string, body: unknown) =>
      fetch(`${base}/v1/runtimes/${runtimeId}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify(body),
      });
    const answer = post(a.url, {
      jsonrpc: '2.0',
      id: 'x-1',
      method: 'tools/call',
      params: { name: 'stat', arguments: { path: 'slow' } },
    });
    const call = await desktop.next('call', (c) => (c.args as { path: string }).path === 'slow');
    const cancel = await post(b.url, {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 'x-1' },
    });
    expect(cancel.status).toBe(202);
    await desktop.next('cancel', (c) => c.id === call.id);
    const text = await (await answer).text();
    expect(text).not.toMatch(/"result"|"id":"x-1"/);
  });

  it('serves an MCP task on a node that did not start it: running, then its result from the desktop, and its cancel', async () => {
    const { desktopToken, key } = await freshCluster();
    // B starts the calls and holds their rows unflushed for a minute unless a task writes them at once.
    const [a, b] = [await node(), await node({ callLogFlushMs: 60_000 })];
    const desktop = await connectDesktop(a.wsUrl, desktopToken, false);
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    let nextId = 0;
    const rpc = async (base: string, method: string, params: Record<string, unknown>) => {
      const name = method === 'tools/call' ? params.name : params.taskId;
      const res = await fetch(`${base}/v1/runtimes/${runtimeId}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': method,
          'mcp-name': String(name),
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: ++nextId,
          method,
          params: {
            ...params,
            _meta: {
              'io.modelcontextprotocol/protocolVersion': '2026-07-28',
              'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
              'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
            },
          },
        }),
      });
      return (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string } };
    };
    const created = await rpc(b.url, 'tools/call', { name: 'run_command', arguments: { command: 'make' } });
    const taskId = created.result!.taskId as string;
    const call = await desktop.next('call');
    expect(taskId).toBe(`${runtimeId}.${call.id}`);

    // On A, which never saw the call: the call log (written before the task was answered) lets
    // it ask the desktop's node, which knows the call runs there (the desktop is not asked).
    expect((await rpc(a.url, 'tasks/get', { taskId })).result).toMatchObject({
      taskId,
      status: 'working',
      createdAt: created.result!.createdAt,
    });
    expect(desktop.frames.some((f) => f.type === 'lookup')).toBe(false);

    // The call ends (B gets its result); A asks the desktop again and gets the result it keeps.
    const value = { exitCode: 0, signal: null, output: 'built\n', truncated: false, durationMs: 5, timedOut: false };
    desktop.succeed(call.id, value);
    const finished = rpc(a.url, 'tasks/get', { taskId });
    await desktop.next('lookup', (l) => l.id === call.id);
    desktop.succeed(call.id, value);
    expect((await finished).result).toMatchObject({
      taskId,
      status: 'completed',
      result: { resultType: 'complete', structuredContent: value },
    });

    // A cancel on A of a task B waits on reaches the desktop through B.
    const second = await rpc(b.url, 'tools/call', { name: 'run_command', arguments: { command: 'sleep 60' } });
    const secondCall = await desktop.next('call', (c) => c.id !== call.id);
    const ack = await rpc(a.url, 'tasks/cancel', { taskId: second.result!.taskId as string });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    await desktop.next('cancel', (c) => c.id === secondCall.id);
    // The desktop keeps what became of it, and says so when asked.
    const after = rpc(b.url, 'tasks/get', { taskId: second.result!.taskId as string });
    await desktop.next('lookup', (l) => l.id === secondCall.id);
    desktop.send({
      type: 'result',
      id: secondCall.id,
      ok: false,
      error: { code: 'cancelled', message: 'cancelled by the platform' },
    });
    expect((await after).result).toMatchObject({ status: 'cancelled' });
  });

  it('moves the desktops of a node killed with SIGKILL to another, re-delivering its call once, and stops the runtimes no one took back', async () => {
    const { desktopToken, key } = await freshCluster();
    const doomed = await nodeProcess();
    const survivor = await node();
    const moving = await connectDesktop(doomed.wsUrl, desktopToken, false);
    const [movingRuntime] = (await moving.hello(device, [testWorkspace('ws-1')])).runtimes;
    const orphan = await connectDesktop(doomed.wsUrl, desktopToken);
    const [orphanRuntime] = (
      await orphan.hello({ deviceId: 'dev-2', name: 'Other', os: 'linux' }, [testWorkspace('ws-2')])
    ).runtimes;

    // A call taken by the survivor, delivered to the desktop through the doomed node.
    const pending = api(survivor.url, key, `/v1/runtimes/${movingRuntime!.runtimeId}/calls`, {
      method: 'POST',
      body: JSON.stringify({ tool: 'stat', args: { path: 'in-flight' } }),
    });
    const first = await moving.next('call');
    doomed.child.kill('SIGKILL');
    await Promise.all([moving.closed, orphan.closed]);

    // The desktop reconnects (through the balancer) to the survivor: same runtime, running again,
    // and the call it had not answered comes again with the same id (its journal keeps it once).
    const back = await connectDesktop(survivor.wsUrl, desktopToken, false);
    const welcome = await back.hello(device, [testWorkspace('ws-1')]);
    expect(welcome.runtimes[0]!.runtimeId).toBe(movingRuntime!.runtimeId);
    const again = await back.next('call');
    expect(again.id).toBe(first.id);
    back.succeed(again.id, { done: true });
    const result = await pending;
    expect(result.status).toBe(200);
    expect(((await result.json()) as { result: unknown }).result).toEqual({ done: true });

    // The desktop that never came back: its runtime is stopped once its presence lapsed and the
    // sweep saw it unrefreshed, within seconds.
    const orphanState = await eventually(
      async () =>
        ((await (await api(survivor.url, key, `/v1/runtimes/${orphanRuntime!.runtimeId}`)).json()) as { state: string })
          .state,
      (state) => state === 'stopped',
      20_000,
      'the orphaned runtime stopped',
    );
    expect(orphanState).toBe('stopped');
    const moved = (await (await api(survivor.url, key, `/v1/runtimes/${movingRuntime!.runtimeId}`)).json()) as {
      state: string;
    };
    expect(moved.state).toBe('running');
  }, 60_000);

  it('authorizes an MCP client with OAuth across nodes: consent, code, refresh and revocation each on another node', async () => {
    const { desktopToken, key } = await freshCluster();
    // One public URL for the cluster (the balancer's), as the issuer and resource of every node.
    const publicUrl = 'https://relay.example';
    const [a, b] = [await node({ publicUrl }), await node({ publicUrl })];
    const form = (n: RelayHandle, path: string, fields: Record<string, string>) =>
      fetch(`${n.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
    // The desktop is held by node B; the MCP client starts on node A.
    const desktop = await connectDesktop(b.wsUrl, desktopToken);
    const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
    const runtimeId = welcome.runtimes[0]!.runtimeId;
    const redirectUri = 'http://127.0.0.1:9/cb';
    const registered = await fetch(`${a.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Claude', redirect_uris: [redirectUri] }),
    });
    expect(registered.status).toBe(201);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;

    /** Authorize on node A, consent on the desktop (node B), collect the code on node B. */
    async function approvedCode(): Promise<{ code: string; verifier: string }> {
      const verifier = randomBytes(32).toString('base64url');
      const authorize = await form(a, '/oauth/authorize', {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        resource: `${publicUrl}/v1/mcp`,
        org: 'acme',
      });
      expect(authorize.status).toBe(303);
      const status = new URL(authorize.headers.get('location')!, publicUrl);
      const cookie = authorize.headers.get('set-cookie')!.split(';')[0]!;
      const { consent } = await desktop.next('oauth_consent');
      desktop.send({
        type: 'oauth_answer',
        requestId: consent.requestId,
        shortCode: consent.shortCode,
        approve: true,
        categories: ['read'],
        workspaceIds: ['ws-1'],
        ttlSeconds: 600,
      });
      await desktop.next('oauth_consent_closed', (f) => f.requestId === consent.requestId);
      const back = await fetch(`${b.url}${status.pathname}${status.search}`, {
        headers: { cookie },
        redirect: 'manual',
      });
      expect(back.status).toBe(302);
      return { code: new URL(back.headers.get('location')!).searchParams.get('code')!, verifier };
    }
    const exchange = (n: RelayHandle, c: { code: string; verifier: string }) =>
      form(n, '/oauth/token', {
        grant_type: 'authorization_code',
        code: c.code,
        code_verifier: c.verifier,
        client_id: clientId,
        redirect_uri: redirectUri,
      });
    const refresh = (n: RelayHandle, refreshToken: string) =>
      form(n, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
    const runtimes = async (n: RelayHandle, token: string) => {
      const res = await api(n.url, token, '/v1/runtimes');
      return res.status === 200
        ? ((await res.json()) as { runtimes: Array<{ id: string }> }).runtimes.map((r) => r.id)
        : res.status;
    };
    type Tokens = { access_token: string; refresh_token: string };

    // Code on node A, token used on node B, rotated on node B, used on node A.
    const tokens = (await (await exchange(a, await approvedCode())).json()) as Tokens;
    expect(await runtimes(b, tokens.access_token)).toEqual([runtimeId]);
    const rotated = await refresh(b, tokens.refresh_token);
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as Tokens;
    expect(await runtimes(a, second.access_token)).toEqual([runtimeId]);
    // The retired refresh token again, on node A: reuse, which revokes the family on every node.
    expect((await refresh(a, tokens.refresh_token)).status).toBe(400);
    await desktop.next('oauth_authorizations', (f) => f.authorizations.length === 0);
    for (const n of [a, b]) expect(await runtimes(n, second.access_token)).toBe(401);

    // One code redeemed on both nodes at once: exactly one gets tokens (and the replay revokes them).
    const code = await approvedCode();
    const redeemed = await Promise.all([exchange(a, code), exchange(b, code)]);
    expect(redeemed.map((r) => r.status).sort()).toEqual([200, 400]);
    const raced = (await redeemed.find((r) => r.status === 200)!.json()) as Tokens;
    await eventually(
      () => runtimes(a, raced.access_token),
      (r) => r === 401,
      10_000,
      'the replayed code revokes its tokens',
    );
    // And one refresh token used on both nodes at once: never two rotations. The loser counts as a
    // reuse and revokes the whole authorization, which can land before the winner has issued its
    // tokens, so the winner may be refused too ([400, 400]); what must never happen is two 200s.
    const fresh = (await (await exchange(b, await approvedCode())).json()) as Tokens;
    const rotations = await Promise.all([refresh(a, fresh.refresh_token), refresh(b, fresh.refresh_token)]);
    const statuses = rotations.map((r) => r.status).sort();
    expect([
      [200, 400],
      [400, 400],
    ]).toContainEqual(statuses);
    const winner = rotations.find((r) => r.status === 200);
    if (winner) {
      const rotatedRace = (await winner.json()) as Tokens;
      await eventually(
        () => runtimes(b, rotatedRace.access_token),
        (r) => r === 401,
        10_000,
        'the raced refresh revokes the family',
      );
    }

    // An approved client revoked through node A's API, its token trusted from node B's cache: refused on B at once.
    // (The raced refresh above counted as a reuse, which revoked that family: a new approval.)
    const live = (await (await exchange(b, await approvedCode())).json()) as Tokens;
    expect(await runtimes(b, live.access_token)).toEqual([runtimeId]);
    const clients = async () =>
      ((await (await api(a.url, key, '/v1/oauth/clients')).json()) as { clients: Array<{ id: string }> }).clients;
    const [approved] = await clients();
    const revoked = await api(a.url, key, `/v1/oauth/clients/${approved!.id}/revoke`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    expect(await runtimes(b, live.access_token)).toBe(401);
    // The same through the CLI with the cluster's Redis: every node at once, and the desktop is told.
    const another = (await (await exchange(a, await approvedCode())).json()) as Tokens;
    expect([await runtimes(a, another.access_token), await runtimes(b, another.access_token)]).toEqual([
      [runtimeId],
      [runtimeId],
    ]);
    const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const [client] = await clients();
      expect(
        await runCli(['oauth', 'revoke', client!.id, '--database-url', databaseUrl, '--redis-url', redis.url]),
      ).toBe(0);
    } finally {
      out.mockRestore();
    }
    expect([await runtimes(a, another.access_token), await runtimes(b, another.access_token)]).toEqual([401, 401]);
    await desktop.next('oauth_authorizations', (f) => f.authorizations.length === 0);
  }, 60_000);

  it('reports not ready while PostgreSQL is down, and ready again once it is back', async () => {
    const { key } = await freshCluster();
    const a = await node();
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    await postgres.stop();
    try {
      const down = await fetch(`${a.url}/readyz`);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    } finally {
      await postgres.start();
    }
    await eventually(
      async () => (await fetch(`${a.url}/readyz`)).status,
      (s) => s === 200,
      20_000,
    );
    expect((await api(a.url, key, '/v1/runtimes')).status).toBe(200);
  }, 60_000);

  it("holds a key's rate limit, an address's failed-auth budget and a desktop token's connection cap over both nodes", async () => {
    const { desktopToken, key } = await freshCluster();
    const limits = {
      credentialRequestsPerWindow: 6,
      credentialWindowMs: 60_000,
      authFailuresPerWindow: 4,
      authFailureWindowMs: 60_000,
      maxConnectionsPerDesktopToken: 2,
    };
    const [a, b] = [await node({ limits }), await node({ limits })];
    const status = async (n: RelayHandle, token: string) => (await api(n.url, token, '/v1/runtimes')).status;

    // Six requests of one key split over the nodes use its one budget (each node alone would allow six).
    expect(await Promise.all([a, b, a, b, a, b].map((n) => status(n, key)))).toEqual([200, 200, 200, 200, 200, 200]);
    for (const n of [a, b]) {
      const refused = await api(n.url, key, '/v1/runtimes');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
      expect(((await refused.json()) as { error: { details: { limit: string } } }).error.details.limit).toBe(
        'credential',
      );
    }

    // Refused tokens from one address count on both nodes together (a desktop upgrade too)...
    const otherKey = (await (async () => {
      const admin = await openClusterAdmin(databaseUrl);
      try {
        return (await admin.createToken({ org: 'acme', kind: 'platform', name: 'other' })).token;
      } finally {
        await admin.close();
      }
    })()) as string;
    expect([await status(a, 'tk_wrong1'), await status(b, 'tk_wrong2'), await status(a, 'tk_wrong3')]).toEqual([
      401, 401, 401,
    ]);
    expect(await refusedUpgradeStatus(b.wsUrl, 'Bearer tk_wrong4')).toBe(401);
    expect(await status(b, 'tk_wrong5')).toBe(429);
    expect(await status(a, 'tk_wrong6')).toBe(429);
    expect(await refusedUpgradeStatus(a.wsUrl, 'Bearer tk_wrong7')).toBe(429);
    // ...while a valid credential from the same address still passes on both.
    expect([await status(a, otherKey), await status(b, otherKey)]).toEqual([200, 200]);

    // Two desktops of one token, one per node: a third is refused on either node.
    const first = await connectDesktop(a.wsUrl, desktopToken);
    const second = await connectDesktop(b.wsUrl, desktopToken);
    expect(await refusedUpgradeStatus(a.wsUrl, `Bearer ${desktopToken}`)).toBe(429);
    expect(await refusedUpgradeStatus(b.wsUrl, `Bearer ${desktopToken}`)).toBe(429);
    // One closes on node B: its slot is free for a desktop on node A.
    await second.close();
    await eventually(
      async () => {
        try {
          await connectDesktop(a.wsUrl, desktopToken);
          return true;
        } catch {
          return false;
        }
      },
      (ok) => ok,
      5_000,
      'a slot freed on the other node',
    );
    expect(first).toBeDefined();
  }, 30_000);

  it('drops a revoked token, an archived or removed runtime and a replaced device on every node at once', async () => {
    const { desktopToken, key } = await freshCluster();
    const admin = await openClusterAdmin(databaseUrl);
    const other = await admin.createToken({ org: 'acme', kind: 'platform', name: 'revoked on node A' });
    const third = await admin.createToken({ org: 'acme', kind: 'platform', name: 'revoked by the CLI' });
    const secondDesktop = await admin.createToken({ org: 'acme', kind: 'desktop', name: 'revoked by the CLI' });
    await admin.close();
    const [a, b] = [await node(), await node()];
    const status = async (n: RelayHandle, token: string) => (await api(n.url, token, '/v1/runtimes')).status;
    const desktop = await connectDesktop(b.wsUrl, desktopToken);
    const runtimes = (
      await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2'), testWorkspace('ws-3')])
    ).runtimes;
    const [rt1, rt2, rt3] = runtimes.map((r) => r.runtimeId) as [string, string, string];
    const call = (n: RelayHandle, runtimeId: string) =>
      api(n.url, key, `/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        body: JSON.stringify({ tool: 'stat', args: { path: 'README.md' } }),
      });
    const errorCode = async (res: Response) => ((await res.json()) as { error?: { code: string } }).error?.code;
    const within = <T>(read: () => Promise<T>, want: T) =>
      eventually(read, (v) => JSON.stringify(v) === JSON.stringify(want), 1_000, `reaching ${JSON.stringify(want)}`);

    // A key trusted from node B's cache, and a grant it minted, revoked through node A: refused on B at once.
    const grant = (await (
      await api(b.url, other.token, '/v1/grants', {
        method: 'POST',
        body: JSON.stringify({ runtimeIds: [rt1], ttlSeconds: 600, label: 'agent' }),
      })
    ).json()) as { token: string };
    expect([await status(b, other.token), await status(b, grant.token)]).toEqual([200, 200]);
    expect(await a.admin.revokeToken(other.id)).toBe(true);
    // The news crosses Redis pub/sub, so "at once" is "within a second", not before the next line.
    await within(async () => [await status(b, other.token), await status(b, grant.token)], [401, 401]);

    // The CLI (another process) with the cluster's Redis: a platform key and a desktop token, at once on every node.
    const cliDesktop = await connectDesktop(a.wsUrl, secondDesktop.token);
    await cliDesktop.hello({ deviceId: 'dev-cli', name: 'Other', os: 'linux' }, [testWorkspace('ws-9')]);
    expect([await status(a, third.token), await status(b, third.token)]).toEqual([200, 200]);
    const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const cli = (id: string) =>
        runCli(['token', 'revoke', id, '--database-url', databaseUrl, '--redis-url', redis.url]);
      expect(await cli(third.id)).toBe(0);
      await within(async () => [await status(a, third.token), await status(b, third.token)], [401, 401]);
      const revokedAt = Date.now();
      expect(await cli(secondDesktop.id)).toBe(0);
      // Closed at once, not at the next bookkeeping round of its node.
      expect((await cliDesktop.closed).code).toBe(CLOSE_CODES.unauthorized);
      expect(Date.now() - revokedAt).toBeLessThan(BOOKKEEPING_EVERY_TICKS * HEARTBEAT_MS);
    } finally {
      out.mockRestore();
    }

    // A runtime node A has just called (and cached), archived through node B: refused on A at once.
    expect((await call(a, rt1)).status).toBe(200);
    expect((await api(b.url, key, `/v1/runtimes/${rt1}/archive`, { method: 'POST' })).status).toBe(200);
    await within(async () => errorCode(await call(a, rt1)), 'runtime_archived');
    // A workspace the desktop (on node B) no longer announces: refused on node A at once.
    expect((await call(a, rt2)).status).toBe(200);
    desktop.send({ type: 'workspaces', workspaces: [testWorkspace('ws-1'), testWorkspace('ws-3')] });
    await eventually(
      async () => ((await (await api(b.url, key, `/v1/runtimes/${rt2}`)).json()) as { state: string }).state,
      (state) => state === 'archived',
      5_000,
      'the removed workspace archived',
    );
    expect(await errorCode(await call(a, rt2))).toBe('runtime_archived');

    // The same device connecting to node A replaces its session on node B, and calls go to the new one.
    expect((await call(a, rt3)).status).toBe(200);
    const replacement = await connectDesktop(a.wsUrl, desktopToken, false);
    await replacement.hello(device, [testWorkspace('ws-3')]);
    expect((await desktop.closed).code).toBe(CLOSE_CODES.replaced);
    replacement.onCall = (c, d) => d.succeed(c.id, { from: 'replacement' });
    const answered = await call(b, rt3);
    // (The replaced session on node B must not write `stopped` over the newer session's `running`.)
    expect(((await answered.json()) as { result: unknown }).result).toEqual({ from: 'replacement' });

    // A re-installed desktop (a new device key) is refused on node B until the admin forgets the
    // device's key through node A; then it binds on node B at once.
    await replacement.close();
    const reinstalled = new FakeDeviceKey();
    const refusedHello = await connectDesktop(b.wsUrl, desktopToken, false);
    await refusedHello.sendHello(device, [testWorkspace('ws-3')], { key: reinstalled });
    expect((await refusedHello.closed).code).toBe(CLOSE_CODES.deviceKeyRefused);
    expect(await a.admin.forgetDeviceKey('acme', device.deviceId)).toBe(true);
    const rebound = await connectDesktop(b.wsUrl, desktopToken);
    expect((await rebound.hello(device, [testWorkspace('ws-3')], { key: reinstalled })).runtimes[0]!.runtimeId).toBe(
      rt3,
    );
  }, 30_000);

  it('goes not ready while Redis is down, keeps serving valid keys, and routes calls and events again once Redis restarts empty', async () => {
    const { desktopToken, key } = await freshCluster();
    const [a, b] = [await node(), await node()];
    const desktop = await connectDesktop(a.wsUrl, desktopToken);
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2')])).runtimes[0]!
      .runtimeId;
    const call = () =>
      api(b.url, key, `/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        body: JSON.stringify({ tool: 'stat', args: { path: 'README.md' } }),
      });
    expect((await call()).status).toBe(200);
    const events = await SseReader.open(`${b.url}/v1/runtimes/${runtimeId}/events`, key);
    const readiness = () => Promise.all([a, b].map(async (n) => (await fetch(`${n.url}/readyz`)).status));

    await redis.kill();
    let restarted = false;
    try {
      await eventually(readiness, (s) => s.every((x) => x === 503), 5_000, 'both nodes not ready');
      // The database still answers: a valid key is served (its rate limit counted on the node meanwhile).
      expect((await api(a.url, key, '/v1/runtimes')).status).toBe(200);
      expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^tether_relay_limit_fallbacks_total [1-9]/m);
      await redis.start();
      restarted = true;
    } finally {
      if (!restarted) await redis.start();
    }
    await eventually(readiness, (s) => s.every((x) => x === 200), 15_000, 'both nodes ready again');
    // Redis came back empty: node A announced its desktop's runtimes again, so node B routes to it.
    const routed = await eventually(
      async () => (await call()).status,
      (status) => status === 200,
      10_000,
      'a call routed after the restart',
    );
    expect(routed).toBe(200);
    // The stream opened before the outage gets events again (node B subscribed anew).
    await desktop.close();
    await eventually(
      () => events.events.filter((e) => e.event === 'state').map((e) => e.data.state as string),
      (states) => states.includes('stopped'),
      10_000,
      'a state event after the restart',
    );
    await events.close();
  }, 45_000);

  it("keeps orgs apart across nodes: org A's key cannot see, call, cancel, stream or grant org B's runtime held on the other node", async () => {
    const { key: keyA } = await freshCluster();
    const admin = await openClusterAdmin(databaseUrl);
    await admin.createOrg('globex');
    const desktopB = (await admin.createToken({ org: 'globex', kind: 'desktop' })).token;
    const keyB = (await admin.createToken({ org: 'globex', kind: 'platform' })).token;
    await admin.close();
    const [a, b] = [await node(), await node()];
    const theirs = await connectDesktop(b.wsUrl, desktopB, false);
    const runtimeB = (await theirs.hello({ deviceId: 'dev-b', name: 'Theirs', os: 'linux' }, [testWorkspace('ws-b')]))
      .runtimes[0]!.runtimeId;
    const unknown = 'rt_000000000000000000000000';
    const same = async (path: string, init: RequestInit = {}) => {
      const [their, none] = await Promise.all([
        api(a.url, keyA, `/v1/runtimes/${runtimeB}${path}`, init),
        api(a.url, keyA, `/v1/runtimes/${unknown}${path}`, init),
      ]);
      expect(their.status, path).toBe(404);
      expect(((await their.json()) as { error: { code: string } }).error.code, path).toBe(
        ((await none.json()) as { error: { code: string } }).error.code,
      );
    };
    const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
    await same('');
    await same('/capabilities');
    await same('/calls', post({ tool: 'stat', args: { path: 'secret' } }));
    await same('/archive', post({}));
    await same('/events');
    expect(((await (await api(a.url, keyA, '/v1/runtimes')).json()) as { runtimes: unknown[] }).runtimes).toEqual([]);
    const grant = await api(a.url, keyA, '/v1/grants', post({ runtimeIds: [runtimeB], ttlSeconds: 600, label: 'x' }));
    expect(grant.status).toBe(404);

    // A call of org B in flight on node B: org A cannot cancel it through node A, nor read it.
    const pending = api(a.url, keyB, `/v1/runtimes/${runtimeB}/calls`, post({ tool: 'stat', args: { path: 'slow' } }));
    const call = await theirs.next('call');
    await same(`/calls/${call.id}/cancel`, post({}));
    await same(`/calls/${call.id}`);
    expect(theirs.frames.some((f) => f.type === 'cancel')).toBe(false);
    theirs.succeed(call.id, { secret: 'of org B' });
    expect((await pending).status).toBe(200);
    // And nothing of org B's runtime was changed by org A's attempts.
    const state = (await (await api(b.url, keyB, `/v1/runtimes/${runtimeB}`)).json()) as { state: string };
    expect(state.state).toBe('running');
  }, 30_000);

  it.skipIf(NGINX === undefined)(
    'runs three nodes behind nginx with docs/nginx-cluster.conf: desktops spread over the nodes, calls and SSE reach them through any node',
    async () => {
      const { desktopToken, key } = await freshCluster();
      const trio = [
        await node({ trustProxy: ['loopback'] }),
        await node({ trustProxy: ['loopback'] }),
        await node({ trustProxy: ['loopback'] }),
      ];
      const example = await readFile(new URL('../../docs/nginx-cluster.conf', import.meta.url), 'utf8');
      const nginx = await startTestNginx((listen) => {
        let port = 8787;
        const site = example
          .replace(/server 127\.0\.0\.1:(\d+)/g, () => `server 127.0.0.1:${trio[port++ - 8787]!.port}`)
          .replace(/listen 443 ssl;/, `listen ${listen};`)
          .replace(/^\s*ssl_certificate.*$/gm, '');
        expect(port).toBe(8790);
        return site;
      }, 'tcp');
      try {
        const proxy = nginx.url!;
        const wsUrl = `${proxy.replace('http', 'ws')}/v1/connect`;
        // Three desktops through nginx: least_conn puts them on different nodes.
        const runtimeIds: string[] = [];
        for (const n of [1, 2, 3]) {
          const desktop = await connectDesktop(wsUrl, desktopToken, false);
          desktop.onCall = (call, d) => d.succeed(call.id, { desktop: n });
          const welcome = await desktop.hello({ deviceId: `dev-${n}`, name: `Desktop ${n}`, os: 'linux' }, [
            testWorkspace(`ws-${n}`),
          ]);
          runtimeIds.push(welcome.runtimes[0]!.runtimeId);
        }
        const metric = async (n: RelayHandle, pattern: RegExp) => {
          const text = await (await fetch(`${n.url}/metrics`)).text();
          return text
            .split('\n')
            .filter((line) => pattern.test(line))
            .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
        };
        const held = await Promise.all(trio.map((n) => metric(n, /^tether_relay_desktop_connections /)));
        expect(held.reduce((a, b) => a + b, 0)).toBe(3);
        expect(held.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);

        // Four calls to each desktop through nginx: each reaches its desktop whichever node took it.
        for (const [i, runtimeId] of runtimeIds.entries())
          for (let round = 0; round < 4; round++) {
            const res = await api(proxy, key, `/v1/runtimes/${runtimeId}/calls`, {
              method: 'POST',
              body: JSON.stringify({ tool: 'stat', args: { path: 'README.md' } }),
            });
            expect(res.status).toBe(200);
            expect(((await res.json()) as { result: unknown }).result).toEqual({ desktop: i + 1 });
          }
        const answered = await Promise.all(
          trio.map((n) =>
            metric(n, /^tether_relay_http_requests_total\{.*route="\/v1\/runtimes\/:id\/calls".*status="200"/),
          ),
        );
        expect(answered.reduce((a, b) => a + b, 0)).toBe(12);
        expect(answered.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);

        // A call streamed as SSE through nginx, and a runtime's events stream through nginx.
        const streamed = await SseReader.open(`${proxy}/v1/runtimes/${runtimeIds[0]}/calls`, key, {
          method: 'POST',
          json: { tool: 'stat', args: { path: 'README.md' } },
        });
        expect((await streamed.next('result')).data.result).toEqual({ desktop: 1 });
        // The stream ends with the call, through nginx too.
        await streamed.done;
        const events = await SseReader.open(`${proxy}/v1/runtimes/${runtimeIds[1]}/events`, key);
        await desktops[1]!.close();
        await eventually(
          () => events.events.filter((e) => e.event === 'state').map((e) => e.data.state as string),
          (states) => states.includes('stopped'),
          10_000,
          'a stopped event through nginx',
        );
        await events.close();
      } finally {
        await nginx.dispose();
      }
    },
    30_000,
  );
});
