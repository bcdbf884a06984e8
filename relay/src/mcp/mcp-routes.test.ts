import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  DEFAULT_POLICY,
  PROTOCOL_VERSION,
  parseRelayFrame,
  toolInputJsonSchema,
  type CallFrame,
  type RefusedFrame,
  type Policy,
  type ToolName,
  type WorkspaceAnnouncement,
} from '@tether/shared';
import { startRelay } from '../index.js';

type Relay = Awaited<ReturnType<typeof startRelay>>;

const READ_TOOLS: ToolName[] = ['read_file', 'list_dir', 'glob', 'search', 'stat'];

function workspace(
  workspaceId: string,
  state: WorkspaceAnnouncement['state'],
  tools: ToolName[],
  policy: Policy = DEFAULT_POLICY,
): WorkspaceAnnouncement {
  return {
    workspaceId,
    name: `Workspace ${workspaceId}`,
    description: 'a test workspace',
    state,
    capabilities: { policy, tools },
  };
}

/**
 * A desktop played by a real WebSocket client: says hello per the wire protocol and answers
 * `call` frames from a real folder (read_file), with progress output for run_command.
 */
class FakeDesktop {
  readonly calls: CallFrame[] = [];
  readonly cancelledIds: string[] = [];
  /** `refused` frames: calls the relay refused before delivery. */
  readonly refused: RefusedFrame[] = [];
  /** Number of `runtimes` frames received (the relay's answer to a `workspaces` frame). */
  runtimesFrames = 0;
  runtimeIds = new Map<string, string>();
  private constructor(
    private readonly ws: WebSocket,
    private readonly root: string,
  ) {}

  static async connect(
    wsUrl: string,
    token: string,
    deviceId: string,
    root: string,
    workspaces: WorkspaceAnnouncement[],
  ): Promise<FakeDesktop> {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    const desktop = new FakeDesktop(ws, root);
    ws.on('error', () => undefined);
    const welcomed = new Promise<void>((resolve, reject) => {
      ws.once('close', (code, reason) => reject(new Error(`closed before welcome: ${code} ${reason.toString()}`)));
      ws.on('message', (data) => {
        const parsed = parseRelayFrame(data.toString());
        if (!parsed.ok) return reject(new Error(parsed.error.message));
        const frame = parsed.frame;
        if (frame.type === 'welcome') {
          for (const r of frame.runtimes) desktop.runtimeIds.set(r.workspaceId, r.runtimeId);
          resolve();
        } else if (frame.type === 'call') {
          desktop.calls.push(frame);
          void desktop.answer(frame);
        } else if (frame.type === 'cancel') {
          desktop.cancelledIds.push(frame.id);
        } else if (frame.type === 'runtimes') {
          desktop.runtimesFrames++;
        } else if (frame.type === 'refused') {
          desktop.refused.push(frame);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        device: { deviceId, name: deviceId, os: 'linux' },
        appVersion: 'test',
        workspaces,
      }),
    );
    await welcomed;
    return desktop;
  }

  runtime(workspaceId: string): string {
    const id = this.runtimeIds.get(workspaceId);
    if (!id) throw new Error(`no runtime for ${workspaceId}`);
    return id;
  }

  private async answer(frame: CallFrame): Promise<void> {
    const args = frame.args as Record<string, unknown>;
    if (frame.tool === 'read_file') {
      const content = await readFile(join(this.root, String(args.path)), 'utf8');
      const lines = content.split('\n').length;
      this.send({
        type: 'result',
        id: frame.id,
        ok: true,
        value: {
          path: args.path,
          content,
          encoding: 'utf8',
          totalLines: lines,
          offset: 0,
          count: lines,
          size: content.length,
          truncated: false,
        },
      });
    } else if (frame.tool === 'run_command') {
      this.send({ type: 'progress', id: frame.id, status: 'running' });
      this.send({ type: 'progress', id: frame.id, status: 'output', chunk: 'hello ' });
      this.send({ type: 'progress', id: frame.id, status: 'output', chunk: 'world\n' });
      this.send({
        type: 'result',
        id: frame.id,
        ok: true,
        value: { exitCode: 0, signal: null, output: 'hello world\n', truncated: false, durationMs: 3, timedOut: false },
      });
    } else if (frame.tool === 'search') {
      // A search that never finishes: the tests cancel it.
    } else {
      this.send({
        type: 'result',
        id: frame.id,
        ok: false,
        error: { code: 'not_found', message: `fake desktop has no ${frame.tool}` },
      });
    }
  }

  /** Announces changed workspaces, as the app does when the person edits one. */
  announce(workspaces: WorkspaceAnnouncement[]): void {
    this.send({ type: 'workspaces', workspaces });
  }

  private send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.ws.once('close', resolve));
    this.ws.close();
    await closed;
  }
}

/** Polls until `condition` holds (no fixed sleeps: the box may be loaded). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('registerMcpRoutes', () => {
  let relay: Relay;
  let dataDir: string;
  let root: string;
  let platformKey: string;
  let desktopToken: string;
  let otherOrgKey: string;
  let desktop: FakeDesktop;
  let otherDesktop: FakeDesktop;
  const clients: Client[] = [];

  const mcpUrl = (runtimeId: string) => new URL(`${relay.url}/v1/runtimes/${runtimeId}/mcp`);

  async function connectClient(runtimeId: string, token: string | undefined): Promise<Client> {
    const client = new Client({ name: 'tether-test', version: '1.0.0' });
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    const transport = new StreamableHTTPClientTransport(mcpUrl(runtimeId), { requestInit: { headers } });
    clients.push(client);
    await client.connect(transport);
    return client;
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tether-mcp-data-'));
    root = await mkdtemp(join(tmpdir(), 'tether-mcp-ws-'));
    await writeFile(join(root, 'notes.txt'), 'first line\nsecond line\n');
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent' });
    await relay.admin.createOrg('acme');
    await relay.admin.createOrg('other');
    desktopToken = (await relay.admin.createToken({ org: 'acme', kind: 'desktop' })).token;
    platformKey = (await relay.admin.createToken({ org: 'acme', kind: 'platform', name: 'test platform' })).token;
    const otherDesktopToken = (await relay.admin.createToken({ org: 'other', kind: 'desktop' })).token;
    otherOrgKey = (await relay.admin.createToken({ org: 'other', kind: 'platform' })).token;
    const wsUrl = relay.wsUrl;
    desktop = await FakeDesktop.connect(wsUrl, desktopToken, 'device-a', root, [
      workspace('proj', 'running', [...READ_TOOLS, 'run_command']),
      workspace('paused', 'paused', READ_TOOLS),
      workspace('locked', 'running', [...READ_TOOLS, 'write_file', 'run_command'], {
        read: 'allow',
        write: 'deny',
        shell: 'deny',
      }),
    ]);
    otherDesktop = await FakeDesktop.connect(wsUrl, otherDesktopToken, 'device-b', root, [
      workspace('theirs', 'running', READ_TOOLS),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await desktop?.close();
    await otherDesktop?.close();
    await relay?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });

  describe('tools/list', () => {
    it("lists the runtime's enabled tools with the catalog's JSON schemas", async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([...READ_TOOLS, 'run_command'].sort());
      const readFileTool = tools.find((t) => t.name === 'read_file');
      expect(readFileTool?.inputSchema).toEqual(toolInputJsonSchema('read_file'));
      expect(readFileTool?.description).toMatch(/Read a text file/);
      expect(readFileTool?.annotations?.readOnlyHint).toBe(true);
      expect(tools.find((t) => t.name === 'run_command')?.annotations?.readOnlyHint).toBe(false);
    });
  });

  describe('tools/list with a denying policy', () => {
    it('leaves out the tools of denied categories, and refuses them with policy_denied', async () => {
      const client = await connectClient(desktop.runtime('locked'), platformKey);
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([...READ_TOOLS].sort());
      const result = (await client.callTool({ name: 'run_command', arguments: { command: 'true' } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ error: { code: 'policy_denied' } });
      expect(desktop.calls.some((c) => c.workspaceId === 'locked')).toBe(false);
      // The desktop hears of it, for the person's activity log.
      await until(() => desktop.refused.some((f) => f.workspaceId === 'locked'), 'a refused frame');
      expect(desktop.refused.find((f) => f.workspaceId === 'locked')).toMatchObject({
        runtimeId: desktop.runtime('locked'),
        tool: 'run_command',
        code: 'policy_denied',
      });
    });
  });

  describe('tools/list after a change', () => {
    it('reflects a workspace whose tools the person switched off since the last request', async () => {
      const editor = await FakeDesktop.connect(relay.wsUrl, desktopToken, 'device-c', root, [
        workspace('edit', 'running', READ_TOOLS),
      ]);
      try {
        const runtimeId = editor.runtime('edit');
        const before = await connectClient(runtimeId, platformKey);
        expect((await before.listTools()).tools).toHaveLength(READ_TOOLS.length);
        editor.announce([workspace('edit', 'running', ['read_file'])]);
        await until(() => editor.runtimesFrames === 1, 'the relay to take the new announcement');
        const after = await connectClient(runtimeId, platformKey);
        expect((await after.listTools()).tools.map((t) => t.name)).toEqual(['read_file']);
      } finally {
        await editor.close();
      }
    });
  });

  describe('tools/call', () => {
    it('runs a tool on the desktop and returns its result as text and structured content', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const result = (await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ path: 'notes.txt', content: 'first line\nsecond line\n' });
      const text = result.content[0];
      expect(text?.type).toBe('text');
      expect(JSON.parse(text?.type === 'text' ? text.text : '')).toMatchObject({
        content: 'first line\nsecond line\n',
      });
      // The desktop got the call with the key's name as the caller, for the person's eyes.
      const call = desktop.calls.find((c) => c.tool === 'read_file');
      expect(call).toMatchObject({
        runtimeId: desktop.runtime('proj'),
        workspaceId: 'proj',
        args: { path: 'notes.txt' },
        caller: 'test platform',
      });
    });

    it('sends output chunks as progress notifications when the client gives a progress token', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const messages: string[] = [];
      const result = (await client.callTool(
        { name: 'run_command', arguments: { command: 'echo hello world' } },
        undefined,
        {
          onprogress: (p) => messages.push(p.message ?? ''),
        },
      )) as CallToolResult;
      expect(result.structuredContent).toMatchObject({ exitCode: 0, output: 'hello world\n' });
      expect(messages.filter((m) => m !== 'running').join('')).toBe('hello world\n');
    });

    it('returns isError with runtime_paused when the person paused the workspace', async () => {
      const client = await connectClient(desktop.runtime('paused'), platformKey);
      const result = (await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ error: { code: 'runtime_paused' } });
      expect(result._meta?.['tether/callId']).toEqual(expect.stringMatching(/^call_/));
      expect(result.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/^runtime_paused: /) });
    });

    it('returns isError with tool_disabled for a tool the workspace switched off', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const result = (await client.callTool({
        name: 'write_file',
        arguments: { path: 'x.txt', content: 'x' },
      })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ error: { code: 'tool_disabled' } });
      expect(desktop.calls.some((c) => c.tool === 'write_file')).toBe(false);
    });

    it('returns isError with invalid_args for arguments that fail the tool schema', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const result = (await client.callTool({
        name: 'read_file',
        arguments: { path: 'notes.txt', limit: -1 },
      })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ error: { code: 'invalid_args' } });
    });

    it('cancels the call on the desktop when the client cancels the request', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const before = desktop.calls.length;
      const abort = new AbortController();
      const pending = client.callTool({ name: 'search', arguments: { pattern: 'never' } }, undefined, {
        signal: abort.signal,
      });
      await until(() => desktop.calls.slice(before).some((c) => c.tool === 'search'), 'the call to reach the desktop');
      const call = desktop.calls.slice(before).find((c) => c.tool === 'search')!;
      abort.abort();
      await expect(pending).rejects.toThrow();
      // The cancel notification comes in its own HTTP request and still finds the call.
      await until(() => desktop.cancelledIds.includes(call.id), 'a cancel frame at the desktop');
    });

    it('cancels the call on the desktop when the client goes away', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      const before = desktop.calls.length;
      const pending = client.callTool({ name: 'search', arguments: { pattern: 'never again' } });
      await until(() => desktop.calls.slice(before).some((c) => c.tool === 'search'), 'the call to reach the desktop');
      const call = desktop.calls.slice(before).find((c) => c.tool === 'search')!;
      await client.close();
      await expect(pending).rejects.toThrow();
      await until(() => desktop.cancelledIds.includes(call.id), 'a cancel frame at the desktop');
    });

    it('answers an unknown tool name with an MCP protocol error', async () => {
      const client = await connectClient(desktop.runtime('proj'), platformKey);
      await expect(client.callTool({ name: 'format_disk', arguments: {} })).rejects.toThrow(/unknown_tool/);
    });
  });

  describe('authentication and visibility', () => {
    it('answers 401 without a token', async () => {
      const error = await connectClient(desktop.runtime('proj'), undefined).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamableHTTPError);
      expect((error as StreamableHTTPError).code).toBe(401);
    });

    it('answers 401 for a desktop token', async () => {
      const desktopToken = (await relay.admin.createToken({ org: 'acme', kind: 'desktop' })).token;
      const error = await connectClient(desktop.runtime('proj'), desktopToken).catch((e: unknown) => e);
      expect((error as StreamableHTTPError).code).toBe(401);
    });

    it("answers 404 for another org's runtime", async () => {
      const error = await connectClient(otherDesktop.runtime('theirs'), platformKey).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamableHTTPError);
      expect((error as StreamableHTTPError).code).toBe(404);
      // …which its own org's key does see.
      const client = await connectClient(otherDesktop.runtime('theirs'), otherOrgKey);
      expect((await client.listTools()).tools.length).toBe(READ_TOOLS.length);
    });

    it('answers 405 to GET: the endpoint is stateless and offers no server stream', async () => {
      const res = await fetch(mcpUrl(desktop.runtime('proj')), {
        headers: { authorization: `Bearer ${platformKey}`, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
      await res.body?.cancel();
    });
  });

  describe('grants', () => {
    async function mintGrant(body: Record<string, unknown>): Promise<string> {
      const res = await fetch(`${relay.url}/v1/grants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${platformKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { token: string }).token;
    }

    it('lists and runs only the tools the grant names', async () => {
      const grant = await mintGrant({
        runtimeIds: [desktop.runtime('proj')],
        tools: ['read_file', 'stat', 'write_file'],
        ttlSeconds: 60,
        label: 'stage 1',
      });
      const client = await connectClient(desktop.runtime('proj'), grant);
      // write_file is granted but switched off in the workspace: not listed either.
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['read_file', 'stat']);
      const ok = (await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } })) as CallToolResult;
      expect(ok.isError).toBeFalsy();
      expect(desktop.calls.at(-1)?.caller).toBe('stage 1');
      const refused = (await client.callTool({ name: 'list_dir', arguments: {} })) as CallToolResult;
      expect(refused.isError).toBe(true);
      expect(refused.structuredContent).toMatchObject({ error: { code: 'forbidden' } });
    });

    it('answers 404 for a runtime the grant does not name', async () => {
      const grant = await mintGrant({ runtimeIds: [desktop.runtime('proj')], ttlSeconds: 60, label: 'stage 2' });
      const error = await connectClient(desktop.runtime('paused'), grant).catch((e: unknown) => e);
      expect((error as StreamableHTTPError).code).toBe(404);
    });
  });
});
