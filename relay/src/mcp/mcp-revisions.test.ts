import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { toolResultJsonSchema, type CallFrame } from '@tether/shared';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { eventually, startTestRelay, type TestRelay } from '../testing/test-relay.js';

const MODERN = '2026-07-28';

/**
 * The runtime MCP endpoint serving both protocol eras on one URL: 2026-07-28 (stateless,
 * `server/discover`, per-request `_meta`, `Mcp-Method`/`Mcp-Name` headers) through the
 * official v2 client, and 2025-11-25 through the v1 client, against a real relay and a
 * WebSocket desktop.
 */
describe('MCP protocol revisions on /v1/runtimes/:id/mcp', () => {
  let t: TestRelay;
  let desktop: FakeDesktop;
  let runtimeId: string;
  const clients: Array<{ close(): Promise<void> }> = [];

  const mcpUrl = () => new URL(`${t.relay.url}/v1/runtimes/${runtimeId}/mcp`);

  async function modernClient(token = t.platformKey): Promise<Client> {
    const client = new Client(
      { name: 'tether-modern-test', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: MODERN } } },
    );
    const transport = new StreamableHTTPClientTransport(mcpUrl(), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    clients.push(client);
    await client.connect(transport);
    return client;
  }

  /** One raw 2026-07-28 POST, as a client without an SDK would send it. */
  async function rawModern(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(mcpUrl(), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.platformKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': MODERN,
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  const envelope = {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };

  beforeAll(async () => {
    t = await startTestRelay();
    desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'laptop', os: 'linux' }, [testWorkspace('ws')]);
    runtimeId = welcome.runtimes[0]!.runtimeId;
    desktop.onCall = (call: CallFrame, d) => {
      if (call.tool === 'stat') {
        d.succeed(call.id, { path: 'a.txt', type: 'file', size: 3, mtimeMs: 1, mode: 420 });
      } else if (call.tool === 'run_command') {
        d.send({ type: 'progress', id: call.id, status: 'output', chunk: 'hi\n' });
        d.succeed(call.id, {
          exitCode: 0,
          signal: null,
          output: 'hi\n',
          truncated: false,
          durationMs: 1,
          timedOut: false,
        });
      }
      if (call.tool === 'read_file') {
        const args = call.args as { path: string; encoding?: string };
        if (args.path === 'bin.dat' && args.encoding !== 'base64')
          d.send({ type: 'result', id: call.id, ok: false, error: { code: 'binary_file', message: 'binary' } });
        else if (args.path === 'bin.dat')
          d.succeed(call.id, {
            path: args.path,
            content: 'AAEC',
            encoding: 'base64',
            offset: 0,
            count: 3,
            size: 3,
            truncated: false,
          });
        else
          d.succeed(call.id, {
            path: args.path,
            content: 'hello\n',
            encoding: 'utf8',
            totalLines: 2,
            offset: 0,
            count: 2,
            size: 6,
            truncated: false,
          });
      }
      // search is left unanswered: the tests cancel it.
    };
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    desktop?.ws.close();
    await t?.dispose();
  });

  it('negotiates 2026-07-28 with server/discover and calls a tool without any initialize', async () => {
    const client = await modernClient();
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    const { tools } = await client.listTools();
    const stat = tools.find((tool) => tool.name === 'stat');
    expect(stat).toMatchObject({ title: 'File information' });
    const { $schema: _dialect, ...statResult } = toolResultJsonSchema('stat');
    expect(stat?.outputSchema?.anyOf).toContainEqual(statResult);
    expect(stat?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, openWorldHint: false });
    expect(tools.find((tool) => tool.name === 'mkdir')?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
    });
    expect(tools.find((tool) => tool.name === 'run_command')?.annotations).toMatchObject({
      destructiveHint: true,
      openWorldHint: true,
    });
    const result = await client.callTool({ name: 'stat', arguments: { path: 'a.txt' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ path: 'a.txt', type: 'file', size: 3 });
  });

  it('delivers progress to a 2026-07-28 client on the request stream', async () => {
    const client = await modernClient();
    const messages: string[] = [];
    const result = await client.callTool(
      { name: 'run_command', arguments: { command: 'echo hi' } },
      { onprogress: (p) => messages.push(p.message ?? '') },
    );
    expect(result.structuredContent).toMatchObject({ exitCode: 0 });
    expect(messages).toContain('hi\n');
  });

  it('answers server/discover on the raw wire with the revisions it serves', async () => {
    const res = await rawModern(
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: envelope } },
      { 'mcp-method': 'server/discover' },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { supportedVersions: string[]; capabilities: object } };
    expect(body.result.supportedVersions).toContain(MODERN);
    expect(body.result.capabilities).toHaveProperty('tools');
  });

  it('refuses a request whose Mcp-Name header disagrees with its body', async () => {
    const res = await rawModern(
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'stat', arguments: { path: 'a.txt' }, _meta: envelope },
      },
      { 'mcp-method': 'tools/call', 'mcp-name': 'delete' },
    );
    const body = (await res.json()) as { error?: { code: number } };
    expect(body.error?.code).toBe(-32020);
    expect(desktop.frames.filter((f) => f.type === 'call' && f.tool === 'stat')).toHaveLength(1);
  });

  it('cancels the call on the desktop when a 2026-07-28 client closes the request stream', async () => {
    const client = await modernClient();
    const abort = new AbortController();
    const pending = client.callTool({ name: 'search', arguments: { pattern: 'never' } }, { signal: abort.signal });
    const call = await desktop.next('call', (f) => f.tool === 'search');
    abort.abort();
    await expect(pending).rejects.toThrow();
    await desktop.next('cancel', (f) => f.id === call.id);
  });

  it('refuses a browser page of another site (DNS rebinding), and allows loopback pages', async () => {
    const rebinding = await rawModern(
      { jsonrpc: '2.0', id: 3, method: 'server/discover', params: { _meta: envelope } },
      { 'mcp-method': 'server/discover', origin: 'http://evil.example.com', host: 'evil.example.com' },
    );
    expect(rebinding.status).toBe(403);
    expect(await rebinding.json()).toMatchObject({ error: { code: 'forbidden' } });
    const local = await rawModern(
      { jsonrpc: '2.0', id: 4, method: 'server/discover', params: { _meta: envelope } },
      { 'mcp-method': 'server/discover', origin: 'http://localhost:6274' },
    );
    expect(local.status).toBe(200);
  });

  it('serves workspace files as resources through read_file, text or base64', async () => {
    const client = await modernClient();
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([expect.objectContaining({ uriTemplate: 'file:///{+path}' })]);
    const text = await client.readResource({ uri: 'file:///docs/a%20b.md' });
    expect(text.contents).toEqual([expect.objectContaining({ uri: 'file:///docs/a%20b.md', text: 'hello\n' })]);
    const call = await desktop.next(
      'call',
      (f) => f.tool === 'read_file' && (f.args as { path: string }).path === 'docs/a b.md',
    );
    expect(call.runtimeId).toBe(runtimeId);
    const binary = await client.readResource({ uri: 'file:///bin.dat' });
    expect(binary.contents).toEqual([expect.objectContaining({ blob: 'AAEC' })]);
    await expect(client.readResource({ uri: 'https://example.com/x' })).rejects.toThrow(/not a workspace file URI/);
  });

  it('refuses a resource read to a grant without read_file, without reaching the desktop', async () => {
    const minted = await t.api('/v1/grants', {
      method: 'POST',
      json: { runtimeIds: [runtimeId], tools: ['stat'], ttlSeconds: 60, label: 'stat only' },
    });
    const client = await modernClient(minted.body.token as string);
    const before = desktop.frames.length;
    await expect(client.readResource({ uri: 'file:///secret.txt' })).rejects.toThrow(/forbidden/);
    expect(desktop.frames.slice(before).some((f) => f.type === 'call')).toBe(false);
  });

  it('still serves a 2025-11-25 client (initialize first) on the same URL', async () => {
    const client = new LegacyClient({ name: 'tether-legacy-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new LegacyTransport(mcpUrl(), { requestInit: { headers: { authorization: `Bearer ${t.platformKey}` } } }),
    );
    expect(client.getServerVersion()?.name).toBe('tether-relay');
    const result = await client.callTool({ name: 'stat', arguments: { path: 'a.txt' } });
    expect(result.structuredContent).toMatchObject({ type: 'file' });
  });

  it('sends no result for a 2025-era call after notifications/cancelled, and cancels it on the desktop', async () => {
    const headers = {
      authorization: `Bearer ${t.platformKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    };
    const call = fetch(mcpUrl(), {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'c-1',
        method: 'tools/call',
        params: { name: 'search', arguments: { pattern: 'forever' } },
      }),
    });
    const frame = await desktop.next(
      'call',
      (f) => f.tool === 'search' && (f.args as { pattern?: string }).pattern === 'forever',
    );
    const cancel = await fetch(mcpUrl(), {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c-1' } }),
    });
    expect(cancel.status).toBe(202);
    await desktop.next('cancel', (f) => f.id === frame.id);
    const answer = await call;
    const text = await answer.text();
    // The stream ends with no JSON-RPC response in it.
    expect(text).not.toContain('"result"');
    expect(text).not.toContain('"id":"c-1"');
    await eventually(
      () => desktop.frames.filter((f) => f.type === 'cancel' && f.id === frame.id).length,
      (n) => n === 1,
    );
  });
});
