import { afterEach, describe, expect, it } from 'vitest';
import type { CallFrame } from '@tether/shared';
import { CANCEL_ANSWER_TIMEOUT_MS } from './relay-limits.js';
import { FakeDesktop, testWorkspace } from './testing/fake-desktop.js';
import { SseReader, eventually, startTestRelay, type ApiAnswer, type TestRelay } from './testing/test-relay.js';

/*
 * Adversarial checks of the relay's multi-tenant isolation: org A's platform key, grant or
 * desktop token against org B's runtimes, calls, idempotency keys and devices. Each attack
 * must see exactly what it would see for something that does not exist.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** The same device id and workspace id in both orgs: the collision an attacker would try. */
const device = { deviceId: 'dev-shared', name: 'Laptop', os: 'linux' };
const UNKNOWN_RUNTIME = 'rt_000000000000000000000000';

interface Org {
  key: string;
  desktopToken: string;
  desktop: FakeDesktop;
  runtimeId: string;
  /** Calls the desktop was given. */
  calls: CallFrame[];
  /** Calls the desktop holds unanswered (answered by `release`). */
  held: Map<string, CallFrame>;
}

async function connect(t: TestRelay, token: string, workspaceName: string): Promise<Omit<Org, 'key' | 'desktopToken'>> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, token);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(device, [testWorkspace('ws-1', { name: workspaceName })]);
  const calls: CallFrame[] = [];
  const held = new Map<string, CallFrame>();
  desktop.onCall = (call, d) => {
    calls.push(call);
    // A run_command call stays unanswered until released; others are answered at once.
    if (call.tool === 'run_command') held.set(call.id, call);
    else d.succeed(call.id, { tool: call.tool, args: call.args, caller: call.caller, answeredBy: workspaceName });
  };
  return { desktop, runtimeId: welcome.runtimes[0]!.runtimeId, calls, held };
}

/** A relay with org A (`acme`) and org B (`other`), each with a desktop of the same device and workspace ids. */
async function twoOrgs(): Promise<{ t: TestRelay; a: Org; b: Org }> {
  const t = await startTestRelay();
  cleanups.push(() => t.dispose());
  await t.relay.admin.createOrg('other');
  const bDesktop = (await t.relay.admin.createToken({ org: 'other', kind: 'desktop' })).token;
  const bKey = (await t.relay.admin.createToken({ org: 'other', kind: 'platform', name: 'b-backend' })).token;
  // B first, so A's hello with the same device and workspace ids comes second, as an attacker's would.
  const b = { key: bKey, desktopToken: bDesktop, ...(await connect(t, bDesktop, 'secret-b')) };
  const a = { key: t.platformKey, desktopToken: t.desktopToken, ...(await connect(t, t.desktopToken, 'mine-a')) };
  return { t, a, b };
}

async function grant(t: TestRelay, key: string, body: Record<string, unknown>): Promise<ApiAnswer> {
  return t.api('/v1/grants', { method: 'POST', token: key, json: { ttlSeconds: 60, label: 'g', ...body } });
}

/** Starts a held call streamed over SSE, so its call id is known before it ends. */
async function startHeldCall(t: TestRelay, org: Org, idempotencyKey?: string) {
  const reader = await SseReader.open(`${t.relay.url}/v1/runtimes/${org.runtimeId}/calls`, org.key, {
    method: 'POST',
    json: { tool: 'run_command', args: { command: 'sleep 1' }, ...(idempotencyKey ? { idempotencyKey } : {}) },
  });
  // Not awaited: the tests read the stream to its end; this only aborts one a failed test left open.
  cleanups.push(async () => void reader.close());
  const callId = (await reader.next('call')).data.callId as string;
  await eventually(
    () => org.held.has(callId),
    (x) => x,
    10_000,
    'the call reaching the desktop',
  );
  return { reader, callId };
}

const mcpInit = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacker', version: '1' } },
};

describe('tenant isolation', () => {
  describe('a desktop of org A saying hello with the device and workspace ids of org B', () => {
    it("gets its own runtime and leaves B's runtime, its name and its state alone", async () => {
      const { t, a, b } = await twoOrgs();
      expect(a.runtimeId).not.toBe(b.runtimeId);
      const seenByB = await t.api(`/v1/runtimes/${b.runtimeId}`, { token: b.key });
      expect(seenByB.status).toBe(200);
      expect(seenByB.body.state).toBe('running');
      expect(seenByB.body.workspace.name).toBe('secret-b');
      const listA = await t.api('/v1/runtimes', { token: a.key });
      expect(listA.body.runtimes.map((r: { id: string }) => r.id)).toEqual([a.runtimeId]);
      // A's desktop leaving marks only its own runtime stopped; B's still takes calls.
      await a.desktop.close();
      await eventually(
        () => t.api(`/v1/runtimes/${a.runtimeId}`, { token: a.key }),
        (r) => r.body.state === 'stopped',
      );
      expect((await t.api(`/v1/runtimes/${b.runtimeId}`, { token: b.key })).body.state).toBe('running');
      const call = await t.api(`/v1/runtimes/${b.runtimeId}/calls`, {
        method: 'POST',
        token: b.key,
        json: { tool: 'stat', args: { path: 'x' } },
      });
      expect(call.status).toBe(200);
      expect(call.body.result.answeredBy).toBe('secret-b');
    });
  });

  describe("org A's key and grant against org B's runtime", () => {
    it('answer every route exactly as for a runtime that does not exist', async () => {
      const { t, a, b } = await twoOrgs();
      const aGrant = (await grant(t, a.key, { runtimeIds: [a.runtimeId] })).body.token as string;
      const routes: Array<[string, string, unknown?]> = [
        ['GET', ''],
        ['GET', '/capabilities'],
        ['GET', '/events'],
        ['POST', '/archive'],
        ['POST', '/calls', { tool: 'stat', args: { path: 'x' } }],
        ['POST', '/calls', { tool: 'stat', args: { path: 'x' }, idempotencyKey: 'k1' }],
        ['POST', '/calls/call_x/cancel'],
        ['POST', '/mcp', mcpInit],
        ['POST', '/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' }],
        ['POST', '/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'stat', arguments: {} } }],
      ];
      for (const token of [a.key, aGrant]) {
        for (const [method, suffix, json] of routes) {
          const headers = { accept: 'application/json, text/event-stream' };
          const init = { method, token, headers, ...(json !== undefined ? { json } : {}) };
          const theirs = await t.api(`/v1/runtimes/${b.runtimeId}${suffix}`, init);
          const none = await t.api(`/v1/runtimes/${UNKNOWN_RUNTIME}${suffix}`, init);
          const what = `${method} ${suffix || '/'} with ${token === a.key ? 'key' : 'grant'}`;
          expect(theirs.status, what).toBe(404);
          expect(theirs.body, what).toEqual(none.body);
        }
      }
      // Nothing reached B's desktop, and B's runtime is not archived.
      expect(b.calls).toEqual([]);
      expect((await t.api(`/v1/runtimes/${b.runtimeId}`, { token: b.key })).body.state).toBe('running');
    });

    it("refuses a grant for B's runtime id with 404 not_found, as for an unknown id, never 403", async () => {
      const { t, a, b } = await twoOrgs();
      const theirs = await grant(t, a.key, { runtimeIds: [a.runtimeId, b.runtimeId] });
      const none = await grant(t, a.key, { runtimeIds: [a.runtimeId, UNKNOWN_RUNTIME] });
      expect(theirs.status).toBe(404);
      expect(none.status).toBe(404);
      expect(theirs.body.error.code).toBe('not_found');
      expect(theirs.body.error.message.replace(b.runtimeId, 'ID')).toBe(
        none.body.error.message.replace(UNKNOWN_RUNTIME, 'ID'),
      );
      // A grant cannot mint grants, for its own runtime or B's.
      const aGrant = (await grant(t, a.key, { runtimeIds: [a.runtimeId] })).body.token as string;
      expect((await grant(t, aGrant, { runtimeIds: [a.runtimeId] })).status).toBe(403);
      expect((await t.api('/v1/runtimes', { token: aGrant })).body.runtimes.map((r: { id: string }) => r.id)).toEqual([
        a.runtimeId,
      ]);
    });
  });

  describe("B's call ids", () => {
    it("cannot be cancelled by A, through A's runtime or B's, and answer 404 like an unknown call", async () => {
      const { t, a, b } = await twoOrgs();
      const { reader, callId } = await startHeldCall(t, b);
      for (const runtimeId of [a.runtimeId, b.runtimeId]) {
        const started = performance.now();
        const theirs = await t.api(`/v1/runtimes/${runtimeId}/calls/${callId}/cancel`, {
          method: 'POST',
          token: a.key,
        });
        if (runtimeId === a.runtimeId)
          // Not quicker than for an unknown id, which waits for other nodes' answers (a lower bound cannot flake).
          expect(performance.now() - started).toBeGreaterThanOrEqual(CANCEL_ANSWER_TIMEOUT_MS * 0.9);
        const none = await t.api(`/v1/runtimes/${runtimeId}/calls/call_000000000000000000000000/cancel`, {
          method: 'POST',
          token: a.key,
        });
        expect(theirs.status).toBe(404);
        expect(theirs.body).toEqual(none.body);
      }
      expect(b.desktop.frames.some((f) => f.type === 'cancel')).toBe(false);
      b.desktop.succeed(callId, { exitCode: 0, answeredBy: 'secret-b' });
      expect((await reader.next('result')).data.result.answeredBy).toBe('secret-b');
    });

    it("of the platform key cannot be cancelled by a grant of the same runtime; the grant's own can", async () => {
      const { t, a } = await twoOrgs();
      const { reader, callId: keyCall } = await startHeldCall(t, a);
      const shell = (await grant(t, a.key, { runtimeIds: [a.runtimeId], tools: ['run_command'] })).body.token as string;
      const cancel = (id: string, token: string) =>
        t.api(`/v1/runtimes/${a.runtimeId}/calls/${id}/cancel`, { method: 'POST', token });
      const refused = await cancel(keyCall, shell);
      const unknown = await cancel('call_000000000000000000000000', shell);
      expect(refused.status).toBe(404);
      expect(refused.body).toEqual(unknown.body);
      expect(a.desktop.frames.some((f) => f.type === 'cancel')).toBe(false);
      a.desktop.succeed(keyCall, { exitCode: 0 });
      expect((await reader.next('result')).data.result).toEqual({ exitCode: 0 });

      // The grant's own call it may cancel, and so may the key.
      const own = await SseReader.open(`${t.relay.url}/v1/runtimes/${a.runtimeId}/calls`, shell, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'sleep 1' } },
      });
      cleanups.push(async () => void own.close());
      const ownCall = (await own.next('call')).data.callId as string;
      await eventually(
        () => a.held.has(ownCall),
        (x) => x,
        10_000,
        'the call reaching the desktop',
      );
      expect((await cancel(ownCall, shell)).status).toBe(200);
      expect((await own.next('error')).data.error.code).toBe('cancelled');
    });

    it("are not answered by another desktop's result or progress frames, of either org", async () => {
      const { t, a, b } = await twoOrgs();
      // A second desktop of B's own org, too: a call is answered only by the session it was given to.
      const bOther = await FakeDesktop.connect(t.relay.wsUrl, b.desktopToken);
      cleanups.push(() => bOther.close());
      await bOther.hello({ ...device, deviceId: 'dev-b2' }, [testWorkspace('ws-2')]);
      const { reader, callId } = await startHeldCall(t, b);
      for (const intruder of [a.desktop, bOther]) {
        intruder.send({ type: 'progress', id: callId, status: 'output', chunk: 'forged' });
        intruder.send({ type: 'result', id: callId, ok: true, value: { forged: true } });
      }
      // A desktop's frames are handled in order: its answer to a later `workspaces` frame shows the forgeries were handled.
      a.desktop.send({ type: 'workspaces', workspaces: [testWorkspace('ws-1', { name: 'mine-a' })] });
      await a.desktop.next('runtimes');
      bOther.send({ type: 'workspaces', workspaces: [testWorkspace('ws-2')] });
      await bOther.next('runtimes');
      b.desktop.succeed(callId, { answeredBy: 'secret-b' });
      const result = await reader.next('result');
      expect(result.data.result).toEqual({ answeredBy: 'secret-b' });
      expect(reader.events.some((e) => JSON.stringify(e.data).includes('forged'))).toBe(false);
    });
  });

  describe('idempotency keys', () => {
    it("of org B, reused by org A, run A's own call and never return B's result", async () => {
      const { t, a, b } = await twoOrgs();
      const { reader, callId: bCall } = await startHeldCall(t, b, 'shared-key');
      const mine = await t.api(`/v1/runtimes/${a.runtimeId}/calls`, {
        method: 'POST',
        token: a.key,
        json: { tool: 'stat', args: { path: 'x' }, idempotencyKey: 'shared-key' },
      });
      expect(mine.status).toBe(200);
      expect(mine.body.callId).not.toBe(bCall);
      expect(mine.body.result.answeredBy).toBe('mine-a');
      b.desktop.succeed(bCall, { answeredBy: 'secret-b' });
      await reader.next('result');
    });

    it('of the platform key, reused by a grant of the same runtime, never give the grant a tool it lacks', async () => {
      const { t, a } = await twoOrgs();
      const { reader, callId: keyCall } = await startHeldCall(t, a, 'step-1');
      const statOnly = (await grant(t, a.key, { runtimeIds: [a.runtimeId], tools: ['stat'] })).body.token as string;
      const joined = t.api(`/v1/runtimes/${a.runtimeId}/calls`, {
        method: 'POST',
        token: statOnly,
        json: { tool: 'stat', args: { path: 'x' }, idempotencyKey: 'step-1' },
        // Before the fix the grant joined the key's held run_command and waited on it.
        signal: AbortSignal.timeout(10_000),
      });
      // The grant's call is its own: a stat the desktop runs and answers, not the key's run_command.
      const answer = await joined;
      expect(answer.status).toBe(200);
      expect(answer.body.callId).not.toBe(keyCall);
      expect(answer.body.result.tool).toBe('stat');
      a.desktop.succeed(keyCall, { exitCode: 0, output: 'the secret output' });
      expect((await reader.next('result')).data.result.output).toBe('the secret output');
    });
  });
});
