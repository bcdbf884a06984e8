import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { printable, TetherError } from '@tether/shared';
import { parseTrustProxy, type TrustProxy } from './http/client-address.js';
import { redactUrl } from './bus/redis-bus.js';
import { parseAllowedOrigins } from './mcp/origin-check.js';
import { openAdmin, openClusterAdmin, type RelayAdmin } from './relay-admin.js';
import { RELAY_VERSION } from './relay-metrics.js';
import { DEFAULT_PORT, DEFAULT_SHUTDOWN_GRACE_MS, type RelayLimits } from './relay-limits.js';
import { startRelay, type RelayOptions } from './relay-server.js';
import { isRelayHost } from './desktop/device-proof.js';
import { lockDataDir } from './store/data-dir-lock.js';

const USAGE = `Usage:
  tether-relay --version
  tether-relay serve [--host 127.0.0.1] [--port 8787] [--data-dir DIR] [--tls-cert F --tls-key F] [--log-level info]
                     [--heartbeat-interval-ms N] [--shutdown-grace-ms N] [--max-frame-bytes N] [--max-in-flight-per-runtime N]
                     [--max-send-queue-bytes N] [--max-body-bytes N] [--call-log-max-rows N] [--call-log-max-age-ms N] [--idempotency-window-ms N] [--max-connections N] [--sse-keepalive-ms N]
                     [--credential-requests-per-window N] [--credential-window-ms N] [--auth-failures-per-window N] [--auth-failure-window-ms N]
                     [--request-timeout-ms N] [--headers-timeout-ms N] [--keep-alive-timeout-ms N] [--max-connections-per-address N]
                     [--max-unauthenticated-connections-per-address N] [--max-connections-per-desktop-token N]
                     [--max-in-flight-calls-per-org N] [--max-runtimes-per-org N] [--max-mcp-listen-streams N]
                     [--metrics-token T] [--trust-proxy true|N|ADDR,CIDR,...] [--allowed-origins ORIGIN,...|*]
                     [--public-url URL] [--public-host HOST[:PORT],...] [--database-url postgres://… --redis-url redis://…]
  tether-relay org create SLUG [--data-dir DIR | --database-url URL]
  tether-relay token create --org SLUG --kind desktop|platform [--name N] [--data-dir DIR | --database-url URL]
  tether-relay token list --org SLUG [--data-dir DIR | --database-url URL]
  tether-relay token revoke ID [--data-dir DIR | --database-url URL [--redis-url URL]]
  tether-relay oauth list --org SLUG [--data-dir DIR | --database-url URL]     (MCP clients approved with OAuth)
  tether-relay oauth revoke ID [--data-dir DIR | --database-url URL [--redis-url URL]]
  tether-relay device list --org SLUG [--data-dir DIR | --database-url URL]
  tether-relay device forget ID --org SLUG [--data-dir DIR | --database-url URL]

A cluster node: serve with --database-url (PostgreSQL, shared by the nodes) and --redis-url (Redis,
between the nodes); without them the relay keeps SQLite in --data-dir and routes in-process.

Environment: TETHER_RELAY_HOST, TETHER_RELAY_PORT, TETHER_RELAY_DATA_DIR (default ./.tether/relay),
TETHER_RELAY_TLS_CERT, TETHER_RELAY_TLS_KEY, TETHER_RELAY_LOG_LEVEL, TETHER_RELAY_HEARTBEAT_INTERVAL_MS,
TETHER_RELAY_SHUTDOWN_GRACE_MS, and the limits TETHER_RELAY_MAX_FRAME_BYTES, TETHER_RELAY_MAX_IN_FLIGHT_PER_RUNTIME,
TETHER_RELAY_MAX_SEND_QUEUE_BYTES, TETHER_RELAY_MAX_BODY_BYTES, TETHER_RELAY_CALL_LOG_MAX_ROWS,
TETHER_RELAY_CALL_LOG_MAX_AGE_MS, TETHER_RELAY_IDEMPOTENCY_WINDOW_MS, TETHER_RELAY_MAX_CONNECTIONS, TETHER_RELAY_SSE_KEEPALIVE_MS,
TETHER_RELAY_CREDENTIAL_REQUESTS_PER_WINDOW, TETHER_RELAY_CREDENTIAL_WINDOW_MS, TETHER_RELAY_AUTH_FAILURES_PER_WINDOW,
TETHER_RELAY_AUTH_FAILURE_WINDOW_MS, TETHER_RELAY_REQUEST_TIMEOUT_MS, TETHER_RELAY_HEADERS_TIMEOUT_MS,
TETHER_RELAY_KEEP_ALIVE_TIMEOUT_MS, TETHER_RELAY_MAX_CONNECTIONS_PER_ADDRESS,
TETHER_RELAY_MAX_UNAUTHENTICATED_CONNECTIONS_PER_ADDRESS, TETHER_RELAY_MAX_CONNECTIONS_PER_DESKTOP_TOKEN,
TETHER_RELAY_MAX_IN_FLIGHT_CALLS_PER_ORG, TETHER_RELAY_MAX_RUNTIMES_PER_ORG (the same as the flags; 0 requests or failures per window, or 0 as a
cap: no limit), and
TETHER_RELAY_METRICS_TOKEN (better than the flag, which other users can see in the process list: /metrics then
wants it as a Bearer token; without one /metrics answers loopback clients only), TETHER_RELAY_TRUST_PROXY (which
proxies may name the client in X-Forwarded-For: true, a hop count, or addresses/CIDRs such as loopback,10.0.0.0/8;
none by default), TETHER_RELAY_ALLOWED_ORIGINS (browser origins besides loopback ones that may use the MCP
endpoints, such as https://app.example; * for any; none by default), TETHER_RELAY_PUBLIC_URL (the URL platforms
reach the relay at, for /openapi.json; by default the scheme and host of each request), TETHER_RELAY_PUBLIC_HOST (the hosts desktops
reach the relay at, as in their relay URL, which their device key proofs must name; default: the Host header of each connection). TETHER_RELAY_DATABASE_URL,
TETHER_RELAY_REDIS_URL (a cluster node). Flags win over the environment.`;

/** Wrong usage: message and exit code 2. */
class UsageError extends Error {}

/** Shortest metrics token accepted: a guessable one would publish the counters after all. */
const MIN_METRICS_TOKEN_LENGTH = 16;

/** Log lines are written once this many bytes are waiting (about thirty per-call lines)… */
const LOG_BATCH_BYTES = 8192;
/** …and whatever is waiting is written every this many ms (and at exit: pino flushes it then). */
const LOG_FLUSH_MS = 100;

/** Limit name → [flag, environment variable, smallest value (default 1; 0 where it switches the limit off)]. */
const LIMIT_SETTINGS: Record<keyof RelayLimits, [string, string, number?]> = {
  maxFrameBytes: ['max-frame-bytes', 'TETHER_RELAY_MAX_FRAME_BYTES'],
  maxInFlightPerRuntime: ['max-in-flight-per-runtime', 'TETHER_RELAY_MAX_IN_FLIGHT_PER_RUNTIME'],
  maxSendQueueBytes: ['max-send-queue-bytes', 'TETHER_RELAY_MAX_SEND_QUEUE_BYTES'],
  maxBodyBytes: ['max-body-bytes', 'TETHER_RELAY_MAX_BODY_BYTES'],
  callLogMaxRows: ['call-log-max-rows', 'TETHER_RELAY_CALL_LOG_MAX_ROWS'],
  callLogMaxAgeMs: ['call-log-max-age-ms', 'TETHER_RELAY_CALL_LOG_MAX_AGE_MS'],
  idempotencyWindowMs: ['idempotency-window-ms', 'TETHER_RELAY_IDEMPOTENCY_WINDOW_MS'],
  maxConnections: ['max-connections', 'TETHER_RELAY_MAX_CONNECTIONS'],
  sseKeepaliveMs: ['sse-keepalive-ms', 'TETHER_RELAY_SSE_KEEPALIVE_MS'],
  credentialRequestsPerWindow: ['credential-requests-per-window', 'TETHER_RELAY_CREDENTIAL_REQUESTS_PER_WINDOW', 0],
  credentialWindowMs: ['credential-window-ms', 'TETHER_RELAY_CREDENTIAL_WINDOW_MS'],
  authFailuresPerWindow: ['auth-failures-per-window', 'TETHER_RELAY_AUTH_FAILURES_PER_WINDOW', 0],
  authFailureWindowMs: ['auth-failure-window-ms', 'TETHER_RELAY_AUTH_FAILURE_WINDOW_MS'],
  requestTimeoutMs: ['request-timeout-ms', 'TETHER_RELAY_REQUEST_TIMEOUT_MS'],
  headersTimeoutMs: ['headers-timeout-ms', 'TETHER_RELAY_HEADERS_TIMEOUT_MS'],
  keepAliveTimeoutMs: ['keep-alive-timeout-ms', 'TETHER_RELAY_KEEP_ALIVE_TIMEOUT_MS'],
  maxConnectionsPerAddress: ['max-connections-per-address', 'TETHER_RELAY_MAX_CONNECTIONS_PER_ADDRESS', 0],
  maxUnauthenticatedConnectionsPerAddress: [
    'max-unauthenticated-connections-per-address',
    'TETHER_RELAY_MAX_UNAUTHENTICATED_CONNECTIONS_PER_ADDRESS',
    0,
  ],
  maxConnectionsPerDesktopToken: [
    'max-connections-per-desktop-token',
    'TETHER_RELAY_MAX_CONNECTIONS_PER_DESKTOP_TOKEN',
    0,
  ],
  maxInFlightCallsPerOrg: ['max-in-flight-calls-per-org', 'TETHER_RELAY_MAX_IN_FLIGHT_CALLS_PER_ORG', 0],
  maxRuntimesPerOrg: ['max-runtimes-per-org', 'TETHER_RELAY_MAX_RUNTIMES_PER_ORG', 0],
  maxMcpListenStreams: ['max-mcp-listen-streams', 'TETHER_RELAY_MAX_MCP_LISTEN_STREAMS'],
};

/** Highest TCP port: a bigger --port is bad usage (exit 2), not a failure to listen. */
const MAX_PORT = 65535;

/** A whole-number setting; 0 is allowed only where it means something (port 0: any free port). */
function positiveInt(
  name: string,
  text: string | undefined,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(
      max === Number.MAX_SAFE_INTEGER
        ? `${name} must be a whole number of at least ${min}, got "${text}"`
        : `${name} must be a whole number from ${min} to ${max}, got "${text}"`,
    );
  return n;
}

/** What to do about the system failures an operator meets first (said after the failure itself). */
const SYSTEM_FAILURE_HINTS: Record<string, string> = {
  EADDRINUSE: 'another program listens there, perhaps another relay: stop it or choose another --port',
  EADDRNOTAVAIL: 'this machine has no such address: check --host',
  EACCES: 'permission denied: ports below 1024 need privileges; files and folders need read/write access',
};

/**
 * A failure of the machine rather than of the program (a port in use, a missing TLS file, a data dir that is
 * a file, a SQLite file it cannot open) as one line with its causes, or null for anything else (a bug,
 * which keeps its stack).
 */
function systemFailure(err: unknown): string | null {
  const messages: string[] = [];
  let code: string | undefined;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    messages.push(e.message);
    const c = (e as NodeJS.ErrnoException).code;
    if (code === undefined && typeof c === 'string' && /^(E[A-Z]+|SQLITE_[A-Z_]+)$/.test(c)) code = c;
  }
  if (code === undefined) return null;
  const hint = SYSTEM_FAILURE_HINTS[code];
  return `${messages.join(': ')}${hint !== undefined ? ` (${hint})` : ''}`;
}

function parse(
  args: string[],
  options: Record<string, { type: 'string' }>,
  positionals: number,
  env: NodeJS.ProcessEnv = process.env,
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        'redis-url': { type: 'string' },
        ...options,
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length !== positionals)
    throw new UsageError(
      positionals === 0 ? `unexpected argument "${parsed.positionals[0]}"` : `expected ${positionals} argument(s)`,
    );
  const dataDir = (parsed.values['data-dir'] as string | undefined) ?? env.TETHER_RELAY_DATA_DIR ?? './.tether/relay';
  const databaseUrl =
    (parsed.values['database-url'] as string | undefined) ?? (env.TETHER_RELAY_DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new UsageError('--database-url must be a postgres:// URL');
  const redisUrl = (parsed.values['redis-url'] as string | undefined) ?? (env.TETHER_RELAY_REDIS_URL || undefined);
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl))
    throw new UsageError('--redis-url must be a redis:// or rediss:// URL');
  return {
    values: parsed.values as Record<string, string | undefined>,
    positionals: parsed.positionals,
    dataDir,
    databaseUrl,
    redisUrl,
  };
}

/** The options of `serve` from its flags and the environment (flags win); throws on bad usage. */
export function serveOptions(args: string[], env: NodeJS.ProcessEnv = process.env): RelayOptions {
  const flags: Record<string, { type: 'string' }> = {};
  for (const name of [
    'host',
    'port',
    'tls-cert',
    'tls-key',
    'log-level',
    'heartbeat-interval-ms',
    'shutdown-grace-ms',
    'metrics-token',
    'trust-proxy',
    'allowed-origins',
    'public-url',
    'redis-url',
    'public-host',
    ...Object.values(LIMIT_SETTINGS).map(([flag]) => flag),
  ])
    flags[name] = { type: 'string' };
  const { values, dataDir, databaseUrl, redisUrl } = parse(args, flags, 0, env);
  // Half a cluster would split the records (SQLite per node) or the routing (in-process per node).
  if ((databaseUrl === undefined) !== (redisUrl === undefined))
    throw new UsageError('a cluster node needs both --database-url and --redis-url');
  const cert = values['tls-cert'] ?? env.TETHER_RELAY_TLS_CERT;
  const key = values['tls-key'] ?? env.TETHER_RELAY_TLS_KEY;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const limits: Partial<RelayLimits> = {};
  for (const [name, [flag, variable, min]] of Object.entries(LIMIT_SETTINGS) as Array<
    [keyof RelayLimits, [string, string, number?]]
  >) {
    const value = positiveInt(`--${flag}`, values[flag] ?? env[variable], min);
    if (value !== undefined) limits[name] = value;
  }
  const heartbeatIntervalMs = positiveInt(
    '--heartbeat-interval-ms',
    values['heartbeat-interval-ms'] ?? env.TETHER_RELAY_HEARTBEAT_INTERVAL_MS,
  );
  const shutdownGraceMs = positiveInt(
    '--shutdown-grace-ms',
    values['shutdown-grace-ms'] ?? env.TETHER_RELAY_SHUTDOWN_GRACE_MS,
  );
  const metricsToken = values['metrics-token'] ?? (env.TETHER_RELAY_METRICS_TOKEN || undefined);
  if (
    metricsToken !== undefined &&
    (metricsToken.length < MIN_METRICS_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(metricsToken))
  )
    throw new UsageError(
      `--metrics-token must be at least ${MIN_METRICS_TOKEN_LENGTH} printable characters without spaces`,
    );
  const trustProxyText = values['trust-proxy'] ?? (env.TETHER_RELAY_TRUST_PROXY || undefined);
  let trustProxy: TrustProxy | undefined;
  try {
    trustProxy = trustProxyText === undefined ? undefined : parseTrustProxy(trustProxyText);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const originsText = values['allowed-origins'] ?? (env.TETHER_RELAY_ALLOWED_ORIGINS || undefined);
  let allowedOrigins: string[] | undefined;
  try {
    allowedOrigins = originsText === undefined ? undefined : parseAllowedOrigins(originsText);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const publicUrlText = values['public-url'] ?? (env.TETHER_RELAY_PUBLIC_URL || undefined);
  let publicUrl: string | undefined;
  if (publicUrlText !== undefined) {
    const parsed = URL.canParse(publicUrlText) ? new URL(publicUrlText) : null;
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.search || parsed.hash)
      throw new UsageError(`--public-url must be an http(s) URL such as https://relay.example: ${publicUrlText}`);
    publicUrl = parsed.href.replace(/\/$/, '');
  }
  const publicHostText = values['public-host'] ?? (env.TETHER_RELAY_PUBLIC_HOST || undefined);
  const publicHosts = publicHostText
    ?.split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (const h of publicHosts ?? [])
    if (!isRelayHost(h))
      throw new UsageError(
        `--public-host: "${h}" is not a host as a relay URL names it (name or name:port, no scheme or path, no default port)`,
      );
  return {
    host: values.host ?? env.TETHER_RELAY_HOST ?? '127.0.0.1',
    port: positiveInt('--port', values.port ?? env.TETHER_RELAY_PORT, 0, MAX_PORT) ?? DEFAULT_PORT,
    dataDir,
    logLevel: values['log-level'] ?? env.TETHER_RELAY_LOG_LEVEL ?? 'info',
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
    ...(shutdownGraceMs !== undefined ? { shutdownGraceMs } : {}),
    limits,
    ...(metricsToken !== undefined ? { metricsToken } : {}),
    ...(trustProxy !== undefined ? { trustProxy } : {}),
    ...(allowedOrigins !== undefined ? { allowedOrigins } : {}),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    ...(redisUrl !== undefined ? { redisUrl } : {}),
    ...(publicHosts !== undefined && publicHosts.length > 0 ? { publicHosts } : {}),
  };
}

async function serve(args: string[]): Promise<void> {
  const options = serveOptions(args);
  // One serving relay per data dir: a second one would mark the first one's runtimes stopped.
  // A cluster's nodes share their database on purpose, and none stops another's runtimes.
  const lock = options.databaseUrl === undefined ? await lockDataDir(options.dataDir) : { dispose: () => undefined };
  // Every line is JSON, through pino's asynchronous destination (cheap on the call path),
  // flushed before the process exits. Start and stop are said at info whatever --log-level is.
  // Lines are gathered up to LOG_BATCH_BYTES and written at least every LOG_FLUSH_MS: one write
  // per call (a syscall each) was ~7% of the relay's CPU at one log line per call.
  const logStream = pino.destination({
    dest: 1,
    sync: false,
    minLength: LOG_BATCH_BYTES,
    periodicFlush: LOG_FLUSH_MS,
  });
  const lifecycle = pino({ level: 'info' }, logStream);
  let relay;
  try {
    relay = await startRelay({ ...options, logStream });
  } catch (err) {
    lock.dispose();
    logStream.flushSync();
    throw err;
  }
  const metrics = options.metricsToken !== undefined ? 'with the metrics token' : 'loopback clients only';
  const data =
    options.databaseUrl !== undefined
      ? `${redactUrl(options.databaseUrl)}, bus: ${redactUrl(options.redisUrl ?? '')}`
      : options.dataDir;
  lifecycle.info(
    { url: relay.url, wsUrl: relay.wsUrl, data, metrics, version: RELAY_VERSION },
    `tether-relay listening on ${relay.url} (desktops: ${relay.wsUrl}, data: ${data}, metrics: ${metrics})`,
  );
  // Whoever waits for this line (a supervisor, a script) gets it now, not at the next flush.
  logStream.flush();
  const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const stop = (signal: string) => {
    lifecycle.info({ signal, graceMs }, `${signal}: shutting down (in-flight calls get up to ${graceMs} ms)`);
    relay.close().then(
      () => {
        lock.dispose();
        logStream.flushSync();
        process.exit(0);
      },
      (err: unknown) => {
        lifecycle.error({ err }, 'shutdown failed');
        logStream.flushSync();
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

async function withAdmin<T>(
  where: { dataDir: string; databaseUrl: string | undefined; redisUrl: string | undefined },
  fn: (admin: RelayAdmin) => Promise<T>,
): Promise<T> {
  if (where.databaseUrl === undefined && where.redisUrl !== undefined)
    throw new UsageError('--redis-url goes with --database-url (a cluster)');
  // With the cluster's Redis, a revocation reaches every node at once.
  const admin =
    where.databaseUrl !== undefined
      ? await openClusterAdmin(where.databaseUrl, {
          redisUrl: where.redisUrl,
          onNotifyFailed: (err) =>
            console.error(
              `tether-relay: warning: done, but the nodes could not be told over Redis (${err.message}); they notice within seconds`,
            ),
        })
      : openAdmin(where.dataDir);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  // `--help` anywhere (`tether-relay token create --help`) asks for the usage, not for an error.
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (command === '--version' || command === '-V') {
    console.log(RELAY_VERSION);
    return;
  }
  if (command === 'serve') return serve(argv.slice(1));
  if (command === 'org' && sub === 'create') {
    const { positionals, ...where } = parse(rest, {}, 1);
    const org = await withAdmin(where, (a) => a.createOrg(positionals[0]!));
    console.log(`created org ${org.slug} (${org.id})`);
    return;
  }
  if (command === 'token' && sub === 'create') {
    const { values, ...where } = parse(
      rest,
      { org: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' } },
      0,
    );
    if (!values.org) throw new UsageError('--org is required');
    if (values.kind !== 'desktop' && values.kind !== 'platform')
      throw new UsageError('--kind must be desktop or platform');
    const kind = values.kind;
    const created = await withAdmin(where, (a) =>
      a.createToken({ org: values.org!, kind, ...(values.name !== undefined ? { name: values.name } : {}) }),
    );
    console.log(
      `created ${kind} token ${created.id} for org ${values.org}; it is shown once, only its hash is stored:`,
    );
    console.log(created.token);
    return;
  }
  if (command === 'token' && sub === 'list') {
    const { values, ...where } = parse(rest, { org: { type: 'string' } }, 0);
    if (!values.org) throw new UsageError('--org is required');
    const tokens = await withAdmin(where, (a) => a.listTokens(values.org!));
    for (const t of tokens) {
      const columns = [t.id, t.kind, t.createdAt, t.revokedAt ? `revoked ${t.revokedAt}` : 'active', t.name];
      // Which installs a desktop token holds: the one to revoke when a device is refused with 4403.
      if (t.devices.length > 0)
        columns.push(`devices: ${t.devices.map((d) => `${printable(d.name)} (${printable(d.deviceId)})`).join(', ')}`);
      console.log(columns.join('\t'));
    }
    if (tokens.length === 0) console.log('(no tokens)');
    return;
  }
  if (command === 'token' && sub === 'revoke') {
    const { positionals, ...where } = parse(rest, {}, 1);
    const revoked = await withAdmin(where, (a) => a.revokeToken(positionals[0]!));
    if (!revoked) throw new TetherError('not_found', `no active token ${positionals[0]}`);
    console.log(`revoked ${positionals[0]}`);
    return;
  }
  if (command === 'device' && sub === 'list') {
    const { values, ...where } = parse(rest, { org: { type: 'string' } }, 0);
    if (!values.org) throw new UsageError('--org is required');
    const devices = await withAdmin(where, (a) => a.listDevices(values.org!));
    for (const d of devices) {
      // What the desktop sent is escaped: a device name must not drive the admin's terminal.
      const key = d.keyFingerprint !== null ? `key ${d.keyFingerprint} (bound ${d.keyBoundAt})` : 'no key';
      const token = d.tokenId ?? 'no token';
      console.log(
        [printable(d.deviceId), printable(d.name), printable(d.os), `last seen ${d.lastSeenAt}`, token, key].join('\t'),
      );
    }
    if (devices.length === 0) console.log('(no devices)');
    return;
  }
  if (command === 'device' && sub === 'forget') {
    const { positionals, values, ...where } = parse(rest, { org: { type: 'string' } }, 1);
    if (!values.org) throw new UsageError('--org is required');
    const forgotten = await withAdmin(where, (a) => a.forgetDeviceKey(values.org!, positionals[0]!));
    if (!forgotten) throw new TetherError('not_found', `org ${values.org} has no device ${positionals[0]} with a key`);
    console.log(`forgot the key of device ${positionals[0]}; its next hello binds the key it proves`);
    return;
  }
  if (command === 'oauth' && sub === 'list') {
    const { values, ...where } = parse(rest, { org: { type: 'string' } }, 0);
    if (!values.org) throw new UsageError('--org is required');
    const clients = await withAdmin(where, (a) => a.listOAuthClients(values.org!));
    for (const c of clients)
      console.log(
        [
          c.id,
          printable(c.clientName),
          c.redirectHost,
          c.categories.join(','),
          `until ${c.expiresAt}`,
          `runtimes: ${c.runtimeIds.join(',')}`,
        ].join('\t'),
      );
    if (clients.length === 0) console.log('(no approved clients)');
    return;
  }
  if (command === 'oauth' && sub === 'revoke') {
    const { positionals, ...where } = parse(rest, {}, 1);
    const revoked = await withAdmin(where, (a) => a.revokeOAuthClient(positionals[0]!));
    if (!revoked) throw new TetherError('not_found', `no active OAuth client ${positionals[0]}`);
    console.log(`revoked ${positionals[0]}`);
    return;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(' ')}"`);
}

/** Runs the `tether-relay` command line; resolves to the exit code (0 ok, 1 failure, 2 bad usage). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await main(argv);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tether-relay: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof TetherError) {
      console.error(`tether-relay: ${err.message} (${err.code})`);
      return 1;
    }
    const failure = systemFailure(err);
    if (failure !== null) console.error(`tether-relay: ${failure}`);
    else console.error('tether-relay:', err);
    return 1;
  }
}
