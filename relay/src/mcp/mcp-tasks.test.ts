import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';
import { TASKS_EXTENSION_ID, parseTaskId, taskIdOf } from './mcp-tasks.js';

const MODERN = '2026-07-28';
const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string } };

/** One raw 2026-07-28 request, declaring the Tasks extension unless `extensions` says otherwise. */
async function post(
  t: TestRelay,
  path: string,
  method: string,
  params: Record<string, unknown>,
  extensions: Record<string, unknown> = { [TASKS_EXTENSION_ID]: {} },
  signal?: AbortSignal,
): Promise<Response> {
  const name = method === 'tools/call' ? params.name : params.taskId;
  return fetch(`${t.relay.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.platformKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': method,
      ...(name !== undefined ? { 'mcp-name': String(name) } : {}),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': MODERN,
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': { extensions },
        },
      },
    }),
    ...(signal ? { signal } : {}),
  });
}

async function rpc(t: TestRelay, path: string, method: string, params: Record<string, unknown>): Promise<Answer> {
  return (await (await post(t, path, method, params)).json()) as Answer;
}

describe('MCP task ids', () => {
  it('name a runtime and a call, and nothing else parses', () => {
    const id = taskIdOf('rt_0123456789abcdef01234567', 'call_89abcdef0123456789abcdef');
    expect(parseTaskId(id)).toEqual({
      runtimeId: 'rt_0123456789abcdef01234567',
      callId: 'call_89abcdef0123456789abcdef',
    });
    for (const bad of ['', 'rt_01.call_', 'call_01.rt_01', 'rt_01.call_01.x', 'rt_01/call_01', 'rt_0G.call_01'])
      expect(parseTaskId(bad)).toBeNull();
  });
});

describe('MCP tasks while the desktop cannot answer', () => {
  it('reads working with the reason when the desktop is offline after a relay restart, and completed once it is back', async () => {
    const t = await startTestRelay({ shutdownGraceMs: 100 });
    cleanups.push(() => rm(t.dataDir, { recursive: true, force: true }));
    const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    const path = `/v1/runtimes/${runtimeId}/mcp`;
    const created = await rpc(t, path, 'tools/call', { name: 'run_command', arguments: { command: 'make' } });
    const taskId = created.result!.taskId as string;
    const call = await desktop.next('call');
    expect(parseTaskId(taskId)).toEqual({ runtimeId, callId: call.id });
    await desktop.close();
    await t.relay.close();

    const second = await startTestRelay({}, t.dataDir);
    second.platformKey = t.platformKey;
    cleanups.push(() => second.dispose());
    // Nobody waits on the call and the desktop is away: the task is not lost, it is still working.
    const offline = await rpc(second, path, 'tasks/get', { taskId });
    expect(offline.result).toMatchObject({ taskId, status: 'working' });
    expect(offline.result!.statusMessage).toMatch(/^runtime_offline: /);
    expect(offline.result!.createdAt).toBe(created.result!.createdAt);

    // The desktop is back and answers from what it keeps.
    const again = await FakeDesktop.connect(second.relay.wsUrl, t.desktopToken);
    cleanups.push(() => again.close());
    await again.hello(device, [testWorkspace('ws-1')]);
    const asking = rpc(second, path, 'tasks/get', { taskId });
    await again.next('lookup', (l) => l.id === call.id);
    again.send({
      type: 'result',
      id: call.id,
      ok: false,
      error: { code: 'timeout', message: 'the command ran out of time' },
    });
    // A tool error is the task's result (completed, isError), as the same call without a task answers it.
    expect((await asking).result).toMatchObject({
      status: 'completed',
      result: { isError: true, structuredContent: { error: { code: 'timeout' } } },
    });
    // Once the desktop keeps nothing of it, the task is gone.
    const gone = rpc(second, path, 'tasks/get', { taskId });
    await again.next('lookup', (l) => l.id === call.id);
    again.send({ type: 'result', id: call.id, ok: false, error: { code: 'not_found', message: 'nothing kept' } });
    expect((await gone).error).toMatchObject({ code: -32602, message: expect.stringMatching(/Task has expired/) });
  });
});

describe('task notifications on subscriptions/listen', () => {
  it('are refused with -32021 without the extension, and never acknowledged with it (clients poll)', async () => {
    const t = await startTestRelay({});
    cleanups.push(() => t.dispose());
    const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    cleanups.push(() => desktop.close());
    const runtimeId = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    const path = `/v1/runtimes/${runtimeId}/mcp`;
    const notifications = {
      taskIds: [`${runtimeId}.call_0123456789abcdef01234567`],
      resourceSubscriptions: ['file:///a.txt'],
    };
    const refused = (await (await post(t, path, 'subscriptions/listen', { notifications }, {})).json()) as Answer;
    expect(refused.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
    });

    const stop = new AbortController();
    const listening = await post(t, path, 'subscriptions/listen', { notifications }, undefined, stop.signal);
    const reader = listening.body!.getReader();
    let text = '';
    while (!text.includes('notifications/subscriptions/acknowledged')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    stop.abort();
    const ack = JSON.parse(/data: (.*acknowledged.*)/.exec(text)![1]!) as { params: { notifications: unknown } };
    expect(ack.params.notifications).toEqual({ resourceSubscriptions: ['file:///a.txt'] });
  });
});
