import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallFrame } from '@tether/shared';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

/**
 * The org-wide MCP endpoint `/v1/mcp`: one connector for every runtime a token may use, with
 * the same tenancy as the per-runtime endpoint (a grant sees only its runtimes and tools,
 * another org's runtime is unknown).
 */
describe('org-wide MCP endpoint /v1/mcp', () => {
  let t: TestRelay;
  let desktop: FakeDesktop;
  let otherDesktop: FakeDesktop;
  let runtimeA: string;
  let runtimeB: string;
  let theirs: string;
  const clients: Array<{ close(): Promise<void> }> = [];

  async function connect(token: string): Promise<Client> {
    const client = new Client({ name: 'org-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    clients.push(client);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${t.relay.url}/v1/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  // A search is left unanswered: the cancel test stops it.
  const answer = (call: CallFrame, d: FakeDesktop) => {
    if (call.tool !== 'search') d.succeed(call.id, { path: 'a.txt', type: 'file', size: 1, mtimeMs: 1, mode: 420 });
  };

  beforeAll(async () => {
    t = await startTestRelay();
    desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    const welcome = await desktop.hello({ deviceId: 'dev-a', name: 'laptop', os: 'linux' }, [
      testWorkspace('alpha'),
      testWorkspace('beta', {
        capabilities: { policy: { read: 'allow', write: 'deny', shell: 'deny' }, tools: ['stat', 'write_file'] },
      }),
    ]);
    runtimeA = welcome.runtimes.find((r) => r.workspaceId === 'alpha')!.runtimeId;
    runtimeB = welcome.runtimes.find((r) => r.workspaceId === 'beta')!.runtimeId;
    desktop.onCall = answer;

    await t.relay.admin.createOrg('other');
    const otherToken = (await t.relay.admin.createToken({ org: 'other', kind: 'desktop' })).token;
    otherDesktop = await FakeDesktop.connect(t.relay.wsUrl, otherToken);
    theirs = (await otherDesktop.hello({ deviceId: 'dev-o', name: 'theirs', os: 'linux' }, [testWorkspace('x')]))
      .runtimes[0]!.runtimeId;
    otherDesktop.onCall = answer;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    desktop?.ws.close();
    otherDesktop?.ws.close();
    await t?.dispose();
  });

  it("lists every runtime of the key's org and offers each tool with a runtime argument", async () => {
    const client = await connect(t.platformKey);
    const listed = await client.callTool({ name: 'list_runtimes', arguments: {} });
    const runtimes = (listed.structuredContent as { runtimes: Array<{ id: string; tools: string[] }> }).runtimes;
    expect(runtimes.map((r) => r.id).sort()).toEqual([runtimeA, runtimeB].sort());
    expect(runtimes.find((r) => r.id === runtimeB)?.tools).toEqual(['stat']);

    const { tools } = await client.listTools();
    const stat = tools.find((tool) => tool.name === 'stat');
    const runtimeArg = (stat?.inputSchema.properties as Record<string, { enum?: string[] }>).runtime;
    expect(runtimeArg?.enum?.sort()).toEqual([runtimeA, runtimeB].sort());
    expect(stat?.inputSchema.required).toContain('runtime');
    // write_file is on in beta but its policy denies writes; alpha has it: offered for alpha only.
    const write = tools.find((tool) => tool.name === 'write_file');
    expect((write?.inputSchema.properties as Record<string, { enum?: string[] }>).runtime?.enum).toEqual([runtimeA]);
  });

  it('routes a call to the runtime it names, without passing the runtime argument on', async () => {
    const client = await connect(t.platformKey);
    const result = await client.callTool({ name: 'stat', arguments: { runtime: runtimeB, path: 'a.txt' } });
    expect(result.isError).toBeFalsy();
    const call = await desktop.next('call', (f) => f.tool === 'stat' && f.runtimeId === runtimeB);
    expect(call.args).toEqual({ path: 'a.txt' });
  });

  it("answers another org's runtime as unknown and never reaches its desktop", async () => {
    const client = await connect(t.platformKey);
    const result = await client.callTool({ name: 'stat', arguments: { runtime: theirs, path: 'a.txt' } });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ error: { code: 'not_found' } });
    expect(otherDesktop.frames.some((f) => f.type === 'call')).toBe(false);
  });

  it("refuses a tool the runtime's policy denies, and a call without a runtime", async () => {
    const client = await connect(t.platformKey);
    const denied = await client.callTool({
      name: 'write_file',
      arguments: { runtime: runtimeB, path: 'x', content: 'x' },
    });
    expect(denied.structuredContent).toMatchObject({ error: { code: 'policy_denied' } });
    const missing = await client.callTool({ name: 'stat', arguments: { path: 'a.txt' } });
    expect(missing.structuredContent).toMatchObject({ error: { code: 'invalid_args' } });
  });

  it('shows a grant only its runtimes and tools, for a 2025-era client too', async () => {
    const minted = await t.api('/v1/grants', {
      method: 'POST',
      json: { runtimeIds: [runtimeA], tools: ['stat'], ttlSeconds: 60, label: 'one folder' },
    });
    expect(minted.status).toBe(200);
    const client = new LegacyClient({ name: 'org-legacy', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new LegacyTransport(new URL(`${t.relay.url}/v1/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${minted.body.token as string}` } },
      }),
    );
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['list_runtimes', 'stat']);
    expect((tools[1]!.inputSchema.properties as Record<string, { enum?: string[] }>).runtime?.enum).toEqual([runtimeA]);
    const listed = await client.callTool({ name: 'list_runtimes', arguments: {} });
    expect((listed.structuredContent as { runtimes: Array<{ id: string }> }).runtimes.map((r) => r.id)).toEqual([
      runtimeA,
    ]);
    const outside = await client.callTool({ name: 'stat', arguments: { runtime: runtimeB, path: 'a.txt' } });
    expect(outside.structuredContent).toMatchObject({ error: { code: 'not_found' } });
    const ungranted = await client.callTool({ name: 'read_file', arguments: { runtime: runtimeA, path: 'a.txt' } });
    expect(ungranted.structuredContent).toMatchObject({ error: { code: 'forbidden' } });
  });

  it('cancels a call on notifications/cancelled from a 2025-era client, and sends no result for it', async () => {
    const headers = {
      authorization: `Bearer ${t.platformKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    };
    const url = `${t.relay.url}/v1/mcp`;
    const pending = fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 77,
        method: 'tools/call',
        params: { name: 'search', arguments: { runtime: runtimeA, pattern: 'x' } },
      }),
    });
    const call = await desktop.next('call', (f) => f.tool === 'search');
    const cancel = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77 } }),
    });
    expect(cancel.status).toBe(202);
    await desktop.next('cancel', (f) => f.id === call.id);
    expect(await (await pending).text()).not.toContain('"result"');
  });

  it('answers 401 without a token', async () => {
    const res = await fetch(`${t.relay.url}/v1/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
  });
});
