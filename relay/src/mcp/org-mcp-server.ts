import { ProtocolError, ProtocolErrorCode, Server, type CallToolResult, type Tool } from '@modelcontextprotocol/server';
import { TOOL_NAMES, errorValue, isToolName, type RuntimeView, type ToolName } from '@tether/shared';
import type { Principal, RelayServices } from '../services.js';
import {
  MCP_SERVER_NAME,
  MCP_SERVER_VERSION,
  answerToolCall,
  errorResult,
  refusedToolResult,
  mcpToolOf,
  readWorkspaceResource,
  resourceRefusal,
  resourcesCapability,
  unknownToolError,
  visibleTools,
} from './runtime-mcp-server.js';
import { registerTaskHandlers, tasksCapability } from './mcp-tasks.js';

/**
 * Files on the org-wide endpoint: `tether://{runtime}/{+path}`, the runtime id as the URI's
 * authority and the path relative to its folder (a per-runtime endpoint's `file:///{+path}`
 * cannot say which folder it means).
 */
export const ORG_FILE_URI_SCHEME = 'tether://';

/** The runtime and workspace-relative path a `tether://{runtime}/{+path}` URI names, or null. */
export function orgResourceOf(uri: string): { runtimeId: string; path: string } | null {
  if (!uri.startsWith(ORG_FILE_URI_SCHEME)) return null;
  const rest = uri.slice(ORG_FILE_URI_SCHEME.length);
  const slash = rest.indexOf('/');
  const runtimeId = slash === -1 ? rest : rest.slice(0, slash);
  if (runtimeId === '') return null;
  let path: string;
  try {
    path = decodeURIComponent(slash === -1 ? '' : rest.slice(slash + 1));
  } catch {
    return null;
  }
  return { runtimeId, path: path === '' ? '.' : path };
}

/** The argument naming the runtime a tool of the org-wide endpoint acts on. */
export const RUNTIME_ARG = 'runtime';

/** The org-wide endpoint's own tool: which runtimes (folders) this connection reaches. */
export const LIST_RUNTIMES_TOOL = 'list_runtimes';

/** What one org-wide MCP request may see: who asks, and the runtimes it may use as they were then. */
export interface OrgMcpContext {
  services: RelayServices;
  principal: Principal;
  /** The runtimes the principal may see (a grant's own only), archived ones left out. */
  runtimes: RuntimeView[];
  logError: (message: string, err: unknown) => void;
  /** The protocol era of the request (see RuntimeMcpContext.era). */
  era?: 'legacy' | 'modern';
}

function runtimeLabel(runtime: RuntimeView): string {
  return `${runtime.id} ("${runtime.workspace.name}" on ${runtime.device.name}, ${runtime.state})`;
}

/**
 * A catalog tool as the org-wide endpoint offers it: the same name, result and hints, with a
 * required `runtime` argument limited to the runtimes on which this principal may use it.
 */
function orgToolOf(name: ToolName, runtimes: RuntimeView[]): Tool {
  const base = mcpToolOf(name);
  const input = base.inputSchema as { properties?: Record<string, object>; required?: string[] };
  return {
    ...base,
    description: `${base.description} Acts on the runtime named by "${RUNTIME_ARG}" (see ${LIST_RUNTIMES_TOOL}).`,
    inputSchema: {
      ...base.inputSchema,
      properties: {
        [RUNTIME_ARG]: {
          type: 'string',
          enum: runtimes.map((r) => r.id),
          description: `Id of the runtime (folder) to act in: ${runtimes.map(runtimeLabel).join('; ')}.`,
        },
        ...input.properties,
      },
      required: [RUNTIME_ARG, ...(input.required ?? [])],
    },
  };
}

const LIST_RUNTIMES: Tool = {
  name: LIST_RUNTIMES_TOOL,
  title: 'List runtimes',
  description: 'List the runtimes (folders on people’s computers) this connection may use, with their tools and state.',
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  outputSchema: {
    type: 'object',
    properties: {
      runtimes: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            description: { type: 'string' },
            state: { type: 'string' },
            device: { type: 'string' },
            tools: { type: 'array', items: { type: 'string' } },
          },
          required: ['id', 'name', 'description', 'state', 'device', 'tools'],
        },
      },
    },
    required: ['runtimes'],
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
};

/**
 * A low-level MCP server for one request on the org-wide endpoint (`/v1/mcp`): every runtime
 * the token may use behind one connector. Each catalog tool takes a `runtime` argument; the
 * tool is offered when at least one runtime lets this principal use it, and a call checks
 * that runtime's own tools, policy and the grant exactly as the per-runtime endpoint does.
 * A runtime outside the principal's scope is answered as an unknown one.
 */
export function createOrgMcpServer(context: OrgMcpContext): Server {
  const { principal, runtimes } = context;
  const byId = new Map(runtimes.map((r) => [r.id, r]));
  const server = new Server(
    { name: MCP_SERVER_NAME, version: MCP_SERVER_VERSION },
    {
      capabilities: {
        tools: { listChanged: false },
        resources: resourcesCapability(context.era),
        ...tasksCapability(context.era),
      },
      instructions:
        'These tools act in folders (runtimes) on people’s computers; pass the runtime id in "runtime". ' +
        `Runtimes: ${runtimes.length > 0 ? runtimes.map(runtimeLabel).join('; ') : 'none'}. ` +
        'Paths are relative to the runtime’s folder; the person may be asked to confirm writes and commands.',
    },
  );

  server.setRequestHandler('tools/list', () => {
    const tools: Tool[] = [LIST_RUNTIMES];
    for (const name of TOOL_NAMES) {
      const usable = runtimes.filter((r) => visibleTools(principal, r).includes(name));
      if (usable.length > 0) tools.push(orgToolOf(name, usable));
    }
    return { tools };
  });

  // One template for every folder; which runtimes exist is in list_runtimes and the tools' schemas.
  server.setRequestHandler('resources/list', () => ({ resources: [] }));
  server.setRequestHandler('resources/templates/list', () => ({
    resourceTemplates: [
      {
        uriTemplate: `${ORG_FILE_URI_SCHEME}{runtime}/{+path}`,
        name: 'runtime-file',
        title: 'File in a runtime',
        description:
          'A file of a runtime (folder), by the runtime id and the path relative to its folder. Runtimes: ' +
          (runtimes
            .filter((r) => resourceRefusal(principal, r) === null)
            .map(runtimeLabel)
            .join('; ') || 'none') +
          '.',
      },
    ],
  }));
  server.setRequestHandler('resources/read', async (request, ctx) => {
    const uri = request.params.uri;
    const target = orgResourceOf(uri);
    if (target === null)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `not_found: not a runtime file URI (${ORG_FILE_URI_SCHEME}{runtime}/{path}): ${uri}`,
      );
    const runtime = byId.get(target.runtimeId);
    // A runtime outside the principal's scope is unknown, as for the tools.
    if (!runtime)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'not_found: There is no runtime with that id.');
    return readWorkspaceResource(context, runtime, uri, target.path, ctx.mcpReq.signal);
  });

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const name = request.params.name;
    if (name === LIST_RUNTIMES_TOOL) {
      const list = runtimes.map((r) => ({
        id: r.id,
        name: r.workspace.name,
        description: r.workspace.description,
        state: r.state,
        device: r.device.name,
        tools: visibleTools(principal, r),
      }));
      return {
        content: [{ type: 'text', text: JSON.stringify({ runtimes: list }) }],
        structuredContent: { runtimes: list },
      };
    }
    if (!isToolName(name)) throw unknownToolError(name);
    const { [RUNTIME_ARG]: runtimeId, ...args } = request.params.arguments ?? {};
    const runtime = typeof runtimeId === 'string' ? byId.get(runtimeId) : undefined;
    if (!runtime) {
      const message =
        typeof runtimeId === 'string'
          ? 'There is no runtime with that id.'
          : `"${RUNTIME_ARG}" (a runtime id) is required.`;
      return errorResult(errorValue(typeof runtimeId === 'string' ? 'not_found' : 'invalid_args', message));
    }
    if (!visibleTools(principal, runtime).includes(name)) return refusedToolResult(context, runtime, name);
    return answerToolCall(server, context, runtime.id, name, args, ctx);
  });

  // A task of any runtime this request may reach (the same task ids as the per-runtime endpoints').
  if (context.era === 'modern') registerTaskHandlers(server, context, (id) => byId.get(id));
  return server;
}
