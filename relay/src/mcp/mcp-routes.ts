import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  InMemoryServerEventBus,
  createMcpHandler,
  type AuthInfo,
  type CreateMcpHandlerOptions,
  type McpRequestContext,
  type Server,
} from '@modelcontextprotocol/server';
import { MAX_FRAME_BYTES, errorValue, httpStatusOf, type ErrorCode, type RuntimeView } from '@tether/shared';
import type { Bus, NodeBroadcast } from '../bus/bus.js';
import type { Principal, RelayServices } from '../services.js';
import { McpCallRegistry } from './mcp-call-registry.js';
import { createOrgMcpServer, orgResourceOf } from './org-mcp-server.js';
import { MISSING_REQUIRED_CLIENT_CAPABILITY, TASKS_EXTENSION_ID, metaDeclaresTasks } from './mcp-tasks.js';
import { originAllowed } from './origin-check.js';
import { createRuntimeMcpServer, resourceRefusal, workspacePathOf } from './runtime-mcp-server.js';

/** Path of a runtime's MCP endpoint (Streamable HTTP). */
export const MCP_ROUTE = '/v1/runtimes/:id/mcp';
/** Path of the org-wide MCP endpoint: every runtime the token may use, behind one connector. */
export const ORG_MCP_ROUTE = '/v1/mcp';
/** Key under which org-wide calls are known for `notifications/cancelled` (no runtime id has it). */
const ORG_SCOPE_KEY = '*';

/**
 * Largest MCP request body: a `write_file` may carry up to MAX_WRITE_BYTES (base64 grows it),
 * the same bound as one desktop frame. Fastify's 1 MiB default would refuse legitimate writes.
 */
export const MAX_MCP_BODY_BYTES = MAX_FRAME_BYTES;

interface RuntimeParams {
  id: string;
}

/** Who asks and what they may reach, for one MCP HTTP request on a runtime's endpoint. */
export interface McpScope {
  principal: Principal;
  /** The one runtime of a per-runtime endpoint. */
  runtime: RuntimeView;
}

/** The same for the org-wide endpoint. */
export interface OrgMcpScope {
  principal: Principal;
  runtimes: RuntimeView[];
}

/** Where the scope rides through the SDK: its pass-through `authInfo` (never read from headers). */
const SCOPE_KEY = 'tether/scope';

function scopeOf<S>(ctx: McpRequestContext): S {
  const scope = ctx.authInfo?.extra?.[SCOPE_KEY] as S | undefined;
  // Every request reaches the SDK through serveMcp, which always sets it.
  if (!scope) throw new Error('MCP request without a scope');
  return scope;
}

function sendError(reply: FastifyReply, code: ErrorCode, message?: string): FastifyReply {
  if (code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
  return reply.code(httpStatusOf(code)).send({ error: errorValue(code, message) });
}

/**
 * Authenticates the caller and finds the runtime it may see, or answers the request itself
 * (401 without a valid platform key or grant, 404 for a runtime it may not see) and returns null.
 */
async function admit(
  services: RelayServices,
  request: FastifyRequest<{ Params: RuntimeParams }>,
  reply: FastifyReply,
): Promise<McpScope | null> {
  // The access guard has authenticated every /v1 request already; the fallback keeps this route safe on its own.
  const principal = request.principal ?? (await services.authenticatePlatform(request.headers.authorization));
  if (!principal) {
    await sendError(reply, 'unauthorized');
    return null;
  }
  const runtimeId = request.params.id;
  // Defence in depth: the core scopes getRuntime too, but a grant's runtime list is cheap to check here.
  const runtime =
    principal.runtimeIds !== null && !principal.runtimeIds.includes(runtimeId)
      ? null
      : await services.getRuntime(principal, runtimeId);
  if (!runtime) {
    await sendError(reply, 'not_found', 'There is no runtime with that id.');
    return null;
  }
  return { principal, runtime };
}

/** The JSON-RPC id of a request body, when it is a single request of `method`. */
function requestIdOf(body: unknown, method: string): string | number | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const message = body as { method?: unknown; id?: unknown; params?: { requestId?: unknown } };
  if (message.method !== method) return undefined;
  const id = method === 'notifications/cancelled' ? message.params?.requestId : message.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

function webHeadersOf(request: FastifyRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    // The body is handed over parsed; its framing headers describe bytes that are not forwarded.
    if (value === undefined || name === 'content-length' || name === 'transfer-encoding') continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

type McpHandler = ReturnType<typeof createMcpHandler>;

/**
 * Opens the handler of one `subscriptions/listen` request: `body` is the request, `authorization`
 * its header (re-checked while the stream is open), `end` ends the exchange. A refusal is the
 * JSON-RPC error to answer instead.
 */
type ListenFactory = (
  body: unknown,
  authorization: string | undefined,
  end: () => void,
) => { handler: McpHandler; dispose: () => void } | { refusal: { code: number; message: string; data?: unknown } };

/** Most resource URIs one `subscriptions/listen` stream may watch. */
export const MAX_RESOURCE_SUBSCRIPTIONS = 1000;
/** Most listen streams one relay node keeps open (each holds a connection and a Bus subscription per runtime). */
export const DEFAULT_MAX_LISTEN_STREAMS = 1024;
/** How often an open listen stream re-checks its token by default (a revoked or expired one ends the stream). */
export const DEFAULT_LISTEN_REAUTH_MS = 15_000;

/** The task ids a `subscriptions/listen` request asks to hear of. */
function requestedTaskIds(body: unknown): unknown {
  const params = (body as { params?: { notifications?: { taskIds?: unknown } } } | undefined)?.params;
  return params?.notifications?.taskIds;
}

/** Whether a request body declares the Tasks extension in its `_meta` client capabilities. */
function declaresTasksIn(body: unknown): boolean {
  return metaDeclaresTasks((body as { params?: { _meta?: Record<string, unknown> } } | undefined)?.params?._meta);
}

/** The resource URIs a `subscriptions/listen` request asks to watch (the SDK validates the rest). */
function requestedResourceUris(body: unknown): unknown {
  const params = (body as { params?: { notifications?: { resourceSubscriptions?: unknown } } } | undefined)?.params;
  return params?.notifications?.resourceSubscriptions;
}

/**
 * Resource change notifications for one listen stream, without any state beyond the stream:
 * each subscribed URI is resolved to a runtime the principal may read files of, the stream
 * subscribes to those runtimes' events on the Bus (so the node holding the desktop may be
 * any node), and every file change of a watched path becomes `notifications/resources/updated`
 * with the URI as the client spelled it. Ends with the stream.
 */
function openListen(
  services: RelayServices,
  factory: (ctx: McpRequestContext) => Server,
  options: CreateMcpHandlerOptions,
  resolve: (uri: string) => { runtime: RuntimeView; path: string } | { refusal: string },
  reauthMs: number,
  principal: Principal,
  body: unknown,
  authorization: string | undefined,
  end: () => void,
): ReturnType<ListenFactory> {
  // Task status notifications are not sent (clients poll tasks/get): the acknowledgement never
  // lists task ids. A client that asks for them without declaring the extension is refused, as
  // the extension requires.
  if (requestedTaskIds(body) !== undefined && !declaresTasksIn(body))
    return {
      refusal: {
        code: MISSING_REQUIRED_CLIENT_CAPABILITY,
        message: `missing_capability: task notifications need the ${TASKS_EXTENSION_ID} extension in the request's client capabilities`,
        data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
      },
    };
  const requested = requestedResourceUris(body);
  const uris = Array.isArray(requested) ? requested.filter((u): u is string => typeof u === 'string') : [];
  if (uris.length > MAX_RESOURCE_SUBSCRIPTIONS)
    return {
      refusal: {
        code: -32602,
        message: `too_large: at most ${MAX_RESOURCE_SUBSCRIPTIONS} resource subscriptions per stream`,
      },
    };
  // runtime id → workspace path → the URIs (as the client wrote them) naming it
  const watched = new Map<string, Map<string, string[]>>();
  for (const uri of uris) {
    const target = resolve(uri);
    if ('refusal' in target) return { refusal: { code: -32602, message: `${target.refusal} (${uri})` } };
    const paths = watched.get(target.runtime.id) ?? new Map<string, string[]>();
    watched.set(target.runtime.id, paths);
    const normal = normalPath(target.path);
    paths.set(normal, [...(paths.get(normal) ?? []), uri]);
  }
  const bus = new InMemoryServerEventBus();
  const handler = createMcpHandler(factory, { ...options, bus });
  const unsubscribes = [...watched].map(([runtimeId, paths]) =>
    services.subscribeRuntime(runtimeId, (event) => {
      if (event.type !== 'files') return;
      const changed = new Set(event.changes.map((c) => normalPath(c.path)));
      for (const [path, names] of paths)
        // A batch that dropped changes may have dropped this path's: the client re-reads.
        if (event.dropped > 0 || changed.has(path))
          for (const uri of names) bus.publish({ kind: 'resource_updated', uri });
    }),
  );
  const reauth = setInterval(() => {
    void services.authenticatePlatform(authorization).then(
      (p) => {
        if (p === null || p.tokenId !== principal.tokenId) end();
      },
      () => undefined,
    );
  }, reauthMs);
  reauth.unref();
  return {
    handler,
    dispose: () => {
      clearInterval(reauth);
      for (const unsubscribe of unsubscribes) unsubscribe();
      void handler.close().catch(() => undefined);
    },
  };
}

/** A workspace-relative path as the watcher reports it: `/` separators, no `./` or trailing `/`. */
function normalPath(path: string): string {
  const parts = path.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  return parts.length === 0 ? '.' : parts.join('/');
}

/**
 * Serves one MCP HTTP exchange through the SDK's handler and writes its answer to the raw
 * response. The exchange ends (and the SDK aborts the request's handler, which cancels a call
 * still running on the desktop) when the client goes away, or when a `notifications/cancelled`
 * for it arrives in another request: then the stream ends without a result, as the spec asks.
 */
async function serveMcp(
  shared: McpHandler,
  listen: ListenFactory,
  inFlight: McpCallRegistry,
  scopeKey: string,
  scope: { principal: Principal },
  request: FastifyRequest,
  reply: FastifyReply,
  onEnd: (method: string | undefined, status: number, seconds: number) => void,
  cancelElsewhere?: (message: Extract<NodeBroadcast, { kind: 'mcp-cancel' }>) => Promise<void>,
): Promise<FastifyReply> {
  const { principal } = scope;
  const started = performance.now();
  const body = request.body as { method?: unknown } | undefined;
  const method = typeof body?.method === 'string' ? body.method : undefined;
  const cancelledId = requestIdOf(request.body, 'notifications/cancelled');
  if (cancelledId !== undefined) inFlight.cancel(principal.tokenId, scopeKey, cancelledId);
  // Not a call of this node: it may run on another one (any node answers any POST).
  if (cancelledId !== undefined && inFlight.matches(principal.tokenId, scopeKey, cancelledId) === 0)
    void cancelElsewhere?.({ kind: 'mcp-cancel', tokenId: principal.tokenId, scope: scopeKey, requestId: cancelledId });

  const exchange = new AbortController();
  const callId = requestIdOf(request.body, 'tools/call');
  const registration = callId === undefined ? null : inFlight.register(principal.tokenId, scopeKey, callId);
  registration?.signal.addEventListener('abort', () => exchange.abort(), { once: true });

  // A subscriptions/listen stream gets a handler of its own, fed with its runtimes' file changes.
  let handler = shared;
  let endListen: (() => void) | null = null;
  if (method === 'subscriptions/listen') {
    const opened = listen(request.body, request.headers.authorization, () => exchange.abort());
    if ('refusal' in opened) {
      onEnd(method, 200, (performance.now() - started) / 1000);
      // In-band, as the SDK answers its own listen refusals (HTTP 200, a JSON-RPC error).
      return reply
        .code(200)
        .send({ jsonrpc: '2.0', id: (request.body as { id?: unknown }).id ?? null, error: opened.refusal });
    }
    handler = opened.handler;
    endListen = opened.dispose;
  }

  // The raw response is ours from here on; Fastify must not answer it a second time.
  reply.hijack();
  const raw = reply.raw;
  raw.on('close', () => {
    exchange.abort();
    registration?.done();
    endListen?.();
    onEnd(method, raw.statusCode, (performance.now() - started) / 1000);
  });

  const authInfo: AuthInfo = {
    token: '',
    clientId: principal.tokenId,
    scopes: [],
    extra: { [SCOPE_KEY]: scope },
  };
  const url = new URL(request.url, `http://${request.headers.host ?? 'localhost'}`);
  try {
    const response = await handler.fetch(
      new Request(url, { method: request.method, headers: webHeadersOf(request), signal: exchange.signal }),
      { parsedBody: request.body, authInfo },
    );
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    raw.writeHead(response.status, headers);
    if (response.body) {
      for await (const chunk of response.body) {
        if (raw.destroyed) break;
        raw.write(chunk);
      }
    }
    raw.end();
  } catch (err) {
    if (!exchange.signal.aborted) request.log.error({ err }, 'MCP request failed');
    if (!raw.headersSent) {
      raw.writeHead(500, { 'content-type': 'application/json' });
      raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }));
    } else raw.end();
  } finally {
    registration?.done();
  }
  return reply;
}

/**
 * Serves `/v1/runtimes/:id/mcp`: the runtime's tools as a Model Context Protocol server over
 * Streamable HTTP, so any MCP client can use a runtime directly. Both protocol eras share the
 * URL: 2026-07-28 requests (no handshake, `server/discover`, the per-request `_meta` envelope,
 * `Mcp-Method`/`Mcp-Name` headers) and 2025-era ones (`initialize` first). Stateless either
 * way: every POST gets a fresh MCP server, nothing is kept between requests, and any relay
 * node can answer. GET (a standalone server→client stream) and DELETE (end a session) mean
 * nothing without sessions and are answered 405, which both revisions allow.
 */
export interface McpRouteOptions {
  /** Browser origins besides loopback ones that may use the MCP endpoints (`*`: any); see originAllowed. */
  allowedOrigins?: readonly string[];
  /** Called once per MCP exchange when it ended (metrics): endpoint, JSON-RPC method, HTTP status. */
  onExchange?: (endpoint: 'runtime' | 'org', method: string | undefined, status: number, seconds: number) => void;
  /** Most `subscriptions/listen` streams open at once on this node (default DEFAULT_MAX_LISTEN_STREAMS). */
  maxListenStreams?: number;
  /** How often an open listen stream re-checks its token (default DEFAULT_LISTEN_REAUTH_MS; the relay passes sseKeepaliveMs). */
  listenReauthMs?: number;
  /** The relay's Bus: a `notifications/cancelled` no call of this node matches is broadcast to the others. */
  bus?: Pick<Bus, 'broadcast' | 'onBroadcast'>;
}

export async function registerMcpRoutes(
  app: FastifyInstance,
  services: RelayServices,
  routeOptions: McpRouteOptions = {},
): Promise<void> {
  const allowedOrigins = routeOptions.allowedOrigins ?? [];
  const onExchange = routeOptions.onExchange ?? (() => undefined);
  // DNS rebinding and cross-site pages: refused before anything else is looked at.
  // A plain callback (no promise for each of the other routes' requests); a refusal answers here
  // and does not go on.
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.routeOptions.url;
    if ((path !== MCP_ROUTE && path !== ORG_MCP_ROUTE) || originAllowed(request.headers.origin, allowedOrigins))
      return done();
    sendError(reply, 'forbidden', 'Requests from this Origin may not use the MCP endpoint (see --allowed-origins).');
  });
  const logError = (message: string, err: unknown): void => app.log.error({ err }, message);
  const inFlight = new McpCallRegistry();
  const bus = routeOptions.bus;
  const cancelElsewhere = bus
    ? (message: Extract<NodeBroadcast, { kind: 'mcp-cancel' }>) =>
        bus.broadcast(message).catch((err: unknown) => app.log.warn({ err }, 'MCP cancel broadcast failed'))
    : undefined;
  if (bus) {
    const unsubscribe = bus.onBroadcast((m) => {
      if (m.kind === 'mcp-cancel') inFlight.cancel(m.tokenId, m.scope, m.requestId);
    });
    app.addHook('onClose', async () => unsubscribe());
  }
  const options = {
    legacy: 'stateless',
    maxRequestBodySize: MAX_MCP_BODY_BYTES,
    onerror: (err: Error) => app.log.debug({ err }, 'MCP request refused'),
  } as const;
  const runtimeFactory = (ctx: McpRequestContext): Server =>
    createRuntimeMcpServer({ services, ...scopeOf<McpScope>(ctx), logError, era: ctx.era });
  const orgFactory = (ctx: McpRequestContext): Server =>
    createOrgMcpServer({ services, ...scopeOf<OrgMcpScope>(ctx), logError, era: ctx.era });
  const handler = createMcpHandler(runtimeFactory, options);
  const orgHandler = createMcpHandler(orgFactory, options);
  const notReadable = (principal: Principal, runtime: RuntimeView): string | null => {
    const refusal = resourceRefusal(principal, runtime);
    return refusal ? `${refusal.code}: ${refusal.message}` : null;
  };
  // Each listen stream has a handler of its own, so the SDK's per-handler cap does not bound them: this does.
  const maxListens = routeOptions.maxListenStreams ?? DEFAULT_MAX_LISTEN_STREAMS;
  const reauthMs = routeOptions.listenReauthMs ?? DEFAULT_LISTEN_REAUTH_MS;
  let openListens = 0;
  const bounded =
    (open: ListenFactory): ListenFactory =>
    (body, authorization, end) => {
      if (openListens >= maxListens)
        return {
          refusal: {
            code: -32603,
            message: `rate_limited: ${maxListens} subscriptions/listen streams are open on this relay node; try again later`,
          },
        };
      const opened = open(body, authorization, end);
      if ('refusal' in opened) return opened;
      openListens++;
      let disposed = false;
      return {
        handler: opened.handler,
        dispose: () => {
          if (disposed) return;
          disposed = true;
          openListens--;
          opened.dispose();
        },
      };
    };
  const runtimeListen = (scope: McpScope): ListenFactory =>
    bounded((body, authorization, end) =>
      openListen(
        services,
        runtimeFactory,
        options,
        (uri) => {
          const path = workspacePathOf(uri);
          if (path === null) return { refusal: 'not_found: not a workspace file URI' };
          const refused = notReadable(scope.principal, scope.runtime);
          return refused ? { refusal: refused } : { runtime: scope.runtime, path };
        },
        reauthMs,
        scope.principal,
        body,
        authorization,
        end,
      ),
    );
  const orgListen = (scope: OrgMcpScope): ListenFactory =>
    bounded((body, authorization, end) =>
      openListen(
        services,
        orgFactory,
        options,
        (uri) => {
          const target = orgResourceOf(uri);
          if (target === null) return { refusal: 'not_found: not a runtime file URI (tether://{runtime}/{path})' };
          const runtime = scope.runtimes.find((r) => r.id === target.runtimeId);
          if (!runtime) return { refusal: 'not_found: There is no runtime with that id.' };
          const refused = notReadable(scope.principal, runtime);
          return refused ? { refusal: refused } : { runtime, path: target.path };
        },
        reauthMs,
        scope.principal,
        body,
        authorization,
        end,
      ),
    );
  app.addHook('onClose', async () => {
    await Promise.all([handler.close(), orgHandler.close()]);
  });

  app.post<{ Params: RuntimeParams }>(MCP_ROUTE, { bodyLimit: MAX_MCP_BODY_BYTES }, async (request, reply) => {
    const scope = await admit(services, request, reply);
    if (!scope) return reply;
    return serveMcp(
      handler,
      runtimeListen(scope),
      inFlight,
      scope.runtime.id,
      scope,
      request,
      reply,
      (...args) => onExchange('runtime', ...args),
      cancelElsewhere,
    );
  });

  const methodNotAllowed = async (request: FastifyRequest<{ Params: RuntimeParams }>, reply: FastifyReply) => {
    const admitted = await admit(services, request, reply);
    if (!admitted) return reply;
    return reply
      .code(405)
      .header('allow', 'POST')
      .send({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Method not allowed: this endpoint is stateless, use POST.' },
        id: null,
      });
  };
  app.get<{ Params: RuntimeParams }>(MCP_ROUTE, methodNotAllowed);
  app.delete<{ Params: RuntimeParams }>(MCP_ROUTE, methodNotAllowed);

  const admitOrg = async (request: FastifyRequest, reply: FastifyReply): Promise<OrgMcpScope | null> => {
    const principal = request.principal ?? (await services.authenticatePlatform(request.headers.authorization));
    if (!principal) {
      await sendError(reply, 'unauthorized');
      return null;
    }
    // The core scopes the list to the org and a grant's runtimes; archived ones are gone for good.
    const runtimes = (await services.listRuntimes(principal)).filter((r) => r.state !== 'archived');
    return { principal, runtimes };
  };
  app.post(ORG_MCP_ROUTE, { bodyLimit: MAX_MCP_BODY_BYTES }, async (request, reply) => {
    const scope = await admitOrg(request, reply);
    if (!scope) return reply;
    return serveMcp(
      orgHandler,
      orgListen(scope),
      inFlight,
      ORG_SCOPE_KEY,
      scope,
      request,
      reply,
      (...args) => onExchange('org', ...args),
      cancelElsewhere,
    );
  });
  const orgMethodNotAllowed = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!(await admitOrg(request, reply))) return reply;
    return reply
      .code(405)
      .header('allow', 'POST')
      .send({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Method not allowed: this endpoint is stateless, use POST.' },
        id: null,
      });
  };
  app.get(ORG_MCP_ROUTE, orgMethodNotAllowed);
  app.delete(ORG_MCP_ROUTE, orgMethodNotAllowed);
}
