import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
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
import type { Principal } from '../services.js';
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

  app.get<{ Querystring: { state?: string } }>('/v1/runtimes', async (request, reply) => {
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
    return { runtimes: await core.listRuntimes(principal, state.data) };
  });

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
      return result.ok ? { callId: started.callId, result: result.value } : sendError(reply, result.error);
    }
    stream = openStream(reply);
    stream.send('call', { callId: started.callId });
    for (const [event, data] of early) stream.send(event, data);
    const result = await started.done;
    if (result.ok) stream.send('result', { callId: started.callId, result: result.value });
    else stream.send('error', { callId: started.callId, error: result.error });
    stream.dispose();
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
