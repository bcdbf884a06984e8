import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, DEFAULT_POLICY, MAX_REFUSED_NOTICES_PER_MINUTE, PROTOCOL_VERSION } from '@tether/shared';
import type { RelayOptions } from '../relay-server.js';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { SseReader, eventually, startTestRelay as start, type TestRelay } from '../testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startTestRelay(options: Partial<RelayOptions> = {}): Promise<TestRelay> {
  const t = await start(options);
  cleanups.push(() => t.dispose());
  return t;
}

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connect(t: TestRelay, options: { autoPong?: boolean } = {}): Promise<FakeDesktop> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken, options);
  cleanups.push(() => desktop.close());
  return desktop;
}

async function stateOf(t: TestRelay, runtimeId: string): Promise<{ state: string; reason?: string }> {
  return (await t.api(`/v1/runtimes/${runtimeId}`)).body;
}

describe('DesktopHub', () => {
  describe('runtime states', () => {
    it('keeps the runtime id of a workspace across reconnects', async () => {
      const t = await startTestRelay();
      const first = await connect(t);
      const a = await first.hello(device, [testWorkspace('ws-1')]);
      await first.close();
      const second = await connect(t);
      const b = await second.hello(device, [testWorkspace('ws-1')]);
      expect(b.runtimes).toEqual(a.runtimes);
      // Another device's workspace of the same id is another runtime.
      const other = await connect(t);
      const c = await other.hello({ ...device, deviceId: 'dev-2' }, [testWorkspace('ws-1')]);
      expect(c.runtimes[0]!.runtimeId).not.toBe(a.runtimes[0]!.runtimeId);
    });

    it('follows running → paused → error (with reason) → running → archived (removed) → running, and answers runtimes frames', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const welcome = await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2')]);
      const rt1 = welcome.runtimes[0]!.runtimeId;
      const events = await SseReader.open(`${t.relay.url}/v1/runtimes/${rt1}/events`, t.platformKey);
      cleanups.push(() => events.close());
      expect((await events.next('state')).data).toMatchObject({ runtimeId: rt1, state: 'running' });

      desktop.send({
        type: 'workspaces',
        workspaces: [testWorkspace('ws-1', { state: 'paused' }), testWorkspace('ws-2')],
      });
      const runtimes = await desktop.next('runtimes');
      expect(runtimes.runtimes.map((r) => r.runtimeId)).toEqual(welcome.runtimes.map((r) => r.runtimeId));
      expect((await events.next('state')).data).toMatchObject({ state: 'paused' });
      const paused = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(paused.status).toBe(409);
      expect(paused.body.error.code).toBe('runtime_paused');

      desktop.send({
        type: 'event',
        events: [{ kind: 'health', workspaceId: 'ws-1', state: 'error', reason: 'the folder is gone' }],
      });
      expect((await events.next('state')).data).toMatchObject({ state: 'error', reason: 'the folder is gone' });
      expect(await stateOf(t, rt1)).toMatchObject({ state: 'error', reason: 'the folder is gone' });
      const failing = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(failing.status).toBe(503);
      expect(failing.body.error.code).toBe('runtime_error');
      expect(failing.body.error.message).toContain('the folder is gone');

      desktop.send({ type: 'event', events: [{ kind: 'health', workspaceId: 'ws-1', state: 'running' }] });
      expect((await events.next('state')).data).toMatchObject({ state: 'running' });
      expect((await stateOf(t, rt1)).reason).toBeUndefined();

      desktop.send({ type: 'workspaces', workspaces: [testWorkspace('ws-2')] });
      await desktop.next('runtimes');
      expect((await events.next('state')).data).toMatchObject({ state: 'archived' });
      const archived = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(archived.body.error.code).toBe('runtime_archived');

      // The person adds the folder back: the same runtime comes back.
      desktop.send({ type: 'workspaces', workspaces: [testWorkspace('ws-1'), testWorkspace('ws-2')] });
      await desktop.next('runtimes');
      expect((await events.next('state')).data).toMatchObject({ state: 'running' });
    });

    it('tells the desktop about calls refused for its paused workspace or switched-off tool, and no more than the limit per minute', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const welcome = await desktop.hello(device, [
        testWorkspace('ws-1', { state: 'paused' }),
        testWorkspace('ws-2', { capabilities: { policy: DEFAULT_POLICY, tools: ['stat'] } }),
      ]);
      const [rt1, rt2] = welcome.runtimes.map((r) => r.runtimeId);
      const paused = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(paused.body.error.code).toBe('runtime_paused');
      expect(await desktop.next('refused')).toMatchObject({
        runtimeId: rt1,
        workspaceId: 'ws-1',
        tool: 'stat',
        code: 'runtime_paused',
        dropped: 0,
      });
      const off = await t.api(`/v1/runtimes/${rt2}/calls`, {
        method: 'POST',
        json: { tool: 'delete', args: { path: 'a' } },
      });
      expect(off.body.error.code).toBe('tool_disabled');
      expect(await desktop.next('refused')).toMatchObject({
        runtimeId: rt2,
        workspaceId: 'ws-2',
        code: 'tool_disabled',
      });

      // An agent retrying in a loop: the desktop hears of MAX_REFUSED_NOTICES_PER_MINUTE per window at most.
      for (let i = 0; i < MAX_REFUSED_NOTICES_PER_MINUTE; i++)
        await t.api(`/v1/runtimes/${rt1}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'a' } } });
      await eventually(
        async () => desktop.frames.filter((f) => f.type === 'refused').length,
        (n) => n >= MAX_REFUSED_NOTICES_PER_MINUTE,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(desktop.frames.filter((f) => f.type === 'refused')).toHaveLength(MAX_REFUSED_NOTICES_PER_MINUTE);
    });

    it('marks runtimes stopped with lastSeenAt when the desktop disconnects, and calls then fail with runtime_offline at once', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      await desktop.close();
      const view = await eventually(
        () => stateOf(t, rt),
        (v) => v.state === 'stopped',
        10_000,
        'stopped',
      );
      expect(Date.parse((view as unknown as { lastSeenAt: string }).lastSeenAt)).not.toBeNaN();
      const started = Date.now();
      const res = await t.api(`/v1/runtimes/${rt}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('runtime_offline');
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('keeps a platform-archived runtime archived even when its desktop announces it again', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const archived = await t.api(`/v1/runtimes/${rt}/archive`, { method: 'POST' });
      expect(archived.status).toBe(200);
      expect(archived.body.state).toBe('archived');
      desktop.send({ type: 'workspaces', workspaces: [testWorkspace('ws-1', { name: 'renamed' })] });
      await desktop.next('runtimes');
      expect(await stateOf(t, rt)).toMatchObject({ state: 'archived', workspace: { name: 'renamed' } });
    });
  });

  describe('heartbeat', () => {
    it('ends a connection that misses two pongs with 4408 and marks its runtimes stopped', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 100 });
      const desktop = await connect(t, { autoPong: false });
      const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const closed = await desktop.closed;
      // The relay cuts a dead peer: the close frame may or may not get through before the socket ends.
      expect([CLOSE_CODES.heartbeatTimeout, 1006]).toContain(closed.code);
      await eventually(
        () => stateOf(t, rt),
        (v) => v.state === 'stopped',
        10_000,
        'stopped',
      );
    });

    it('keeps a connection that answers pings', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 300 });
      const desktop = await connect(t);
      const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const seenFirst = Date.parse(((await stateOf(t, rt)) as unknown as { lastSeenAt: string }).lastSeenAt);
      let pings = 0;
      desktop.ws.on('ping', () => pings++);
      await eventually(
        () => pings,
        (n) => n >= 3,
        10_000,
        'three pings',
      );
      expect((await stateOf(t, rt)).state).toBe('running');
      // Heartbeats keep lastSeenAt of a connected runtime current.
      await eventually(
        async () => Date.parse(((await stateOf(t, rt)) as unknown as { lastSeenAt: string }).lastSeenAt),
        (seen) => seen > seenFirst,
        10_000,
        'lastSeenAt to advance',
      );
    });
  });

  describe('replacement', () => {
    it('closes the older connection of the same device with 4409 and keeps the runtime running on the newer one', async () => {
      const t = await startTestRelay();
      const old = await connect(t);
      const rt = (await old.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const newer = await connect(t);
      newer.onCall = (call, d) => d.succeed(call.id, 'from the newer connection');
      await newer.hello(device, [testWorkspace('ws-1')]);
      expect((await old.closed).code).toBe(CLOSE_CODES.replaced);
      expect((await stateOf(t, rt)).state).toBe('running');
      const res = await t.api(`/v1/runtimes/${rt}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(res.body.result).toBe('from the newer connection');
    });

    it('keeps exactly one of two connections of one device that say hello at the same time', async () => {
      const t = await startTestRelay();
      const a = await connect(t);
      const b = await connect(t);
      // The replaced one may be closed before its welcome: only the survivor is sure to get one.
      const helloA = a.hello(device, [testWorkspace('ws-1')]);
      const helloB = b.hello(device, [testWorkspace('ws-1')]);
      helloA.catch(() => {});
      helloB.catch(() => {});
      const closed = await Promise.race([
        a.closed.then((c) => ['a', c.code] as const),
        b.closed.then((c) => ['b', c.code] as const),
      ]);
      expect(closed[1]).toBe(CLOSE_CODES.replaced);
      const survivor = closed[0] === 'a' ? b : a;
      const welcome = await (closed[0] === 'a' ? helloB : helloA);
      // The survivor is still open, holds the runtime and gets the calls.
      survivor.onCall = (call, d) => d.succeed(call.id, 'survivor');
      const res = await t.api(`/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(res.body.result).toBe('survivor');
      expect(survivor.ws.readyState).toBe(survivor.ws.OPEN);
    });
  });

  describe('bad frames', () => {
    it.each([
      ['not JSON', '{nope', CLOSE_CODES.protocolError],
      ['an unknown type', JSON.stringify({ type: 'launch_missiles' }), CLOSE_CODES.protocolError],
      [
        'a hello failing its schema',
        JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, device: { deviceId: '' } }),
        CLOSE_CODES.protocolError,
      ],
      [
        'a result before hello',
        JSON.stringify({ type: 'result', id: 'x', ok: true, value: 1 }),
        CLOSE_CODES.unexpectedFrame,
      ],
    ])(
      'closes the connection on %s with its documented code, and the relay keeps serving',
      async (_name, text, code) => {
        const t = await startTestRelay();
        const desktop = await connect(t);
        desktop.sendRaw(text);
        const closed = await desktop.closed;
        expect(closed.code).toBe(code);
        expect(closed.reason.length).toBeGreaterThan(0);
        const next = await connect(t);
        expect((await next.hello(device, [testWorkspace('ws-1')])).type).toBe('welcome');
      },
    );

    it('fails only the call whose result breaks its schema, drops bad progress and events, and stays connected', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
      const runtimeId = welcome.runtimes[0]!.runtimeId;
      let answer: 'bad' | 'good' = 'bad';
      desktop.onCall = (call, d) => {
        if (answer === 'good') return d.succeed(call.id, 'fine');
        d.sendRaw(JSON.stringify({ type: 'progress', id: call.id, status: 'launching' }));
        d.sendRaw(JSON.stringify({ type: 'event', events: [{ kind: 'files', workspaceId: 'ws-1', changes: 'x' }] }));
        d.sendRaw(
          JSON.stringify({ type: 'result', id: call.id, ok: false, error: { code: 'no_such_code', message: 'x' } }),
        );
      };
      const call = () =>
        t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'a' } } });
      const bad = await call();
      expect(bad.status).toBe(500);
      expect(bad.body.error.code).toBe('internal');
      expect(bad.body.error.message).toMatch(/did not follow the protocol.*error\.code/);
      answer = 'good';
      expect((await call()).body.result).toBe('fine');
      expect(desktop.ws.readyState).toBe(desktop.ws.OPEN);
      expect((await t.api(`/v1/runtimes/${runtimeId}`)).body.state).toBe('running');
    });

    it('closes on a binary frame, a second hello and an unsupported protocol version', async () => {
      const t = await startTestRelay();
      const binary = await connect(t);
      binary.sendRaw(Buffer.from([1, 2, 3]));
      expect((await binary.closed).code).toBe(CLOSE_CODES.protocolError);
      const twice = await connect(t);
      await twice.hello(device, []);
      twice.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, device, appVersion: '1', workspaces: [] });
      expect((await twice.closed).code).toBe(CLOSE_CODES.unexpectedFrame);
      const future = await connect(t);
      future.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION + 1, device, appVersion: '1', workspaces: [] });
      expect((await future.closed).code).toBe(CLOSE_CODES.unsupportedVersion);
    });

    it('closes with 1009 on a frame over the size limit', async () => {
      const t = await startTestRelay({ limits: { maxFrameBytes: 64 * 1024 } });
      const desktop = await connect(t);
      await desktop.hello(device, [testWorkspace('ws-1')]);
      desktop.send({
        type: 'event',
        events: [{ kind: 'files', workspaceId: 'ws-1', changes: [{ path: 'x'.repeat(70 * 1024), change: 'add' }] }],
      });
      expect((await desktop.closed).code).toBe(CLOSE_CODES.tooLarge);
    });
  });

  describe('file events', () => {
    it('streams file changes of a runtime to its SSE subscribers', async () => {
      const t = await startTestRelay();
      const desktop = await connect(t);
      const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const events = await SseReader.open(`${t.relay.url}/v1/runtimes/${rt}/events`, t.platformKey);
      cleanups.push(() => events.close());
      await events.next('state');
      desktop.send({
        type: 'event',
        events: [{ kind: 'files', workspaceId: 'ws-1', changes: [{ path: 'src/a.ts', change: 'change' }], dropped: 3 }],
      });
      expect((await events.next('files')).data).toEqual({
        runtimeId: rt,
        changes: [{ path: 'src/a.ts', change: 'change' }],
        dropped: 3,
      });
    });
  });
});
