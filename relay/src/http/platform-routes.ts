import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DEFAULT_RUNTIMES_PAGE,
  MAX_RUNTIMES_PAGE,
  callRequestSchema,
  errorValue,
  formatIssues,
  grantRequestSchema,
  httpStatusOf,
  invalidArgs,
  isToolName,
  runtimeStateSchema,
  type ToolErrorValue,
} from '@tether/shared';
import type { RelayCore } from '../relay-core.js';
import { MAX_LOOKUP_WAIT_MS } from '../relay-limits.js';
import type { Principal } from '../services.js';
import type { RuntimePosition } from '../store/store.js';
import { resultJsonOf } from '../desktop/result-json.js';
import { ClientGone } from './client-gone.js';
import { SseStream } from './sse-stream.js';

interface IdParams {
  id: string;
}

/** Sends an error value with the status of its code. */
export function sendError(reply: FastifyReply, error: ToolErrorValue): FastifyReply {
  // A challenge set already (the access guard's, naming the resource metadata at an MCP URL) stays.
  if (error.code === 'unauthorized' && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
  return reply.code(httpStatusOf(error.code)).send({ error });
}

const NOT_FOUND = errorValue('not_found', 'no such runtime');
/** What Fastify sends a serialised object as; a body passed on as text says the same. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** An opaque cursor naming the last runtime of a page. */
function encodeCursor(position: RuntimePosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.deviceId, position.workspaceId])).toString(
    'base64url',
  );
}

function decodeCursor(cursor: string): RuntimePosition | null {
  if (cursor.length > 1000) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'string'))
      return { createdAt: value[0] as string, deviceId: value[1] as string, workspaceId: value[2] as string };
  } catch {
    // answered below
  }
  return null;
}

/** `?limit=&cursor=` of a list: at most MAX_RUNTIMES_PAGE, DEFAULT_RUNTIMES_PAGE when not given. */
function parsePage(query: {
  limit?: string;
  cursor?: string;
}): { limit: number; after?: RuntimePosition } | { error: ToolErrorValue } {
  let limit = DEFAULT_RUNTIMES_PAGE;
  if (query.limit !== undefined) {
    limit = /^\d{1,6}$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_RUNTIMES_PAGE))
      return {
        error: errorValue('invalid_request', `limit: a whole number from 1 to ${MAX_RUNTIMES_PAGE}`, {
          fields: [{ path: 'limit', message: `from 1 to ${MAX_RUNTIMES_PAGE}` }],
        }),
      };
  }
  if (query.cursor === undefined) return { limit };
  const after = decodeCursor(query.cursor);
  if (!after)
    return {
      error: errorValue('invalid_request', 'cursor: not a cursor this relay gave out', {
        fields: [{ path: 'cursor', message: 'unknown cursor' }],
      }),
    };
  return { limit, after };
}

/** Whether the client asked for a Server-Sent Events stream. */
function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').split(',').some((part) => part.trim().startsWith('text/event-stream'));
}

/**
 * The platform API of DESIGN.md under `/v1`. Every route authenticates first (401 without
 * a valid platform key or grant) and answers 404 for a runtime the principal may not see,
 * whether or not it exists in another org.
 */
export function registerPlatformRoutes(
  app: FastifyInstance,
  core: RelayCore,
  streams: Set<SseStream>,
  sseKeepaliveMs: number,
): void {
  const principalOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Principal | null> => {
    // AccessGuard's hook has verified (and rate-limited) it already in a relay; alone, the routes check themselves.
    const principal = request.principal ?? (await core.authenticatePlatform(request.headers.authorization));
    if (!principal) sendError(reply, errorValue('unauthorized'));
    return principal;
  };
  const openStream = (reply: FastifyReply, stillAllowed?: () => Promise<boolean>): SseStream => {
    const stream = new SseStream(reply, sseKeepaliveMs, stillAllowed);
    streams.add(stream);
    stream.onClose(() => streams.delete(stream));
    return stream;
  };

  app.get<{ Querystring: { state?: string; limit?: string; cursor?: string } }>(
    '/v1/runtimes',
    async (request, reply) => {
      const principal = await principalOf(request, reply);
      if (!principal) return reply;
      const state = runtimeStateSchema.optional().safeParse(request.query.state);
      if (!state.success)
        return sendError(
          reply,
          errorValue('invalid_request', `state: ${formatIssues(state.error)}`, {
            fields: [{ path: 'state', message: 'unknown state' }],
          }),
        );
      const page = parsePage(request.query);
      if ('error' in page) return sendError(reply, page.error);
      const { runtimes, next } = await core.listRuntimesPage(principal, {
        ...(state.data !== undefined ? { state: state.data } : {}),
        ...page,
      });
      return { runtimes, nextCursor: next === null ? null : encodeCursor(next) };
    },
  );

  app.get<{ Params: IdParams }>('/v1/runtimes/:id', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const view = await core.getRuntime(principal, request.params.id);
    return view ?? sendError(reply, NOT_FOUND);
  });

  app.get<{ Params: IdParams }>('/v1/runtimes/:id/capabilities', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const view = await core.getRuntime(principal, request.params.id);
    return view ? view.capabilities : sendError(reply, NOT_FOUND);
  });

  app.post<{ Params: IdParams }>('/v1/runtimes/:id/archive', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const result = await core.archiveRuntime(principal, request.params.id);
    return result.ok ? result.value : sendError(reply, result.error);
  });

  app.post<{ Params: IdParams }>('/v1/runtimes/:id/calls', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const body = callRequestSchema.safeParse(request.body ?? {});
    if (!body.success) {
      const tool = (request.body as { tool?: unknown } | null)?.tool;
      if (typeof tool === 'string' && !isToolName(tool))
        return sendError(
          reply,
          errorValue('unknown_tool', `there is no tool named ${JSON.stringify(tool.slice(0, 100))}`),
        );
      return sendError(reply, invalidArgs(body.error, 'invalid_request'));
    }
    // The HTTP client going away cancels the call on the desktop.
    const gone = new ClientGone(reply.raw);
    const streaming = wantsEventStream(request);
    let stream: SseStream | null = null;
    const early: Array<[string, unknown]> = [];
    const emit = (event: string, data: unknown) =>
      stream ? stream.send(event, data, { droppable: event === 'output' }) : early.push([event, data]);
    const started = await core.startCall(principal, request.params.id, body.data, {
      signal: gone,
      ...(streaming
        ? {
            onProgress: (p) =>
              p.status === 'output' ? emit('output', { chunk: p.chunk ?? '' }) : emit('status', { status: p.status }),
          }
        : {}),
    });
    if ('error' in started) return sendError(reply, started.error);
    if (!streaming) {
      const result = await started.done;
      if (gone.aborted) return reply;
      // The call id with an error too: after `unavailable` (a relay restart) a GET of it gets the result.
      if (!result.ok)
        return reply.code(httpStatusOf(result.error.code)).send({ error: result.error, callId: started.callId });
      // The desktop's own JSON of the value when the relay has it (see result-json.ts).
      const json = resultJsonOf(result.value);
      return json === undefined
        ? { callId: started.callId, result: result.value }
        : reply.type(JSON_TYPE).send(`{"callId":${JSON.stringify(started.callId)},"result":${json}}`);
    }
    stream = openStream(reply);
    try {
      stream.send('call', { callId: started.callId });
      for (const [event, data] of early) stream.send(event, data);
      const result = await started.done;
      if (result.ok) stream.send('result', { callId: started.callId, result: result.value });
      else stream.send('error', { callId: started.callId, error: result.error });
    } finally {
      // Whatever happened, the stream ends: a client must never wait on it forever.
      stream.dispose();
    }
    return reply;
  });

  app.post<{ Params: IdParams & { callId: string } }>(
    '/v1/runtimes/:id/calls/:callId/cancel',
    async (request, reply) => {
      const principal = await principalOf(request, reply);
      if (!principal) return reply;
      const cancelled = await core.cancelCall(principal, request.params.id, request.params.callId);
      return cancelled
        ? { callId: request.params.callId, cancelled: true }
        : sendError(reply, errorValue('not_found', 'no such running call'));
    },
  );

  app.get<{ Params: IdParams & { callId: string }; Querystring: { waitMs?: string } }>(
    '/v1/runtimes/:id/calls/:callId',
    async (request, reply) => {
      const principal = await principalOf(request, reply);
      if (!principal) return reply;
      const raw = request.query.waitMs;
      const waitMs = raw === undefined || raw === '' ? 0 : Number(raw);
      if (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > MAX_LOOKUP_WAIT_MS)
        return sendError(
          reply,
          errorValue('invalid_request', `waitMs must be a whole number from 0 to ${MAX_LOOKUP_WAIT_MS}`, {
            fields: [{ path: 'waitMs', message: 'out of range' }],
          }),
        );
      const callId = request.params.callId;
      const answer = await core.lookupCall(principal, request.params.id, callId, waitMs);
      if ('error' in answer) return sendError(reply, answer.error);
      if (answer.state === 'running') return reply.code(202).send({ callId, status: 'running' });
      return answer.result.ok ? { callId, result: answer.result.value } : sendError(reply, answer.result.error);
    },
  );

  app.get<{ Params: IdParams }>('/v1/runtimes/:id/events', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const view = await core.getRuntime(principal, request.params.id);
    if (!view) return sendError(reply, NOT_FOUND);
    const authorization = request.headers.authorization;
    const stream = openStream(reply, async () => (await core.authenticatePlatform(authorization)) !== null);
    const unsubscribe = core.subscribeRuntime(view.id, (event) => {
      if (event.type === 'state') {
        stream.send('state', {
          runtimeId: event.runtimeId,
          state: event.state,
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
          lastSeenAt: event.lastSeenAt,
        });
      } else {
        stream.send(
          'files',
          { runtimeId: event.runtimeId, changes: event.changes, dropped: event.dropped },
          { droppable: true },
        );
      }
    });
    stream.onClose(unsubscribe);
    stream.send('state', {
      runtimeId: view.id,
      state: view.state,
      ...(view.reason !== undefined ? { reason: view.reason } : {}),
      lastSeenAt: view.lastSeenAt,
    });
    return reply;
  });

  app.post('/v1/grants', async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const body = grantRequestSchema.safeParse(request.body ?? {});
    if (!body.success) return sendError(reply, invalidArgs(body.error, 'invalid_request'));
    const result = await core.createGrant(principal, body.data);
    return result.ok ? result.value : sendError(reply, result.error);
  });
}
