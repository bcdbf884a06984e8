import {
  HEARTBEAT_INTERVAL_MS,
  IDEMPOTENCY_WINDOW_MS,
  MAX_FRAME_BYTES,
  MAX_INFLIGHT_CALLS_PER_RUNTIME,
} from '@tether/shared';

/**
 * Every limit the relay enforces, with its default and why. Each can be changed with
 * `RelayOptions.limits` or a `TETHER_RELAY_*` variable (see cli.ts and docs/relay.md).
 */
export interface RelayLimits {
  /** Largest WebSocket frame from a desktop; bigger ones close the socket with 1009 (ws maxPayload). */
  maxFrameBytes: number;
  /** Calls in flight per runtime; more are refused with `busy` instead of piling up on one desktop. */
  maxInFlightPerRuntime: number;
  /** Unsent bytes queued on one desktop socket above which new calls are refused with `busy` (a stalled reader). */
  maxSendQueueBytes: number;
  /** Largest platform API request body: a MAX_WRITE_BYTES write in base64 plus envelope fits. */
  maxBodyBytes: number;
  /** Call log rows kept; the oldest go first. */
  callLogMaxRows: number;
  /** Call log rows older than this are deleted (keep it above `idempotencyWindowMs`: the log is how the relay knows a key). */
  callLogMaxAgeMs: number;
  /**
   * How long an idempotency key is remembered, from its first attempt: a retry within it gets the
   * call's result (the desktop keeps write and shell results as long), past it `idempotency_expired`.
   */
  idempotencyWindowMs: number;
  /** Desktop sockets one relay process accepts at once; more get 503 on the upgrade. */
  maxConnections: number;
  /**
   * Interval of comment lines on SSE streams (so proxies do not cut a quiet stream); an events
   * stream also re-checks its token then, so a revoked key or expired grant loses it within this.
   */
  sseKeepaliveMs: number;
  /** MCP `subscriptions/listen` streams one relay process keeps open at once; more are refused in-band (`rate_limited`). */
  maxMcpListenStreams: number;
  /** Platform API and MCP requests one credential (platform key or grant) may make per `credentialWindowMs`; more get 429. 0: no limit. */
  credentialRequestsPerWindow: number;
  /** The window of `credentialRequestsPerWindow`. */
  credentialWindowMs: number;
  /**
   * Refused tokens (platform API, MCP, /metrics, desktop upgrades) one client address (IPv6: a /64)
   * may send per `authFailureWindowMs`; past that it gets 429 before any token is checked. 0: no limit.
   */
  authFailuresPerWindow: number;
  /** The window of `authFailuresPerWindow`. */
  authFailureWindowMs: number;
  /**
   * Longest time a client may take to send a whole request, headers and body (Node's
   * `requestTimeout`); then 408 and the connection is closed. Answers may take longer (a call
   * runs up to its deadline): this bounds only what the client sends.
   */
  requestTimeoutMs: number;
  /** Longest time a client may take to send a request's headers, also the first request of a new connection (Node's `headersTimeout`). */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** Open TCP connections one client address (IPv6: a /64) may hold; more are closed at once. 0: no cap. */
  maxConnectionsPerAddress: number;
  /**
   * Of those, connections that have not authenticated a request or upgrade yet; past it the
   * address's oldest unauthenticated connection is closed. 0: no cap.
   */
  maxUnauthenticatedConnectionsPerAddress: number;
  /** Desktop sockets open at once with one desktop token (per process); more upgrades get 429 `rate_limited`. 0: no cap. */
  maxConnectionsPerDesktopToken: number;
  /** Calls in flight at once for one org, over all its runtimes (per process); more get 429 `busy`. 0: no cap. */
  maxInFlightCallsPerOrg: number;
  /**
   * Runtimes (not archived) one org may have; a hello or workspaces frame announcing new
   * workspaces past it closes the socket with 4429. 0: no cap.
   */
  maxRuntimesPerOrg: number;
}

/** The defaults, in one place. */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxFrameBytes: MAX_FRAME_BYTES,
  maxInFlightPerRuntime: MAX_INFLIGHT_CALLS_PER_RUNTIME,
  // Two full frames: a burst of large writes may queue, an unread socket may not grow without bound.
  maxSendQueueBytes: 2 * MAX_FRAME_BYTES,
  maxBodyBytes: MAX_FRAME_BYTES,
  // Enough to answer "what happened lately" and to cancel recent calls; small enough to stay fast.
  callLogMaxRows: 100_000,
  callLogMaxAgeMs: 7 * 24 * 3600_000,
  idempotencyWindowMs: IDEMPOTENCY_WINDOW_MS,
  // 15,000 idle desktops (about 11 KB each) is what one process must hold; headroom above it.
  maxConnections: 20_000,
  sseKeepaliveMs: 15_000,
  maxMcpListenStreams: 1024,
  // A backstop, above what one process serves (relay-latency bench: ~6-7k calls/s with one key
  // and 64 callers), so a platform the relay can serve is never slowed, while a runaway loop
  // beyond it gets a cheap 429 instead of a queue. Lower it for platforms you do not trust.
  // 1 s windows: a refusal is short.
  credentialRequestsPerWindow: 10_000,
  credentialWindowMs: 1_000,
  // A client with a valid token fails at most now and then (a revoked key, a restart of its
  // config); 30 a minute is far above that and makes guessing (and its store lookups) pointless.
  authFailuresPerWindow: 30,
  authFailureWindowMs: 60_000,
  // A whole 8 MiB body in 30 s is 280 KB/s, far below any platform's link; a trickled body
  // (a few bytes a second, to hold a socket) is cut within it.
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  // Above the 60 s upstream keepalive_timeout of common proxies, so the proxy closes first (Fastify's default).
  keepAliveTimeoutMs: 72_000,
  // A large office behind one NAT address is hundreds of desktops; beyond that, run behind a
  // proxy named in --trust-proxy (its connections are not capped by address).
  maxConnectionsPerAddress: 1_024,
  // A connection is unauthenticated only until its first request (a trickled or refused one is
  // closed, a silent one after headersTimeoutMs): room for a platform's whole connection pool
  // opening at once, not for hundreds of held sockets.
  maxUnauthenticatedConnectionsPerAddress: 256,
  // One install holds one socket (two briefly while a reconnect replaces the old one); a token
  // shared by a few headless hosts fits too. 1,500 sockets of one token had all been welcomed.
  maxConnectionsPerDesktopToken: 16,
  // Far above what one org's platform drives at once (32 per runtime), but one org cannot take
  // every call slot of a process shared by all orgs.
  maxInFlightCallsPerOrg: 2_000,
  // 1,000 devices of 20 workspaces each; one org's desktops cannot fill the store (or every
  // list) without end.
  maxRuntimesPerOrg: 20_000,
});

/**
 * How often Node checks open HTTP connections against `requestTimeoutMs`/`headersTimeoutMs`
 * (its `connectionsCheckingInterval`, 30 s by default, would let a trickled body hold a socket
 * for twice the timeout). Only connections still sending a request are checked.
 */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * Keys (credentials, client addresses) each rate limiter holds at most, about 100 bytes each:
 * past it the finished windows, then the oldest, are dropped, so many addresses cannot grow memory.
 */
export const RATE_LIMIT_MAX_KEYS = 100_000;

/** Default port of `tether-relay serve` (DESIGN.md, command lines). */
export const DEFAULT_PORT = 8787;

/** Default ping interval to desktops; two unanswered pings mean the connection is dead (within 3 intervals). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = HEARTBEAT_INTERVAL_MS;

/**
 * Heartbeat ticks between two rounds of device bookkeeping (lastSeenAt of connected devices,
 * revocations made by another process): every 15 s at the default interval, as when the
 * heartbeat itself was 15 s; a store write for every device every 3 s would be work for nothing.
 */
export const BOOKKEEPING_EVERY_TICKS = 5;

/**
 * A desktop not heard from (no pong, no frame) for this many heartbeat intervals gets no new
 * calls (`runtime_offline` at once) while the dead-connection check (two missed pongs) catches
 * up: a pong comes within milliseconds of its ping, so half an interval late is already telling.
 */
export const HEARTBEAT_LATE_INTERVALS = 1.5;

/**
 * A cluster node's sweep: runtimes whose desktops no node has touched for this many bookkeeping
 * rounds (BOOKKEEPING_EVERY_TICKS heartbeats each), and that no node holds on the bus, are
 * stopped (their node died). Three: one late round on a busy node is never taken for a death.
 */
export const CLUSTER_STALE_HEARTBEATS = 3;

/** Runtimes one sweep looks at, at most (the next sweep takes the rest). */
export const CLUSTER_SWEEP_BATCH = 1_000;

/** How long `close()` lets in-flight calls finish before failing them with `unavailable`. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * Frames of one desktop read but not yet handled (each may wait on a store write). Above this
 * the socket is paused, so a flooding desktop is slowed by TCP instead of growing memory.
 */
export const MAX_QUEUED_FRAMES = 256;

/**
 * Unsent bytes on one SSE response (the socket's buffer included) above which droppable events
 * (output chunks, file changes) are skipped until it drains, then announced by one `gap` event:
 * a slow platform client must not grow the relay's memory. 1 MiB is many output chunks of
 * slack for a client that is only briefly behind. The call's result still carries the whole
 * (capped) output, and state events are never skipped.
 */
export const SSE_MAX_BUFFERED_BYTES = 1024 * 1024;

/** A connection that has not said hello by then is closed (4422): it holds a slot without being a desktop. */
export const HELLO_TIMEOUT_MS = 10_000;

/**
 * How long `GET /v1/runtimes/{id}/calls/{callId}` waits for the desktop's first answer (the
 * result, or that the call still runs) on top of the `waitMs` the caller asked for.
 */
export const LOOKUP_ANSWER_TIMEOUT_MS = 5_000;

/** Longest `waitMs` of `GET /v1/runtimes/{id}/calls/{callId}`. */
export const MAX_LOOKUP_WAIT_MS = 60_000;

/** How often the call log is pruned. */
export const CALL_LOG_PRUNE_INTERVAL_MS = 60_000;

/**
 * How long call log writes (a call's row, then its result) wait to be batched into one
 * transaction: at thousands of calls a second a transaction per call was the largest single
 * item of the relay's CPU. 50 ms, not less: most calls then finish while their row is still
 * queued, so row and result are one write (at 5 ms the log cost twice the CPU under load);
 * readers of the log and close() flush first, so only a crash can lose these 50 ms of rows.
 */
export const CALL_LOG_FLUSH_MS = 50;

/**
 * How long a platform cancel for a call this node does not know (neither in flight here nor in
 * the call log, e.g. started a moment ago on another node whose row is not flushed yet) waits
 * for the node that owns the call to answer over the Bus before it is a 404. A LocalBus answers
 * at once; a network bus within a round trip.
 */
export const CANCEL_ANSWER_TIMEOUT_MS = 500;

/**
 * How long a verified platform key or grant is trusted without asking the store again (one
 * query and one SHA-256 per request was ~5% of the relay's CPU). A revocation through this
 * relay (or another node on its bus) drops the entry at once; one made by another process
 * (the CLI) takes effect within this.
 */
export const TOKEN_CACHE_TTL_MS = 5_000;

/** Verified tokens kept at most: bounds memory however many grants are minted. */
export const TOKEN_CACHE_MAX_ENTRIES = 10_000;

/**
 * How long the call path trusts a runtime record it read (reading it on every call was ~3% of
 * the relay's CPU). This node's own state changes, and every `state` event on the bus, drop it
 * at once; only a change of capabilities announced at another node waits this long (and the
 * desktop checks its policy again regardless).
 */
export const RUNTIME_CACHE_TTL_MS = 1_000;

/** Runtime records the call path keeps at most (only runtimes called within the TTL are kept). */
export const RUNTIME_CACHE_MAX_ENTRIES = 10_000;
