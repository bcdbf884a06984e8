import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CancelledNotificationSchema,
  ErrorCode as McpErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import {
  TOOL_NAMES,
  TOOLS,
  errorValue,
  isToolName,
  toolInputJsonSchema,
  type RuntimeView,
  type ToolErrorValue,
  type ToolName,
} from '@tether/shared';
import type { CallOptions, Principal, RelayServices } from '../services.js';
import type { McpCallRegistry } from './mcp-call-registry.js';
import { newId } from '../tokens.js';

/** Name the relay gives itself in the MCP `initialize` answer. */
export const MCP_SERVER_NAME = 'tether-relay';
/** Version reported in `initialize`; the wire contract is MCP's, this is informational. */
export const MCP_SERVER_VERSION = '0.1.0';

/** `_meta` key under which a tool result carries the relay's call id (for cancel and the audit log). */
export const CALL_ID_META_KEY = 'tether/callId';

/** What one MCP request may see: who asks, and the runtime as it was when the request came in. */
export interface RuntimeMcpContext {
  services: RelayServices;
  principal: Principal;
  runtime: RuntimeView;
  /** Calls in flight on this process, so a cancel arriving in a later HTTP request finds its call. */
  inFlight: McpCallRegistry;
  /** Logs unexpected failures; never given tokens or arguments. */
  logError: (message: string, err: unknown) => void;
}

// JSON schemas never change at run time; building them (zod → JSON Schema) is not free.
const inputSchemaCache = new Map<ToolName, Tool['inputSchema']>();
function inputSchemaOf(name: ToolName): Tool['inputSchema'] {
  let schema = inputSchemaCache.get(name);
  if (!schema) {
    schema = toolInputJsonSchema(name) as Tool['inputSchema'];
    inputSchemaCache.set(name, schema);
  }
  return schema;
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

/** The MCP description of one catalog tool. */
export function mcpToolOf(name: ToolName): Tool {
  const spec = TOOLS[name];
  return {
    name,
    description: spec.description,
    inputSchema: inputSchemaOf(name),
    annotations: {
      readOnlyHint: spec.category === 'read',
      destructiveHint: spec.category !== 'read',
      // A shell command may reach anything the machine can; file tools stay in the workspace.
      openWorldHint: spec.category === 'shell',
    },
  };
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

function successResult(callId: string, value: unknown): CallToolResult {
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
function invisibleToolError(principal: Principal, runtime: RuntimeView, name: ToolName): ToolErrorValue {
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

/**
 * A low-level MCP server for one request on one runtime (the endpoint is stateless: a new
 * server per HTTP request). `tools/list` answers from the catalog, `tools/call` goes through
 * `RelayServices.callTool`, which routes to the desktop holding the runtime.
 */
export function createRuntimeMcpServer(context: RuntimeMcpContext): Server {
  const { services, principal, runtime, inFlight } = context;
  const server = new Server(
    { name: MCP_SERVER_NAME, version: MCP_SERVER_VERSION },
    {
      capabilities: { tools: { listChanged: false } },
      instructions:
        `These tools act inside the workspace "${runtime.workspace.name}" on a person's computer. ` +
        'Paths are relative to the workspace root; the person may be asked to confirm writes and commands.',
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: visibleTools(principal, runtime).map(mcpToolOf) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const name = request.params.name;
    if (!isToolName(name)) {
      // An unknown name is a protocol error in MCP (the client asked for something not listed).
      throw new McpError(McpErrorCode.InvalidParams, `unknown_tool: there is no tool named "${name}"`);
    }
    if (!visibleTools(principal, runtime).includes(name)) {
      const error = invisibleToolError(principal, runtime, name);
      if (error.code === 'tool_disabled' || error.code === 'policy_denied')
        services.reportRefused?.(principal, runtime.id, name, newId('call_'), error.code);
      return errorResult(error);
    }

    const progressToken = request.params._meta?.progressToken;
    let progress = 0;
    const onProgress: CallOptions['onProgress'] =
      progressToken === undefined
        ? undefined
        : (p) => {
            progress += 1;
            const notification: ServerNotification = {
              method: 'notifications/progress',
              params: { progressToken, progress, message: p.status === 'output' ? (p.chunk ?? '') : p.status },
            };
            // A progress notification that cannot be delivered (client gone) must not fail the call.
            extra.sendNotification(notification).catch(() => undefined);
          };

    // Either the HTTP exchange ending (extra.signal) or a later cancel notification stops the call.
    const registration = inFlight.register(principal.tokenId, runtime.id, extra.requestId);
    try {
      const outcome = await services.callTool(
        principal,
        runtime.id,
        { tool: name, args: request.params.arguments ?? {} },
        { signal: AbortSignal.any([extra.signal, registration.signal]), onProgress },
      );
      return outcome.ok ? successResult(outcome.callId, outcome.value) : errorResult(outcome.error, outcome.callId);
    } catch (err) {
      context.logError('MCP tools/call failed unexpectedly', err);
      return errorResult(errorValue('internal'));
    } finally {
      registration.done();
    }
  });

  // Replaces the SDK's default, which only knows this server's own requests (none, here).
  server.setNotificationHandler(CancelledNotificationSchema, (notification) => {
    const requestId = notification.params.requestId;
    if (requestId !== undefined) inFlight.cancel(principal.tokenId, runtime.id, requestId);
  });

  return server;
}
