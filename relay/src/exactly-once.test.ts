import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@tether/shared';
import { SqliteStore } from './store/sqlite-store.js';
import { FakeDesktop, testWorkspace } from './testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from './testing/test-relay.js';

/*
 * Exactly once for as long as a caller may retry: across relay restarts (graceful or not), past
 * the idempotency window, and for desktops whose heartbeat is late.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connect(t: TestRelay, options: { autoPong?: boolean } = {}) {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken, options);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
  return { desktop, runtimeId: welcome.runtimes[0]!.runtimeId };
}

/** A relay restarted on the data dir of `first`, with its tokens. */
async function restart(first: TestRelay, options: Parameters<typeof startTestRelay>[0] = {}): Promise<TestRelay> {
  const second = await startTestRelay(options, first.dataDir);
  second.desktopToken = first.desktopToken;
  second.platformKey = first.platformKey;
  cleanups.push(() => second.dispose());
  return second;
}

async function fresh(options: Parameters<typeof startTestRelay>[0] = {}): Promise<TestRelay> {
  const t = await startTestRelay(options);
  const dataDir = t.dataDir;
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  return t;
}

describe('relay shutdown', () => {
  it('answers a call still running at the end of the grace period with unavailable and its call id, without cancelling it on the desktop', async () => {
    const t = await fresh({ shutdownGraceMs: 200 });
    const { desktop, runtimeId } = await connect(t);
    const pending = t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'run_command', args: { command: 'make release' }, idempotencyKey: 'release-1' },
    });
    const call = await desktop.next('call');
    await t.relay.close();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: { code: 'unavailable' }, callId: call.id });
    expect((await desktop.closed).code).toBe(CLOSE_CODES.goingAway);
    expect(desktop.frames.filter((f) => f.type === 'cancel')).toEqual([]);
  });

  it('after the restart, a GET of the call asks the desktop and answers running, then the result; a retry gets it too', async () => {
    const t = await fresh({ shutdownGraceMs: 100 });
    const { desktop, runtimeId } = await connect(t);
    const first = t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'run_command', args: { command: 'make release' }, idempotencyKey: 'release-2' },
    });
    const call = await desktop.next('call');
    expect(call.firstAt).toBeUndefined(); // a first attempt
    await t.relay.close();
    expect((await first).status).toBe(503);

    const second = await restart(t);
    const again = await FakeDesktop.connect(second.relay.wsUrl, second.desktopToken);
    cleanups.push(() => again.close());
    await again.hello(device, [testWorkspace('ws-1')]);
    const path = `/v1/runtimes/${runtimeId}/calls/${call.id}`;

    // Still running on the desktop: it says so at once.
    const asking = second.api(path);
    const lookup = await again.next('lookup');
    expect(lookup).toMatchObject({ id: call.id, runtimeId, workspaceId: 'ws-1' });
    again.send({ type: 'progress', id: call.id, status: 'running' });
    const running = await asking;
    expect(running.status).toBe(202);
    expect(running.body).toEqual({ callId: call.id, status: 'running' });

    // Waiting for it: the desktop's result when the command ends (the desktop was asked already,
    // and answers that lookup when the call ends: it is not asked twice).
    const waiting = second.api(`${path}?waitMs=10000`);
    await new Promise((r) => setTimeout(r, 100));
    expect(again.frames.filter((f) => f.type === 'lookup')).toHaveLength(1);
    again.succeed(call.id, { exitCode: 0, output: 'released' });
    const done = await waiting;
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ callId: call.id, result: { exitCode: 0, output: 'released' } });

    // The retry goes to the desktop under the same id, with the first attempt's time.
    const retry = second.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'run_command', args: { command: 'make release' }, idempotencyKey: 'release-2' },
    });
    const redelivered = await again.next('call');
    expect(redelivered.id).toBe(call.id);
    expect(redelivered.firstAt).toBeGreaterThan(Date.now() - 60_000);
    expect(redelivered.firstAt).toBeLessThanOrEqual(Date.now());
    again.succeed(call.id, { exitCode: 0, output: 'released' });
    expect((await retry).body.result).toEqual({ exitCode: 0, output: 'released' });
  });

  it('answers a GET with what the desktop answers for a call it keeps nothing of, and 404 for calls the log does not know', async () => {
    const t = await fresh();
    const { desktop, runtimeId } = await connect(t);
    desktop.onCall = (c, d) => d.succeed(c.id, 'read');
    const read = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'stat', args: { path: 'a' } },
    });
    desktop.onCall = null;
    const asking = t.api(`/v1/runtimes/${runtimeId}/calls/${read.body.callId}`);
    const lookup = await desktop.next('lookup');
    desktop.send({
      type: 'result',
      id: lookup.id,
      ok: false,
      error: { code: 'not_found', message: 'This desktop keeps nothing of that call.' },
    });
    expect((await asking).status).toBe(404);
    const unknown = await t.api(`/v1/runtimes/${runtimeId}/calls/call_nosuchcall`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'not_found', message: 'no such call' });
    expect((await t.api(`/v1/runtimes/${runtimeId}/calls/x?waitMs=-1`)).status).toBe(400);
    expect(desktop.frames.filter((f) => f.type === 'lookup')).toHaveLength(1);
  });

  it('answers a GET of a call of another org, or of another grant, exactly as one that does not exist', async () => {
    const t = await fresh();
    const { desktop, runtimeId } = await connect(t);
    desktop.onCall = (c, d) => d.succeed(c.id, 'done');
    const made = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'stat', args: { path: 'a' } },
    });
    const callId = made.body.callId as string;
    await t.relay.admin.createOrg('other');
    const otherKey = (await t.relay.admin.createToken({ org: 'other', kind: 'platform' })).token;
    const grant = await t.api('/v1/grants', {
      method: 'POST',
      json: { runtimeIds: [runtimeId], ttlSeconds: 60, label: 'stage' },
    });
    for (const token of [otherKey, grant.body.token as string]) {
      const nothing = await t.api(`/v1/runtimes/${runtimeId}/calls/call_nosuchcall`, { token });
      const answer = await t.api(`/v1/runtimes/${runtimeId}/calls/${callId}`, { token });
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(nothing.body);
    }
    expect(desktop.frames.filter((f) => f.type === 'lookup')).toEqual([]);
  });
});

describe('idempotency window', () => {
  it('refuses a retry past the window with idempotency_expired from its call log, also after a restart, never forwarding it', async () => {
    const limits = { idempotencyWindowMs: 400 };
    const t = await fresh({ limits });
    const { desktop, runtimeId } = await connect(t);
    desktop.onCall = (c, d) => d.succeed(c.id, { path: 'a.txt', bytes: 1 });
    const write = () =>
      t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'write_file', args: { path: 'a.txt', content: 'x' }, idempotencyKey: 'w-1' },
      });
    const first = await write();
    expect(first.status).toBe(200);
    const within = await write(); // within the window: the desktop answers (from what it keeps)
    expect(within.status).toBe(200);
    const calls = desktop.frames.filter((f) => f.type === 'call');
    expect(calls).toHaveLength(2);
    expect(calls[0]!.firstAt).toBeUndefined();
    expect(calls[1]!.firstAt).toBeGreaterThan(Date.now() - 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const late = await write();
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('idempotency_expired');
    expect(desktop.frames.filter((f) => f.type === 'call')).toHaveLength(2);
    await desktop.close();
    await t.relay.close();

    const second = await restart(t, { limits });
    const again = await FakeDesktop.connect(second.relay.wsUrl, second.desktopToken);
    cleanups.push(() => again.close());
    await again.hello(device, [testWorkspace('ws-1')]);
    const afterRestart = await second.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'write_file', args: { path: 'a.txt', content: 'x' }, idempotencyKey: 'w-1' },
    });
    expect(afterRestart.body.error.code).toBe('idempotency_expired');
    expect(again.frames.filter((f) => f.type === 'call')).toEqual([]);
  });
});

describe('a call log at its row cap', () => {
  it('sends a key it does not know with the time before which keys may have been pruned, for the desktop to judge', async () => {
    const limits = { callLogMaxRows: 3 };
    const t = await fresh({ limits });
    const { desktop, runtimeId } = await connect(t);
    desktop.onCall = (c, d) => d.succeed(c.id, 'ok');
    const call = (key: string) =>
      t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'write_file', args: { path: 'a.txt', content: key }, idempotencyKey: key },
      });
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) expect((await call(key)).status).toBe(200);
    expect(desktop.frames.filter((f) => f.type === 'call').every((f) => f.firstAt === undefined)).toBe(true);
    await desktop.close();
    await t.relay.close();

    const second = await restart(t, { limits }); // prunes the log to its cap at start: k1 and k2 go
    const again = await FakeDesktop.connect(second.relay.wsUrl, second.desktopToken);
    cleanups.push(() => again.close());
    await again.hello(device, [testWorkspace('ws-1')]);
    again.onCall = (c, d) => d.succeed(c.id, 'ok');
    const store = new SqliteStore(t.dataDir);
    cleanups.push(async () => store.close());
    const span = await store.callLogSpan();
    expect(span.rows).toBe(3);
    const retry = await second.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'write_file', args: { path: 'a.txt', content: 'k1' }, idempotencyKey: 'k1' },
    });
    expect(retry.status).toBe(200);
    const frame = await again.next('call');
    expect(frame.firstAt).toBe(Date.parse(span.oldestStartedAt!));
  });
});

describe('call log after a crash', () => {
  it('gives rows a crash left unfinished the outcome unknown at the next start', async () => {
    const t = await fresh();
    await t.relay.close();
    // What a killed relay leaves: a row that was written and never finished.
    const crashed = new SqliteStore(t.dataDir);
    await crashed.insertCall({
      id: 'call_cut_off',
      orgId: 'org_x',
      runtimeId: 'rt_x',
      tool: 'run_command',
      caller: 'agent',
      tokenId: 'tok_x',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      outcome: null,
      durationMs: null,
    });
    crashed.flushCalls();
    crashed.close();

    await restart(t);
    const store = new SqliteStore(t.dataDir);
    cleanups.push(async () => store.close());
    const row = await store.getCall('call_cut_off');
    expect(row?.outcome).toBe('unknown');
    expect(row?.finishedAt).not.toBeNull();
  });
});

describe('late heartbeat', () => {
  it('refuses new calls with runtime_offline at once while the desktop has not answered its heartbeat', async () => {
    const t = await fresh({ heartbeatIntervalMs: 3_000 });
    const { desktop, runtimeId } = await connect(t, { autoPong: false });
    // Silent for more than 1.5 intervals (4.5 s), and not yet cut off as dead (silent for 2, 6 s).
    await new Promise((r) => setTimeout(r, 4_900));
    const res = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'stat', args: { path: 'a' }, timeoutMs: 60_000 },
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('runtime_offline');
    expect(res.body.error.message).toMatch(/not answered its heartbeat/);
    expect(desktop.frames.filter((f) => f.type === 'call')).toEqual([]);
  });
});
