import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, McpSubscription } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRelay } from '@tether/relay';
import { MODERN, connectModernClient } from './test-mcp-client.js';
import { startStack, waitFor, type StartRelay } from './test-stack.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * MCP features end to end with the official SDK clients (v2 for 2026-07-28, v1 for
 * 2025-11-25) against a real relay and a real desktop host over a real folder: cancelling a
 * running command, progress, the org-wide endpoint's file resources, and resource change
 * notifications from the host's watcher on a `subscriptions/listen` stream.
 */
describe('MCP features through a real relay and desktop host', () => {
  let stack: Stack;
  let runtimeId: string;
  let grant: string;
  const clients: Array<{ close(): Promise<void> }> = [];

  async function modernClient(path: string, token = stack.platformKey): Promise<Client> {
    const client = await connectModernClient(`${stack.relay.url}${path}`, token, 'tether-features-test');
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    stack = await startStack(startRelay as unknown as StartRelay, {
      policy: { read: 'allow', write: 'allow', shell: 'allow' },
    });
    runtimeId = (await stack.runtimeIn('running')).id;
    await mkdir(join(stack.workspaceDir, 'notes'));
    await writeFile(join(stack.workspaceDir, 'notes', 'a b.txt'), 'first\n');
    // A grant without read_file: resources are refused to it.
    const minted = await stack.platform('POST', '/v1/grants', {
      runtimeIds: [runtimeId],
      tools: ['stat'],
      ttlSeconds: 600,
      label: 'stat only',
    });
    expect(minted.status).toBe(200);
    grant = minted.body.token;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.dispose();
  });

  it('cancels a running command on the desktop when the client cancels, and no result arrives', async () => {
    const client = await modernClient(`/v1/runtimes/${runtimeId}/mcp`);
    const controller = new AbortController();
    const progress: Array<{ progress: number; total?: number }> = [];
    let settled: 'result' | 'error' | null = null;
    const call = client
      .callTool(
        { name: 'run_command', arguments: { command: 'echo started; sleep 30; echo finished' } },
        { signal: controller.signal, onprogress: (p: { progress: number; total?: number }) => progress.push(p) },
      )
      .then(
        () => (settled = 'result'),
        () => (settled = 'error'),
      );
    // The command runs on the desktop: the host's process list has it.
    await waitFor(
      async () => (await stack.host.api.request('process:list', {})).processes.some((p) => p.endedAt === undefined),
      'the command to run on the desktop',
    );
    await waitFor(() => progress.length > 0, 'a progress notification');
    controller.abort();
    await call;
    expect(settled).toBe('error');
    // The host ended the command and logged the call as cancelled.
    const entry = await waitFor(
      async () =>
        (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries.find(
          (e) => e.errorCode === 'cancelled',
        ),
      'the cancelled call in the activity log',
    );
    expect(entry.outcome).toBe('error');
    expect((await stack.host.api.request('process:list', {})).processes.some((p) => p.endedAt === undefined)).toBe(
      false,
    );
    // Output has no known end: progress only increases, with no invented total.
    expect(progress.every((p, i) => p.total === undefined && (i === 0 || p.progress > progress[i - 1]!.progress))).toBe(
      true,
    );
  });

  it('ends a 2026-07-28 call stream without a result after notifications/cancelled, read to its end', async () => {
    const url = `${stack.relay.url}/v1/runtimes/${runtimeId}/mcp`;
    const envelope = {
      'io.modelcontextprotocol/protocolVersion': MODERN,
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const post = (body: Record<string, unknown>, name?: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${stack.platformKey}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': MODERN,
          'mcp-method': String(body.method),
          ...(name ? { 'mcp-name': name } : {}),
        },
        body: JSON.stringify(body),
      });
    const before = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries.length;
    const answer = await post(
      {
        jsonrpc: '2.0',
        id: 'raw-1',
        method: 'tools/call',
        params: {
          name: 'run_command',
          arguments: { command: 'echo started; sleep 30' },
          _meta: { ...envelope, progressToken: 'p-1' },
        },
      },
      'run_command',
    );
    expect(answer.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = answer.body!.getReader();
    let text = '';
    while (!text.includes('notifications/progress')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const cancel = await post({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 'raw-1', _meta: envelope },
    });
    expect(cancel.status).toBe(202);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    // The stream ended with progress in it and no JSON-RPC response for the call.
    expect(text).toContain('notifications/progress');
    expect(text).not.toMatch(/"result"|"error"/);
    const entries = await waitFor(async () => {
      const list = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries;
      return list.length > before ? list : null;
    }, 'the raw call in the activity log');
    expect(entries[0]!.errorCode).toBe('cancelled');
  });

  it('sends no result after notifications/cancelled from a 2025-era client, and the desktop cancels', async () => {
    const legacy = new LegacyClient({ name: 'tether-legacy-test', version: '1.0.0' });
    clients.push(legacy);
    await legacy.connect(
      new LegacyTransport(new URL(`${stack.relay.url}/v1/runtimes/${runtimeId}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${stack.platformKey}` } },
      }),
    );
    const before = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries.length;
    const controller = new AbortController();
    const call = legacy
      .callTool({ name: 'run_command', arguments: { command: 'sleep 30' } }, undefined, { signal: controller.signal })
      .then(
        () => 'result',
        () => 'error',
      );
    await waitFor(
      async () => (await stack.host.api.request('process:list', {})).processes.some((p) => p.endedAt === undefined),
      'the command to run on the desktop',
    );
    // The v1 client sends notifications/cancelled in its own POST, then forgets the request.
    controller.abort('the test cancels');
    expect(await call).toBe('error');
    const entries = await waitFor(async () => {
      const list = (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries;
      return list.length > before ? list : null;
    }, 'the second command in the activity log');
    expect(entries[0]!.errorCode).toBe('cancelled');
  });

  it('serves files on the org-wide endpoint as tether://{runtime}/{+path}', async () => {
    const client = await modernClient('/v1/mcp');
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['tether://{runtime}/{+path}']);
    expect(resourceTemplates[0]!.description).toContain(runtimeId);
    const read = await client.readResource({ uri: `tether://${runtimeId}/notes/a%20b.txt` });
    expect(read.contents[0]).toMatchObject({ uri: `tether://${runtimeId}/notes/a%20b.txt`, text: 'first\n' });
    const hello = await client.readResource({ uri: `tether://${runtimeId}/hello.txt` });
    expect(hello.contents[0]).toMatchObject({ text: 'hello from the workspace\n' });
    // A runtime the token may not use is unknown; a path outside the folder is refused by the desktop.
    await expect(client.readResource({ uri: 'tether://rt_nosuchruntime/hello.txt' })).rejects.toThrow(/not_found/);
    await expect(client.readResource({ uri: `tether://${runtimeId}/../outside.txt` })).rejects.toThrow(
      /path_outside_workspace|not_found|forbidden/,
    );
    await expect(client.readResource({ uri: `file:///hello.txt` })).rejects.toThrow(/not a runtime file URI/);
  });

  it('refuses org-wide resources to a grant without read_file, and hides runtimes outside a grant', async () => {
    const client = await modernClient('/v1/mcp', grant);
    await expect(client.readResource({ uri: `tether://${runtimeId}/hello.txt` })).rejects.toThrow(/forbidden/);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates[0]!.description).not.toContain(runtimeId);
  });

  it('notifies resources/updated from the desktop watcher on a subscriptions/listen stream', async () => {
    for (const [path, uri] of [
      [`/v1/runtimes/${runtimeId}/mcp`, 'file:///notes/a%20b.txt'],
      ['/v1/mcp', `tether://${runtimeId}/notes/a%20b.txt`],
    ] as const) {
      const client = await modernClient(path);
      expect(client.getServerCapabilities()?.resources).toMatchObject({ subscribe: true });
      const updated: string[] = [];
      client.setNotificationHandler('notifications/resources/updated', (n) => {
        updated.push(n.params.uri);
      });
      const subscription: McpSubscription = await client.listen({ resourceSubscriptions: [uri] });
      expect(subscription.honoredFilter.resourceSubscriptions).toEqual([uri]);
      // Another file's change is not told.
      await writeFile(join(stack.workspaceDir, 'hello.txt'), `changed for ${path}\n`);
      await writeFile(join(stack.workspaceDir, 'notes', 'a b.txt'), `second for ${path}\n`);
      await waitFor(() => updated.length > 0, `notifications/resources/updated on ${path}`);
      expect(new Set(updated)).toEqual(new Set([uri]));
      const read = await client.readResource({ uri });
      expect(read.contents[0]).toMatchObject({ text: `second for ${path}\n` });
      await subscription.close();
    }
  });

  it('refuses a listen stream on a file URI the token may not read', async () => {
    const client = await modernClient(`/v1/runtimes/${runtimeId}/mcp`, grant);
    await expect(client.listen({ resourceSubscriptions: ['file:///hello.txt'] })).rejects.toThrow(/forbidden/);
    const org = await modernClient('/v1/mcp');
    await expect(org.listen({ resourceSubscriptions: ['tether://rt_nosuchruntime/a.txt'] })).rejects.toThrow(
      /not_found/,
    );
  });

  it('offers no resource subscriptions to a 2025-era client (no session stream to carry them)', async () => {
    const legacy = new LegacyClient({ name: 'tether-legacy-test', version: '1.0.0' });
    clients.push(legacy);
    await legacy.connect(
      new LegacyTransport(new URL(`${stack.relay.url}/v1/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${stack.platformKey}` } },
      }),
    );
    expect(legacy.getServerCapabilities()?.resources?.subscribe).toBeUndefined();
    const read = await legacy.readResource({ uri: `tether://${runtimeId}/hello.txt` });
    expect(read.contents[0]).toHaveProperty('text');
  });
});
