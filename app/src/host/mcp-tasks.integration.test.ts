import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  createTaskSessionFromClient,
  resultFromTaskOutcome,
  type JsonRpcResponse,
  type RawClientDispatch,
} from '@modelcontextprotocol/ext-tasks/client';
import { startRelay } from '@tether/relay';
import { MODERN, connectModernClient } from './test-mcp-client.js';
import { startStack, waitFor, type StartRelay } from './test-stack.js';

const TASKS = 'io.modelcontextprotocol/tasks';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, unknown>;

/** A JSON-RPC answer of a POST, whether the relay answered it as JSON or as an SSE stream. */
async function answerOf(res: Response, id: number): Promise<Json> {
  const text = await res.text();
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) return JSON.parse(text) as Json;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const message = JSON.parse(line.slice(5)) as Json;
    if (message.id === id) return message;
  }
  throw new Error(`no answer to request ${id} in: ${text}`);
}

/**
 * MCP Tasks (the 2026-07-28 `io.modelcontextprotocol/tasks` extension) through a real relay
 * and a real desktop host over a real folder: a long command as a task through the official
 * ext-tasks client, polled to its result; a cancel that stops the command on the desktop; a
 * task that outlives a relay restart; who may see a task (another org, another grant); and
 * clients without the extension, which get the plain result as before.
 */
describe('MCP tasks through a real relay and desktop host', () => {
  let stack: Stack;
  let runtimeId: string;
  const clients: Array<{ close(): Promise<void> }> = [];
  let nextId = 0;

  const envelope = (extensions: Json = { [TASKS]: {} }) => ({
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { extensions },
  });

  /** One raw 2026-07-28 request (the relay is stateless: no session to open first). */
  async function raw(
    path: string,
    method: string,
    params: Json,
    options: { token?: string; extensions?: Json } = {},
  ): Promise<Json> {
    const id = ++nextId;
    const name = method === 'tools/call' ? params.name : params.taskId;
    const res = await fetch(`${stack.relay.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.token ?? stack.platformKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': MODERN,
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method,
        params: { ...params, _meta: envelope(options.extensions) },
      }),
    });
    return answerOf(res, id);
  }

  const runtimePath = () => `/v1/runtimes/${runtimeId}/mcp`;
  const running = async () =>
    (await stack.host.api.request('process:list', {})).processes.some((p) => p.endedAt === undefined);

  async function modernClient(path: string): Promise<Client> {
    const client = await connectModernClient(`${stack.relay.url}${path}`, stack.platformKey, 'tether-tasks-test');
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    stack = await startStack(startRelay as unknown as StartRelay, {
      policy: { read: 'allow', write: 'allow', shell: 'allow' },
      relay: { shutdownGraceMs: 100 },
    });
    runtimeId = (await stack.runtimeIn('running')).id;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.dispose();
  });

  it('runs a long command as a task through the official ext-tasks client, polled to its result', async () => {
    for (const path of [runtimePath(), '/v1/mcp']) {
      const client = await modernClient(path);
      expect(client.getServerCapabilities()?.extensions).toEqual({ [TASKS]: {} });
      // The raw request path the ext-tasks client needs for 2026-07-28 task traffic, recording what it saw.
      const seen: Array<{ method: string; result?: Json; error?: Json }> = [];
      const rawDispatch: RawClientDispatch = async (request, options) => {
        const { method, params } = request as { method: string; params: Json };
        const id = ++nextId;
        const res = await fetch(`${stack.relay.url}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${stack.platformKey}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': MODERN,
            'mcp-method': method,
            ...(method === 'tools/call' ? { 'mcp-name': String(params.name) } : {}),
            ...options?.context?.headers,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
          ...(options?.signal ? { signal: options.signal } : {}),
        });
        const message = await answerOf(res, id);
        seen.push({ method, ...(message as { result?: Json; error?: Json }) });
        return (
          message.error ? { kind: 'error', error: message.error } : { kind: 'result', result: message.result }
        ) as JsonRpcResponse;
      };
      const session = createTaskSessionFromClient(client, {
        endpointId: path,
        rawDispatch,
        v2RequestFraming: {
          protocolVersion: MODERN,
          clientInfo: { name: 'tether-tasks-test', version: '1.0.0' },
          clientCapabilities: {},
        },
      });
      try {
        const args = {
          command: 'echo begin; sleep 2; echo finished',
          ...(path === '/v1/mcp' ? { runtime: runtimeId } : {}),
        };
        const execution = await session.callTool('run_command', args);
        expect(execution.kind).toBe('task');
        // The tools/call was answered with the task handle at once, while the command ran on.
        const created = seen.find((s) => s.method === 'tools/call')!.result!;
        expect(created).toMatchObject({ resultType: 'task', status: 'working', pollIntervalMs: 1000 });
        expect(created.taskId).toMatch(new RegExp(`^${runtimeId}\\.call_[0-9a-f]+$`));
        await waitFor(running, 'the command to run on the desktop');
        const { outcome } = await execution.settle();
        const result = resultFromTaskOutcome(outcome) as CallToolResult;
        expect(result.isError).toBeFalsy();
        expect(result.structuredContent).toMatchObject({
          exitCode: 0,
          output: expect.stringMatching(/^begin\r?\nfinished\r?\n$/),
        });
        const polls = seen.filter((s) => s.method === 'tasks/get');
        expect(polls.length).toBeGreaterThanOrEqual(2);
        expect(polls[0]!.result).toMatchObject({
          taskId: created.taskId,
          status: 'working',
          createdAt: created.createdAt,
        });
        expect(polls.at(-1)!.result).toMatchObject({ taskId: created.taskId, status: 'completed' });
      } finally {
        await session.close();
      }
    }
    // The desktop logged each command once, as finished.
    const entries = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries;
    expect(entries.filter((e) => e.outcome === 'ok').length).toBeGreaterThanOrEqual(2);
  });

  it('stops the command on the desktop on tasks/cancel, and the task reads cancelled', async () => {
    const created = await raw(runtimePath(), 'tools/call', { name: 'run_command', arguments: { command: 'sleep 30' } });
    const taskId = (created.result as Json).taskId as string;
    await waitFor(running, 'the command to run on the desktop');
    const ack = await raw(runtimePath(), 'tasks/cancel', { taskId });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    await waitFor(async () => !(await running()), 'the command to end on the desktop');
    const task = await waitFor(async () => {
      const got = (await raw(runtimePath(), 'tasks/get', { taskId })).result as Json;
      return got.status === 'cancelled' ? got : null;
    }, 'the task to read cancelled');
    expect(task).toMatchObject({ taskId, status: 'cancelled', resultType: 'complete' });
    const entry = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries[0]!;
    expect(entry.errorCode).toBe('cancelled');
    // Cancelling an ended task is acknowledged again (idempotent).
    expect((await raw(runtimePath(), 'tasks/cancel', { taskId })).result).toMatchObject({ resultType: 'complete' });
  });

  it('keeps a task reachable across a relay restart: the desktop answers from its journal', async () => {
    const created = await raw(runtimePath(), 'tools/call', {
      name: 'run_command',
      arguments: { command: 'sleep 1; echo survived' },
    });
    const taskId = (created.result as Json).taskId as string;
    await waitFor(running, 'the command to run on the desktop');
    await stack.relay.close();
    await stack.restartRelay();
    await waitFor(() => stack.host.relay.status.state === 'connected', 'the host to reconnect');
    const task = await waitFor(async () => {
      const got = (await raw(runtimePath(), 'tasks/get', { taskId })).result as Json | undefined;
      return got?.status === 'completed' ? got : null;
    }, 'the task to complete after the restart');
    expect((task.result as CallToolResult).structuredContent).toMatchObject({
      exitCode: 0,
      output: expect.stringMatching(/^survived\r?\n$/),
    });
  });

  it('stops a task that outlived a relay restart on tasks/cancel: the desktop is told directly', async () => {
    const created = await raw(runtimePath(), 'tools/call', { name: 'run_command', arguments: { command: 'sleep 30' } });
    const taskId = (created.result as Json).taskId as string;
    await waitFor(running, 'the command to run on the desktop');
    await stack.relay.close();
    await stack.restartRelay();
    await waitFor(() => stack.host.relay.status.state === 'connected', 'the host to reconnect');
    // No relay node waits on the call now; it still runs on the desktop.
    expect(((await raw(runtimePath(), 'tasks/get', { taskId })).result as Json).status).toBe('working');
    expect(await running()).toBe(true);
    expect((await raw(runtimePath(), 'tasks/cancel', { taskId })).result).toMatchObject({ resultType: 'complete' });
    await waitFor(async () => !(await running()), 'the command to end on the desktop');
    const task = await waitFor(async () => {
      const got = (await raw(runtimePath(), 'tasks/get', { taskId })).result as Json | undefined;
      return got?.status === 'cancelled' ? got : null;
    }, 'the task to read cancelled');
    expect(task.taskId).toBe(taskId);
  });

  it('shows a task only to who may see its call: another org, another grant and a wrong runtime get "not found"', async () => {
    const created = await raw(runtimePath(), 'tools/call', {
      name: 'run_command',
      arguments: { command: 'echo mine' },
    });
    const taskId = (created.result as Json).taskId as string;
    const notFound = { code: -32602, message: expect.stringMatching(/^not_found: .*Task not found/) };

    await stack.relay.admin.createOrg('other');
    const other = (await stack.relay.admin.createToken({ org: 'other', kind: 'platform' })).token;
    expect((await raw('/v1/mcp', 'tasks/get', { taskId }, { token: other })).error).toMatchObject(notFound);
    expect((await raw('/v1/mcp', 'tasks/cancel', { taskId }, { token: other })).error).toMatchObject(notFound);

    const mint = async (label: string) => {
      const minted = await stack.platform('POST', '/v1/grants', {
        runtimeIds: [runtimeId],
        tools: ['run_command'],
        ttlSeconds: 600,
        label,
      });
      expect(minted.status).toBe(200);
      return (minted.body as { token: string }).token;
    };
    const [a, b] = [await mint('stage a'), await mint('stage b')];
    const ofA = await raw(
      runtimePath(),
      'tools/call',
      { name: 'run_command', arguments: { command: 'sleep 30' } },
      { token: a },
    );
    const taskOfA = (ofA.result as Json).taskId as string;
    expect((await raw(runtimePath(), 'tasks/get', { taskId: taskOfA }, { token: a })).result).toMatchObject({
      status: 'working',
    });
    expect((await raw(runtimePath(), 'tasks/get', { taskId: taskOfA }, { token: b })).error).toMatchObject(notFound);
    expect((await raw(runtimePath(), 'tasks/cancel', { taskId: taskOfA }, { token: b })).error).toMatchObject(notFound);
    expect(await running()).toBe(true);
    expect((await raw(runtimePath(), 'tasks/cancel', { taskId: taskOfA }, { token: a })).result).toBeDefined();
    await waitFor(async () => !(await running()), 'grant a to stop its own command');

    // A task id naming another runtime than the endpoint's, or nothing at all.
    const elsewhere = taskId.replace(/^rt_[0-9a-f]+/, 'rt_0123456789abcdef01234567');
    expect((await raw(runtimePath(), 'tasks/get', { taskId: elsewhere })).error).toMatchObject(notFound);
    for (const bad of ['nonsense', `${runtimeId}.call_0123456789abcdef01234567`])
      expect((await raw(runtimePath(), 'tasks/get', { taskId: bad })).error).toMatchObject(notFound);
  });

  it('answers tasks/* without the extension with -32021, and gives clients without it the plain result', async () => {
    const created = await raw(runtimePath(), 'tools/call', { name: 'run_command', arguments: { command: 'echo x' } });
    const taskId = (created.result as Json).taskId as string;
    for (const method of ['tasks/get', 'tasks/cancel', 'tasks/update'])
      expect(
        (await raw(runtimePath(), method, { taskId, inputResponses: {} }, { extensions: {} })).error,
      ).toMatchObject({
        code: -32021,
        data: { requiredCapabilities: { extensions: { [TASKS]: {} } } },
      });
    // tasks/update on a known task is acknowledged: no task of the relay asks for input.
    expect((await raw(runtimePath(), 'tasks/update', { taskId, inputResponses: {} })).result).toMatchObject({
      resultType: 'complete',
    });

    // Without the extension: the tool result itself, as before.
    const plain = await raw(
      runtimePath(),
      'tools/call',
      { name: 'run_command', arguments: { command: 'echo plain' } },
      { extensions: {} },
    );
    expect(plain.result).toMatchObject({
      resultType: 'complete',
      structuredContent: { output: expect.stringMatching(/^plain\r?\n$/) },
    });
    expect(plain.result).not.toHaveProperty('taskId');
    // With it, a tool that is no task tool still answers at once.
    const stat = await raw(runtimePath(), 'tools/call', { name: 'stat', arguments: { path: '.' } });
    expect(stat.result).toMatchObject({ resultType: 'complete', structuredContent: { type: 'dir' } });

    const legacy = new LegacyClient({ name: 'tether-legacy-test', version: '1.0.0' });
    clients.push(legacy);
    await legacy.connect(
      new LegacyTransport(new URL(`${stack.relay.url}${runtimePath()}`), {
        requestInit: { headers: { authorization: `Bearer ${stack.platformKey}` } },
      }),
    );
    expect(legacy.getServerCapabilities()).not.toHaveProperty('extensions');
    const result = await legacy.callTool({ name: 'run_command', arguments: { command: 'echo legacy' } });
    expect(result.structuredContent).toMatchObject({ exitCode: 0, output: expect.stringMatching(/^legacy\r?\n$/) });

    // Task requests are counted by method in the relay's metrics (not as `other`).
    const metrics = await (await fetch(`${stack.relay.url}/metrics`)).text();
    for (const method of ['tasks/get', 'tasks/cancel', 'tasks/update'])
      expect(metrics).toMatch(new RegExp(`tether_relay_mcp_requests_total\\{[^}]*method="${method}"`));
  });
});
