import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { errorValue } from '@tether/shared';
import type { Bus } from './bus/bus.js';
import { LocalBus } from './bus/local-bus.js';
import { RedisBus } from './bus/redis-bus.js';
import { CONNECT_PATH, DesktopHub } from './desktop/desktop-hub.js';
import { clientAddressOf, trustFunction, type TrustProxy } from './http/client-address.js';
import { AccessGuard } from './http/access-guard.js';
import { ConnectionCaps } from './http/connection-caps.js';
import { honourConnectionClose } from './http/connection-header.js';
import { LocalLimits } from './http/shared-limits.js';
import { bodyRefusalOf, registerJsonParser } from './http/json-bounds.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { registerPlatformRoutes, sendError } from './http/platform-routes.js';
import type { SseStream } from './http/sse-stream.js';
import { REDACTING_LOGGER_OPTIONS } from './log-redaction.js';
import { createRelayAdmin, type RelayAdmin } from './relay-admin.js';
import { RelayCore } from './relay-core.js';
import {
  CALL_LOG_PRUNE_INTERVAL_MS,
  BOOKKEEPING_EVERY_TICKS,
  CLUSTER_STALE_HEARTBEATS,
  CLUSTER_SWEEP_BATCH,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_RELAY_LIMITS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  HTTP_TIMEOUT_CHECK_INTERVAL_MS,
  type RelayLimits,
} from './relay-limits.js';
import { RelayMetrics, UNMATCHED_ROUTE } from './relay-metrics.js';
import { RuntimeDirectory } from './runtime-directory.js';
import { PostgresStore } from './store/postgres-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { Store } from './store/store.js';
// MCP endpoint (`/v1/runtimes/:id/mcp`), written by the MCP colleague against RelayServices.
import { registerMcpRoutes } from './mcp/mcp-routes.js';
import { fetchClientMetadataSafely, type ClientMetadataFetcher } from './oauth/client-metadata-fetcher.js';
import { createDesktopOAuth } from './oauth/desktop-oauth.js';
import { issuerFunction, registerOAuthRoutes } from './oauth/oauth-routes.js';
import { OAuthService } from './oauth/oauth-service.js';

/** How to run a relay. */
export interface RelayOptions {
  host?: string;
  port?: number;
  dataDir: string;
  logLevel?: string;
  /** PEM text or file paths: the relay then serves HTTPS and WSS itself. */
  tls?: { cert: string; key: string };
  heartbeatIntervalMs?: number;
  shutdownGraceMs?: number;
  /** Overrides of DEFAULT_RELAY_LIMITS. */
  limits?: Partial<RelayLimits>;
  /** The routing bus; a fresh in-process one by default. Relays sharing one LocalBusNetwork route to each other. */
  bus?: Bus;
  /**
   * `postgres://…`: the records live in PostgreSQL, shared by every node of a cluster, instead of
   * SQLite in `dataDir`. Goes with `redisUrl` (see docs/relay.md, "Running a cluster").
   */
  databaseUrl?: string;
  /** `redis://…`: calls, presence and events go between nodes through Redis (RedisBus). */
  redisUrl?: string;
  /** How long call log writes wait to be batched (default CALL_LOG_FLUSH_MS); tests lengthen it to hold rows unflushed. */
  callLogFlushMs?: number;
  /**
   * When set, `/metrics` answers only `Authorization: Bearer <metricsToken>`; when not, only
   * loopback clients (a relay on 0.0.0.0 does not publish its counters by default).
   */
  metricsToken?: string;
  /**
   * Proxies trusted to name the client in X-Forwarded-For (none by default). Behind a load
   * balancer, without it every client shares the balancer's address for the per-address limits
   * and the loopback rule of `/metrics`.
   */
  trustProxy?: TrustProxy;
  /**
   * The relay's public URL: the OAuth issuer and the resource URLs in its metadata, and the
   * OpenAPI document's `servers`. Without it, each request's own origin (Host and protocol,
   * X-Forwarded-* from trusted proxies) is used.
   */
  publicUrl?: string;
  /**
   * Reads Client ID Metadata Documents (OAuth client ids that are https URLs). The default is
   * SSRF-guarded (https, public addresses only, size and time caps); tests pass one for loopback.
   */
  fetchClientMetadata?: ClientMetadataFetcher;
  /** Lifetime of OAuth access tokens (default OAUTH_ACCESS_TOKEN_TTL_SECONDS); tests shorten it. */
  oauthAccessTokenTtlSeconds?: number;
  /**
   * Where the JSON log lines go (default: stdout, synchronously). The CLI passes pino's
   * asynchronous destination, flushed when the relay closes.
   */
  logStream?: DestinationStream;
  /** Browser origins besides loopback ones that may use the MCP endpoints (`*`: any); none by default. */
  allowedOrigins?: string[];
  /**
   * The hosts (`name` or `name:port`, as in the desktops' relay URL) desktops reach this relay
   * at; a hello's device proof must name one of them. Without, the upgrade's Host header is
   * taken: that binds a proof to the name the desktop used, but does not stop a relay the
   * desktop was pointed at from passing this relay's challenge on (docs/relay.md, Device keys).
   */
  publicHosts?: string[];
}

/** A running relay. */
export interface RelayHandle {
  /** http(s)://host:port */
  url: string;
  /** ws(s)://host:port/v1/connect */
  wsUrl: string;
  port: number;
  admin: RelayAdmin;
  /** Every HTTP route the relay serves (method, Fastify path), for the OpenAPI drift test. */
  routes: ReadonlyArray<{ method: string; url: string }>;
  /** Graceful: stops accepting, lets in-flight calls finish up to shutdownGraceMs, closes desktops with 1001. */
  close(): Promise<void>;
}

/** Longest time `close()` waits for HTTP connections to end after everything was answered. */
const HTTP_CLOSE_TIMEOUT_MS = 5_000;

/** PEM text, or the file it is in; a file that cannot be read names the flag it came from. */
async function pem(value: string, flag: string): Promise<string> {
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (err) {
    throw new Error(`${flag} ${value}: cannot read the file`, { cause: err });
  }
}

/** An incoming X-Request-Id is kept when it is a plain token (it reaches the logs); else a fresh id. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID_PATTERN.test(header) ? header : randomUUID();
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts a relay: Fastify for the platform API, ws (noServer) for desktops, SQLite in `dataDir`. */
export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  const limits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...options.limits };
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const host = options.host ?? '127.0.0.1';
  const https = options.tls
    ? { cert: await pem(options.tls.cert, '--tls-cert'), key: await pem(options.tls.key, '--tls-key') }
    : null;

  // Node's own timeouts of a request being received (Fastify switches requestTimeout off by default).
  const serverTimeouts = {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || limits.headersTimeoutMs),
    connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_INTERVAL_MS,
  };
  const app: FastifyInstance = Fastify({
    ...(https ? { https: { ...https, ...serverTimeouts } } : { http: serverTimeouts }),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    bodyLimit: limits.maxBodyBytes,
    trustProxy: trustFunction(options.trustProxy),
    // close() answers every call and ends every stream first; what is left (a client's spare
    // keep-alive socket that never sent a request) would otherwise hold shutdown for seconds.
    forceCloseConnections: true,
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    // Per-request lines are debug (the access log of a proxy has them); info has one line per call.
    logController: new LogController({
      disableRequestLogging: (options.logLevel ?? 'warn') !== 'debug' && options.logLevel !== 'trace',
    }),
    logger: {
      level: options.logLevel ?? 'warn',
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Tokens never reach the logs: not in headers, query strings, nor anywhere else in a line.
      ...REDACTING_LOGGER_OPTIONS,
    },
  });
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  const onStoreError = (err: unknown) => app.log.error({ err }, 'call log write failed');
  const clustered = options.databaseUrl !== undefined;
  const store: Store = clustered
    ? await PostgresStore.open(options.databaseUrl as string, {
        onError: onStoreError,
        ...(options.callLogFlushMs !== undefined ? { callLogFlushMs: options.callLogFlushMs } : {}),
      })
    : new SqliteStore(options.dataDir, onStoreError, options.callLogFlushMs);
  // The embedded store belongs to this process alone: whatever a previous run left connected is
  // not any more. A cluster's store is shared: other nodes' runtimes are live, and a dead node's
  // are stopped by the sweep below instead.
  if (!clustered) await stopOrphanedRuntimes(store);
  let bus: Bus;
  try {
    bus = options.bus ?? (options.redisUrl ? await RedisBus.connect({ url: options.redisUrl }) : new LocalBus());
  } catch (err) {
    await store.close();
    throw err;
  }
  const directory = new RuntimeDirectory(store, bus);
  // The core records into the metrics and the metrics read the core's count: wired after both exist.
  const inFlight = { count: () => 0 };
  const metrics = new RelayMetrics({
    // Read at scrape time only, when the hub exists.
    connections: () => hub.connectionCount,
    callsInFlight: () => inFlight.count(),
    runtimesByState: () => store.countRuntimesByState(),
  });
  // Rate limits, the failed-auth budget and the per-token connection cap: one budget over every
  // node when the bus spans nodes (Redis), this process's own otherwise.
  const sharedLimits = bus.sharedLimits?.({ onFallback: () => metrics.limitFallback() }) ?? new LocalLimits();
  const trusts = trustFunction(options.trustProxy);
  const caps = new ConnectionCaps(limits, trusts === false ? undefined : (address) => trusts(address, 0), (cap) =>
    metrics.rateLimited(cap),
  );
  caps.attach(app.server, https !== null);
  const issuerOf = issuerFunction(options.publicUrl);
  // The request id goes back on every answer (also those the MCP and SSE routes write themselves).
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.setHeader('x-request-id', request.id);
    done();
  });
  // Every route is counted by its template (never the path: ids would grow the label set).
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') metrics.routeAdded(method, route.url);
  });
  // A callback hook, not an async one: no promise per request for a few synchronous lines.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequest(
      request.method,
      request.routeOptions.url ?? UNMATCHED_ROUTE,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  const guard = new AccessGuard({
    limits,
    metricsToken: options.metricsToken,
    onLimited: (limit) => metrics.rateLimited(limit),
    clientAddress: clientAddressOf(options.trustProxy),
    onAuthenticated: (req) => caps.authenticated(req.socket),
    issuerOf,
    sharedLimits,
  });
  const oauth = new OAuthService({
    store,
    bus,
    fetchClientMetadata: options.fetchClientMetadata ?? fetchClientMetadataSafely,
    ...(options.oauthAccessTokenTtlSeconds !== undefined
      ? { accessTokenTtlSeconds: options.oauthAccessTokenTtlSeconds }
      : {}),
    // As a revoked token: dropped from this node's cache at once, and from the others' over the bus.
    onTokensRevoked: async (ids) => {
      for (const id of ids) {
        core.forgetToken(id);
        await bus.broadcast({ kind: 'token-revoked', tokenId: id });
      }
    },
  });
  const hub = new DesktopHub({
    store,
    bus,
    directory,
    limits,
    heartbeatIntervalMs,
    logger: app.log,
    onUnauthorized: (req, socket) => guard.upgradeUnauthorized(req, socket),
    onAuthenticated: (req) => caps.authenticated(req.socket),
    onLimited: (limit) => metrics.rateLimited(limit),
    oauth: createDesktopOAuth(oauth, app.log),
    publicHosts: options.publicHosts,
    tokenSlots: sharedLimits.slots('desktop-token'),
  });
  const core = new RelayCore(store, bus, directory, metrics, app.log, {
    idempotencyWindowMs: limits.idempotencyWindowMs,
    maxInFlightCallsPerOrg: limits.maxInFlightCallsPerOrg,
  });
  inFlight.count = () => core.inFlightCount;
  const streams = new Set<SseStream>();

  registerJsonParser(app);
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const refused = bodyRefusalOf(err);
    if (refused) return sendError(reply, refused);
    if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(reply, errorValue('too_large', 'the request body is too large'));
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return sendError(reply, errorValue('invalid_request', err.message));
    request.log.error({ err }, 'request failed');
    return sendError(reply, errorValue('internal'));
  });
  app.setNotFoundHandler((_request, reply) => sendError(reply, errorValue('not_found', 'no such route')));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (core.isDraining) return sendError(reply, errorValue('unavailable', 'the relay is shutting down'));
    // A cluster node that cannot reach its database or Redis cannot route: the balancer should skip it.
    if (store.ping && !(await store.ping()))
      return sendError(reply, errorValue('unavailable', 'the database does not answer'));
    if (bus.healthy === false) return sendError(reply, errorValue('unavailable', 'Redis does not answer'));
    return { status: 'ready' };
  });
  app.get('/metrics', async (request, reply) =>
    (await guard.admitMetrics(request, reply))
      ? reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
      : reply,
  );
  // `servers` names the URL clients reach the relay at: the configured public one, or the scheme
  // and host of this request (X-Forwarded-* count only from trusted proxies).
  app.get('/openapi.json', async (request) =>
    buildOpenApiDocument(options.publicUrl ?? `${request.protocol}://${request.host}`),
  );
  // Before the /v1 routes: it authenticates and rate-limits them all (platform API and MCP).
  guard.register(app, core);
  registerPlatformRoutes(app, core, streams, limits.sseKeepaliveMs);
  registerOAuthRoutes(app, { oauth, services: core, store, issuerOf, sharedLimits });
  await registerMcpRoutes(app, core, {
    allowedOrigins: options.allowedOrigins ?? [],
    maxListenStreams: limits.maxMcpListenStreams,
    bus,
    listenReauthMs: limits.sseKeepaliveMs,
    onExchange: (endpoint, method, status, seconds) => metrics.mcpRequest(endpoint, method, status, seconds),
  });

  app.server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
  honourConnectionClose(app.server);

  const pruneCalls = () =>
    Promise.all([
      store
        .pruneCalls(limits.callLogMaxRows, new Date(Date.now() - limits.callLogMaxAgeMs).toISOString())
        .then(async () => core.noteCallLog(await store.callLogSpan(), limits.callLogMaxRows))
        .catch((err: unknown) => app.log.error({ err }, 'call log pruning failed')),
      oauth.prune().catch((err: unknown) => app.log.error({ err }, 'OAuth record pruning failed')),
    ]);
  await pruneCalls();
  const pruneTimer = setInterval(() => void pruneCalls(), CALL_LOG_PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  const sweepTimer = clustered
    ? setInterval(
        () =>
          void directory
            .stopAbandoned(
              // Devices are touched once per bookkeeping round (every BOOKKEEPING_EVERY_TICKS heartbeats).
              new Date(
                Date.now() - CLUSTER_STALE_HEARTBEATS * BOOKKEEPING_EVERY_TICKS * heartbeatIntervalMs,
              ).toISOString(),
              CLUSTER_SWEEP_BATCH,
            )
            .catch((err: unknown) => app.log.error({ err }, 'cluster sweep failed')),
        heartbeatIntervalMs,
      )
    : undefined;
  sweepTimer?.unref();

  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (err) {
    clearInterval(pruneTimer);
    clearInterval(sweepTimer);
    await hub.dispose();
    core.dispose();
    directory.dispose();
    await app.close();
    await bus.dispose();
    await store.close();
    throw new Error(`could not listen on ${host}:${options.port ?? 0}`, { cause: err });
  }
  const port = (app.server.address() as AddressInfo).port;
  const url = `${https ? 'https' : 'http'}://${urlHost(host)}:${port}`;
  const wsUrl = `${https ? 'wss' : 'ws'}://${urlHost(host)}:${port}${CONNECT_PATH}`;
  app.log.info({ url, wsUrl }, 'relay listening');

  const baseAdmin = createRelayAdmin(store);
  const admin: RelayAdmin = {
    ...baseAdmin,
    async revokeToken(id) {
      const revoked = await baseAdmin.revokeToken(id);
      // Its next request here is refused, whatever the token cache held.
      core.forgetToken(id);
      // Desktops connected with it are closed at once, and other nodes drop it from their caches
      // (other processes notice at the next heartbeat, or within TOKEN_CACHE_TTL_MS for platform calls).
      if (revoked) await bus.broadcast({ kind: 'token-revoked', tokenId: id });
      return revoked;
    },
    async revokeOAuthClient(id) {
      const authorization = await store.getOAuthAuthorization(id);
      return authorization ? oauth.revokeAuthorization(authorization.orgId, id) : false;
    },
  };

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      hub.stopAccepting();
      // Stop taking new TCP connections; requests on open ones get 503 (calls: `unavailable`).
      app.server.close();
      await core.drain(options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      await hub.dispose();
      core.dispose();
      directory.dispose();
      for (const stream of [...streams]) stream.dispose();
      clearInterval(pruneTimer);
      clearInterval(sweepTimer);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        app.close(),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            app.server.closeAllConnections();
            resolve();
          }, HTTP_CLOSE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      await bus.dispose();
      await store.close();
    })());

  return { url, wsUrl, port, admin, routes, close };
}

async function stopOrphanedRuntimes(store: Store): Promise<void> {
  const at = new Date().toISOString();
  await store.stopAllLiveRuntimes(at);
  // Rows a crash left unfinished: nobody waits on them any more, and what the desktop did is
  // not known here (a retry with the same key, or a GET of the call, asks it).
  await store.finishOrphanedCalls(at);
}
