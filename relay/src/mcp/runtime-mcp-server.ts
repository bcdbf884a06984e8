import {
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type CallToolResult,
  type ReadResourceResult,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';
import {
  MAX_READ_LINES,
  TOOL_NAMES,
  TOOLS,
  errorValue,
  isToolName,
  toolInputJsonSchema,
  toolErrorSchema,
  toolResultJsonSchema,
  type RuntimeView,
  type ToolErrorValue,
  type ToolName,
} from '@tether/shared';
import { z } from 'zod';
import type { CallOptions, Principal, RelayServices } from '../services.js';
import { newId } from '../tokens.js';
import { registerTaskHandlers, runsAsTask, startTask, tasksCapability } from './mcp-tasks.js';

/** Name the relay gives itself in `initialize` and `server/discover` answers. */
export const MCP_SERVER_NAME = 'tether-relay';
/** Version reported in `initialize` / `server/discover`; the wire contract is MCP's, this is informational. */
export const MCP_SERVER_VERSION = '0.1.0';

/** `_meta` key under which a tool result carries the relay's call id (for cancel and the audit log). */
export const CALL_ID_META_KEY = 'tether/callId';

/** What one MCP request may see: who asks, and the runtime as it was when the request came in. */
export interface RuntimeMcpContext {
  services: RelayServices;
  principal: Principal;
  runtime: RuntimeView;
  /** Logs unexpected failures; never given tokens or arguments. */
  logError: (message: string, err: unknown) => void;
  /**
   * The protocol era of the request. Resource subscriptions are offered to 2026-07-28 clients
   * only: they subscribe on a `subscriptions/listen` stream; a 2025-era client would need the
   * standalone GET stream of a session, which a stateless endpoint does not have.
   */
  era?: 'legacy' | 'modern';
}

/** The resources capability for an era (see RuntimeMcpContext.era). */
export function resourcesCapability(era: 'legacy' | 'modern' | undefined): { subscribe?: boolean } {
  return era === 'modern' ? { subscribe: true } : {};
}

// JSON schemas never change at run time; building them (zod → JSON Schema) is not free.
const toolCache = new Map<ToolName, Tool>();

/** `structuredContent` of a failed call: `{ error: { code, message, details? } }`. */
const ERROR_CONTENT_SCHEMA = {
  type: 'object',
  properties: { error: z.toJSONSchema(toolErrorSchema, { io: 'input' }) },
  required: ['error'],
};

/**
 * The `outputSchema` of a tool: its result, or the error value of a failed call. Clients of
 * the 2025 SDKs validate `structuredContent` even when `isError` is set, so a schema of the
 * result alone would make every refusal unreadable to them.
 */
function outputSchemaOf(name: ToolName): Tool['outputSchema'] {
  const { $schema, ...result } = toolResultJsonSchema(name);
  void $schema; // the 2020-12 dialect is MCP's default; one declaration at the root is enough
  return { type: 'object', anyOf: [result, ERROR_CONTENT_SCHEMA] } as Tool['outputSchema'];
}

/**
 * The tools this principal may use on this runtime, in catalog order: the workspace's
 * enabled tools (its capabilities), less those whose category its policy denies (an agent
 * should not be offered a tool that can only fail), further limited by a grant's tool list.
 * The desktop still decides every call; this only shapes what is offered.
 */
export function visibleTools(principal: Principal, runtime: RuntimeView): ToolName[] {
  const enabled = new Set(runtime.capabilities.tools);
  const granted = principal.tools === null ? null : new Set(principal.tools);
  const policy = runtime.capabilities.policy;
  return TOOL_NAMES.filter(
    (name) => enabled.has(name) && policy[TOOLS[name].category] !== 'deny' && (granted === null || granted.has(name)),
  );
}

/**
 * The MCP description of one catalog tool: its title, argument schema, the schema of the
 * `structuredContent` a successful call returns, and annotations from the catalog's hints.
 */
export function mcpToolOf(name: ToolName): Tool {
  let tool = toolCache.get(name);
  if (!tool) {
    const spec = TOOLS[name];
    tool = {
      name,
      title: spec.title,
      description: spec.description,
      inputSchema: toolInputJsonSchema(name) as Tool['inputSchema'],
      outputSchema: outputSchemaOf(name),
      annotations: {
        title: spec.title,
        readOnlyHint: spec.hints.readOnly,
        destructiveHint: spec.hints.destructive,
        idempotentHint: spec.hints.idempotent,
        // A shell command may reach anything the machine can; file tools stay in the workspace.
        openWorldHint: spec.category === 'shell',
      },
    };
    toolCache.set(name, tool);
  }
  return tool;
}

/** A failed call as an MCP tool result: the agent sees the stable code first, then the message. */
export function errorResult(error: ToolErrorValue, callId?: string): CallToolResult {
  return {
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    structuredContent: { error },
    isError: true,
    ...(callId !== undefined ? { _meta: { [CALL_ID_META_KEY]: callId } } : {}),
  };
}

export function successResult(callId: string, value: unknown): CallToolResult {
  const isRecord = typeof value === 'object' && value !== null && !Array.isArray(value);
  return {
    content: [{ type: 'text', text: JSON.stringify(value ?? null) }],
    // structuredContent must be an object; every catalog result is one, but do not rely on the desktop.
    structuredContent: isRecord ? (value as Record<string, unknown>) : { result: value },
    _meta: { [CALL_ID_META_KEY]: callId },
  };
}

/**
 * Why a catalog tool is not visible: a grant that leaves it out is `forbidden`, a workspace
 * that switched it off is `tool_disabled`, a denied category is `policy_denied` (the codes
 * the platform API and the desktop give for the same refusals).
 */
/**
 * The answer to a call of a tool the runtime does not offer this caller; a tool the person
 * switched off or whose category they denied is also reported to their desktop's activity log.
 */
export function refusedToolResult(
  context: { services: RelayServices; principal: Principal },
  runtime: RuntimeView,
  name: ToolName,
): CallToolResult {
  const error = invisibleToolError(context.principal, runtime, name);
  if (error.code === 'tool_disabled' || error.code === 'policy_denied')
    context.services.reportRefused?.(context.principal, runtime.id, name, newId('call_'), error.code);
  return errorResult(error);
}

export function invisibleToolError(principal: Principal, runtime: RuntimeView, name: ToolName): ToolErrorValue {
  if (principal.tools !== null && !principal.tools.includes(name)) {
    return errorValue('forbidden', `This grant does not include the tool "${name}".`);
  }
  if (!runtime.capabilities.tools.includes(name)) {
    return errorValue('tool_disabled', `The tool "${name}" is switched off for this workspace.`);
  }
  const category = TOOLS[name].category;
  if (runtime.capabilities.policy[category] === 'deny') {
    return errorValue('policy_denied', `The workspace's policy denies ${category} tools.`);
  }
  return errorValue('forbidden');
}

/** Workspace files as MCP resources: `file:///` and the path relative to the workspace root. */
export const FILE_URI_PREFIX = 'file:///';

/** The workspace-relative path of a `file:///…` URI, or null for another URI. */
export function workspacePathOf(uri: string): string | null {
  if (!uri.startsWith(FILE_URI_PREFIX)) return null;
  let path: string;
  try {
    path = decodeURIComponent(uri.slice(FILE_URI_PREFIX.length));
  } catch {
    return null;
  }
  // The desktop confines every path to the workspace; this only refuses what is no path at all.
  return path === '' ? '.' : path;
}

/** Why a principal may not read (or watch) a runtime's files as resources, or null when it may. */
export function resourceRefusal(principal: Principal, runtime: RuntimeView): ToolErrorValue | null {
  return visibleTools(principal, runtime).includes('read_file')
    ? null
    : invisibleToolError(principal, runtime, 'read_file');
}

/**
 * `resources/read` of one workspace file, through read_file (so the grant, the workspace's
 * tools and its policy decide exactly as for the tool): text, or base64 for a binary file.
 * Refusals are MCP protocol errors whose message starts with the stable code.
 */
export async function readWorkspaceResource(
  context: Omit<RuntimeMcpContext, 'runtime'>,
  runtime: RuntimeView,
  uri: string,
  path: string,
  signal: AbortSignal,
): Promise<ReadResourceResult> {
  const refusal = resourceRefusal(context.principal, runtime);
  if (refusal) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${refusal.code}: ${refusal.message}`);
  const read = async (args: Record<string, unknown>) =>
    context.services.callTool(context.principal, runtime.id, { tool: 'read_file', args }, { signal });
  let outcome = await read({ path, limit: MAX_READ_LINES });
  if (!outcome.ok && outcome.error.code === 'binary_file') outcome = await read({ path, encoding: 'base64' });
  if (!outcome.ok)
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${outcome.error.code}: ${outcome.error.message}`);
  const value = outcome.value as { content: string; encoding: 'utf8' | 'base64'; truncated: boolean };
  const meta = { [CALL_ID_META_KEY]: outcome.callId, 'tether/truncated': value.truncated };
  return {
    contents: [
      value.encoding === 'base64'
        ? { uri, mimeType: 'application/octet-stream', blob: value.content, _meta: meta }
        : { uri, mimeType: 'text/plain', text: value.content, _meta: meta },
    ],
  };
}

/**
 * The answer to a `tools/call` of a tool this principal may use on this runtime, for both
 * endpoints: a task handle (SEP-2663) when the call runs as a task, else the call's result,
 * its `structuredContent` fitted to the tool's output schema.
 */
export async function answerToolCall(
  server: Server,
  context: Omit<RuntimeMcpContext, 'runtime'>,
  runtimeId: string,
  name: ToolName,
  args: Record<string, unknown>,
  ctx: ServerContext,
): Promise<CallToolResult> {
  if (context.era === 'modern' && runsAsTask(name, ctx)) {
    const started = await startTask(context, runtimeId, name, args);
    // A call refused at once is a plain tool result, fitted like any other.
    if ((started as { resultType?: unknown }).resultType === 'task') return started;
    return server.projectCallToolResult(started, mcpToolOf(name).outputSchema);
  }
  const result = await callToolForMcp(context, runtimeId, name, args, ctx);
  return server.projectCallToolResult(result, mcpToolOf(name).outputSchema);
}

/** An unknown tool name is a protocol error in MCP (the client asked for something never listed). */
export function unknownToolError(name: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown_tool: there is no tool named "${name}"`);
}

/**
 * Runs one catalog tool on one runtime for an MCP `tools/call`: progress notifications when
 * the client gave a progress token, cancellation when the request's signal aborts (the client
 * closed the exchange, or sent `notifications/cancelled`), and the outcome as a tool result.
 */
export async function callToolForMcp(
  context: Omit<RuntimeMcpContext, 'runtime'>,
  runtimeId: string,
  name: ToolName,
  args: Record<string, unknown>,
  ctx: ServerContext,
): Promise<CallToolResult> {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  let progress = 0;
  const onProgress: CallOptions['onProgress'] =
    progressToken === undefined
      ? undefined
      : (p) => {
          // Output of a command has no known end, so no `total`: progress only ever increases.
          progress += 1;
          const message = p.status === 'output' ? (p.chunk ?? '') : p.status;
          // A progress notification that cannot be delivered (client gone) must not fail the call.
          ctx.mcpReq
            .notify({ method: 'notifications/progress', params: { progressToken, progress, message } })
            .catch(() => undefined);
        };
  try {
    const outcome = await context.services.callTool(
      context.principal,
      runtimeId,
      { tool: name, args },
      { signal: ctx.mcpReq.signal, onProgress },
    );
    return outcome.ok ? successResult(outcome.callId, outcome.value) : errorResult(outcome.error, outcome.callId);
  } catch (err) {
    context.logError('MCP tools/call failed unexpectedly', err);
    return errorResult(errorValue('internal'));
  }
}

/**
 * A low-level MCP server for one request on one runtime (the endpoint is stateless: a new
 * server per HTTP request, for either protocol era). `tools/list` answers from the catalog,
 * `tools/call` goes through `RelayServices.callTool`, which routes to the desktop holding the
 * runtime.
 */
export function createRuntimeMcpServer(context: RuntimeMcpContext): Server {
  const { principal, runtime } = context;
  const server = new Server(
    { name: MCP_SERVER_NAME, version: MCP_SERVER_VERSION },
    {
      capabilities: {
        tools: { listChanged: false },
        resources: resourcesCapability(context.era),
        ...tasksCapability(context.era),
      },
      instructions:
        `These tools act inside the workspace "${runtime.workspace.name}" on a person's computer. ` +
        'Paths are relative to the workspace root; the person may be asked to confirm writes and commands.',
    },
  );

  server.setRequestHandler('tools/list', () => ({ tools: visibleTools(principal, runtime).map(mcpToolOf) }));

  // Workspace files as resources, read through read_file (so the grant, the workspace's tools
  // and its policy decide exactly as for the tool). Files are not listed: a folder may hold
  // millions; the template names them all.
  server.setRequestHandler('resources/list', () => ({ resources: [] }));
  server.setRequestHandler('resources/templates/list', () => ({
    resourceTemplates: [
      {
        uriTemplate: `${FILE_URI_PREFIX}{+path}`,
        name: 'workspace-file',
        title: 'Workspace file',
        description: `A file of "${runtime.workspace.name}", by its path relative to the workspace root.`,
      },
    ],
  }));
  server.setRequestHandler('resources/read', async (request, ctx) => {
    const uri = request.params.uri;
    const path = workspacePathOf(uri);
    if (path === null)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `not_found: not a workspace file URI: ${uri}`);
    return readWorkspaceResource(context, runtime, uri, path, ctx.mcpReq.signal);
  });

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const name = request.params.name;
    if (!isToolName(name)) throw unknownToolError(name);
    if (!visibleTools(principal, runtime).includes(name)) return refusedToolResult(context, runtime, name);
    return answerToolCall(server, context, runtime.id, name, request.params.arguments ?? {}, ctx);
  });

  if (context.era === 'modern')
    registerTaskHandlers(server, context, (id) => (id === runtime.id ? runtime : undefined));
  return server;
}
