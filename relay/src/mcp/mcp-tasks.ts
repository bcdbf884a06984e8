import {
  CLIENT_CAPABILITIES_META_KEY,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type CallToolResult,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import {
  IDEMPOTENCY_WINDOW_MS,
  MAX_CALL_TIMEOUT_MS,
  TOOLS,
  errorValue,
  type Result,
  type RuntimeView,
  type ToolName,
} from '@tether/shared';
import { z } from 'zod';
import type { CallLookup, Principal, RelayServices } from '../services.js';
import { errorResult, mcpToolOf, successResult } from './runtime-mcp-server.js';

/**
 * MCP Tasks (the `io.modelcontextprotocol/tasks` extension of protocol revision 2026-07-28,
 * SEP-2663): a long tool call answers its `tools/call` at once with a task handle, and the
 * client polls `tasks/get` for its status and, once it ended, its result.
 *
 * Nothing is kept per task at the relay: a task *is* a relay call. Its id names the runtime
 * and the call (`{runtimeId}.{callId}`); `tasks/get` is a lookup of that call (as
 * `GET /v1/runtimes/{id}/calls/{callId}`): from the memory of the node that waits on it, else
 * from the desktop holding the runtime, which keeps the results of shell calls in its journal
 * (across relay restarts and for IDEMPOTENCY_WINDOW_MS). Any relay node answers any task
 * request, and the id never decides who may see it: the caller's token does, exactly as for
 * the platform API (its org; a grant only its own calls), and anything else is "not found".
 */
export const TASKS_EXTENSION_ID = 'io.modelcontextprotocol/tasks';

/** JSON-RPC error of a request the client's declared capabilities do not allow (SEP-2575). */
export const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;

/**
 * The tools whose calls become tasks (when the request declares the extension): those that
 * can run long (a command up to its `timeoutMs`, 30 min at most; a session waiting up to
 * `waitMs` for output). Shell calls only: the desktop journals their results (reads are not
 * kept), so a task's result can always be fetched after its `tools/call` is answered.
 */
export const TASK_TOOLS: ReadonlySet<ToolName> = new Set<ToolName>(['run_command', 'shell_write', 'shell_read']);
for (const name of TASK_TOOLS)
  if (TOOLS[name].category !== 'shell') throw new Error(`${name}: only journalled shell tools may become tasks`);

/** How often a client should poll `tasks/get`. */
export const TASK_POLL_INTERVAL_MS = 1000;
/** How long a task can be fetched: the desktop keeps a shell call's result this long (its journal may drop it earlier for room). */
export const TASK_TTL_MS = IDEMPOTENCY_WINDOW_MS;
/** The deadline of a task's call at the relay: the longest a call may take (a command's own `timeoutMs` ends it sooner). */
export const TASK_CALL_TIMEOUT_MS = MAX_CALL_TIMEOUT_MS;

const TASK_ID = /^(rt_[0-9a-f]{1,64})\.(call_[0-9a-f]{1,64})$/;

/** The id of the task of a call. */
export function taskIdOf(runtimeId: string, callId: string): string {
  return `${runtimeId}.${callId}`;
}

/** The runtime and call a task id names, or null for anything that is no task id. */
export function parseTaskId(taskId: string): { runtimeId: string; callId: string } | null {
  const match = TASK_ID.exec(taskId);
  return match ? { runtimeId: match[1]!, callId: match[2]! } : null;
}

/** Whether a request's `_meta` (its 2026-07-28 envelope) declares the Tasks extension in its client capabilities. */
export function metaDeclaresTasks(meta: Record<string, unknown> | undefined): boolean {
  const capabilities = meta?.[CLIENT_CAPABILITIES_META_KEY] as { extensions?: Record<string, unknown> } | undefined;
  const extension = capabilities?.extensions?.[TASKS_EXTENSION_ID];
  return typeof extension === 'object' && extension !== null && !Array.isArray(extension);
}

/** Whether this request declares the Tasks extension in its per-request client capabilities (2026-07-28 only). */
export function declaresTasks(ctx: ServerContext): boolean {
  return metaDeclaresTasks(ctx.mcpReq.envelope as Record<string, unknown> | undefined);
}

/** Server capabilities of an era: the extension is offered to 2026-07-28 requests only. */
export function tasksCapability(era: 'legacy' | 'modern' | undefined): {
  extensions?: Record<string, Record<string, never>>;
} {
  return era === 'modern' ? { extensions: { [TASKS_EXTENSION_ID]: {} } } : {};
}

/** Whether a `tools/call` of this tool, in this request, is answered with a task. */
export function runsAsTask(name: ToolName, ctx: ServerContext): boolean {
  return TASK_TOOLS.has(name) && declaresTasks(ctx);
}

interface TaskContext {
  services: RelayServices;
  principal: Principal;
  logError: (message: string, err: unknown) => void;
}

function taskFields(taskId: string, createdAt: string, lastUpdatedAt: string) {
  return { taskId, createdAt, lastUpdatedAt, ttlMs: TASK_TTL_MS, pollIntervalMs: TASK_POLL_INTERVAL_MS };
}

/**
 * Starts a call as a task: checked and sent like any call, but not bound to this request (the
 * client going away does not cancel it; `tasks/cancel` does), with the longest deadline, and
 * answered only once its row is in the call log, so that a `tasks/get` on any node finds it.
 * A call refused at once (no such runtime, offline, bad arguments …) is answered as a plain
 * tool result, as without the extension: there is no task to poll.
 */
export async function startTask(
  context: TaskContext,
  runtimeId: string,
  name: ToolName,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  try {
    const started = await context.services.startCall(
      context.principal,
      runtimeId,
      { tool: name, args, timeoutMs: TASK_CALL_TIMEOUT_MS },
      { durable: true },
    );
    if ('error' in started) return errorResult(started.error, started.callId);
    // The call's start, as tasks/get will say it (the call log's and the waiting node's time).
    const createdAt = new Date(started.startedAt ?? Date.now()).toISOString();
    return {
      resultType: 'task',
      status: 'working',
      ...taskFields(taskIdOf(runtimeId, started.callId), createdAt, createdAt),
    } as unknown as CallToolResult;
  } catch (err) {
    context.logError('MCP task could not be started', err);
    return errorResult(errorValue('internal'));
  }
}

/** The error of a task id that names nothing this caller may see (SEP-2663: -32602). */
function taskNotFound(detail = 'Task not found'): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `not_found: Failed to retrieve task: ${detail}`);
}

/**
 * The runtime a task id names, when the caller may reach it here: the endpoint's one runtime,
 * or one of the org-wide endpoint's. Anything else is "not found".
 */
type RuntimeOf = (runtimeId: string) => RuntimeView | undefined;

function resolveTask(taskId: string, runtimeOf: RuntimeOf): { runtime: RuntimeView; callId: string } {
  const parsed = parseTaskId(taskId);
  const runtime = parsed ? runtimeOf(parsed.runtimeId) : undefined;
  if (!parsed || !runtime) throw taskNotFound();
  return { runtime, callId: parsed.callId };
}

/** The tool result of a finished call, as the same call without a task would have answered. */
function toolResultOf(server: Server, tool: ToolName | undefined, callId: string, result: Result<unknown>) {
  const plain = result.ok ? successResult(callId, result.value) : errorResult(result.error, callId);
  // Inlined as the request's own result, whose 2026-07-28 shape has its `resultType`.
  return {
    ...(tool ? server.projectCallToolResult(plain, mcpToolOf(tool).outputSchema) : plain),
    resultType: 'complete',
  };
}

/**
 * A task as `tasks/get` answers it, from a lookup of its call. The call's own errors are its
 * result (`completed` with `isError`, as the tool result of a call without a task), except a
 * cancel (`cancelled`). When the relay cannot learn how the call stands right now (the desktop
 * is offline or did not answer in time, the relay is restarting), the task is still `working`
 * and the status message says why: the desktop keeps the call and its result, and a later
 * poll gets it. The `failed` status (a JSON-RPC error of the request) never applies: a relay
 * call ends with a result or a tool error.
 */
export function detailedTask(
  server: Server,
  taskId: string,
  tool: ToolName | undefined,
  callId: string,
  lookup: CallLookup,
): Record<string, unknown> {
  if ('error' in lookup) {
    if (lookup.error.code === 'not_found') throw taskNotFound();
    const since = lookup.startedAt ?? new Date().toISOString();
    return {
      status: 'working',
      statusMessage: `${lookup.error.code}: ${lookup.error.message} (the call's result is kept on the desktop; poll again)`,
      ...taskFields(taskId, since, since),
    };
  }
  const createdAt = lookup.startedAt ?? new Date().toISOString();
  if (lookup.state === 'running') return { status: 'working', ...taskFields(taskId, createdAt, createdAt) };
  const result = lookup.result;
  const updatedAt = lookup.finishedAt ?? new Date().toISOString();
  if (!result.ok && result.error.code === 'not_found')
    // The desktop keeps nothing of it any more (its journal let the result go).
    throw taskNotFound('Task has expired');
  if (!result.ok && result.error.code === 'unavailable')
    return {
      status: 'working',
      statusMessage: `unavailable: ${result.error.message}`,
      ...taskFields(taskId, createdAt, createdAt),
    };
  if (!result.ok && result.error.code === 'cancelled')
    return {
      status: 'cancelled',
      statusMessage: `cancelled: ${result.error.message}`,
      ...taskFields(taskId, createdAt, updatedAt),
    };
  return {
    status: 'completed',
    result: toolResultOf(server, tool, callId, result),
    ...taskFields(taskId, createdAt, updatedAt),
  };
}

const taskIdParams = z.looseObject({ taskId: z.string() });
// The SDK takes `inputResponses` out of the params before a handler sees them (multi round-trip requests).
const updateParams = z.looseObject({ taskId: z.string() });

/** Whether a lookup says the call is unknown to this caller, or no longer kept. */
function isUnknown(lookup: CallLookup): boolean {
  if ('error' in lookup) return lookup.error.code === 'not_found';
  return lookup.state === 'finished' && !lookup.result.ok && lookup.result.error.code === 'not_found';
}

function requireTasksCapability(ctx: ServerContext): void {
  if (!declaresTasks(ctx))
    throw new MissingRequiredClientCapabilityError(
      { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
      `missing_capability: this request does not declare the ${TASKS_EXTENSION_ID} extension in its client capabilities`,
    );
}

/**
 * `tasks/get`, `tasks/cancel` and `tasks/update` on a server of the 2026-07-28 era (2025-era
 * requests keep the SDK's "method not found": SEP-1686 tasks are not offered). `runtimeOf`
 * gives the runtimes this request may reach (others' tasks are "not found").
 */
export function registerTaskHandlers(server: Server, context: TaskContext, runtimeOf: RuntimeOf): void {
  const { services, principal } = context;

  server.setRequestHandler('tasks/get', { params: taskIdParams }, async (params, ctx) => {
    requireTasksCapability(ctx);
    const { runtime, callId } = resolveTask(params.taskId, runtimeOf);
    const lookup = await services.lookupCall(principal, runtime.id, callId, 0);
    return detailedTask(server, params.taskId, 'state' in lookup ? lookup.tool : undefined, callId, lookup);
  });

  // Cooperative, as the extension has it: the ack says the cancel was asked for; the task's
  // status becomes `cancelled` once the desktop stopped the call (or stays what it ended as).
  server.setRequestHandler('tasks/cancel', { params: taskIdParams }, async (params, ctx) => {
    requireTasksCapability(ctx);
    const { runtime, callId } = resolveTask(params.taskId, runtimeOf);
    if (await services.cancelCall(principal, runtime.id, callId)) return {};
    // Not running: an ended task's cancel is acknowledged (idempotent); an unknown one is not found.
    const lookup = await services.lookupCall(principal, runtime.id, callId, 0);
    if (isUnknown(lookup)) throw taskNotFound();
    return {};
  });

  // No task of this relay ever asks for input: responses to requests never made are ignored, as
  // the extension asks, once the task is known to be the caller's.
  server.setRequestHandler('tasks/update', { params: updateParams }, async (params, ctx) => {
    requireTasksCapability(ctx);
    const { runtime, callId } = resolveTask(params.taskId, runtimeOf);
    if (isUnknown(await services.lookupCall(principal, runtime.id, callId, 0))) throw taskNotFound();
    return {};
  });
}
