import type { FastifyBaseLogger } from 'fastify';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  IDEMPOTENCY_WINDOW_MS,
  TOOLS,
  errorValue,
  invalidArgs,
  type CallRequest,
  type ErrorCode,
  type GrantRequest,
  type GrantResponse,
  type Result,
  type RuntimeState,
  type RuntimeView,
  type ToolErrorValue,
  type ToolName,
} from '@tether/shared';
import { authenticateToken } from './auth.js';
import type { Bus, BusMessage, NodeBroadcast, RefusalNotice, RoutedCall, RuntimeEvent } from './bus/bus.js';
import { CANCEL_ANSWER_TIMEOUT_MS, LOOKUP_ANSWER_TIMEOUT_MS, type RelayLimits } from './relay-limits.js';
import type { RelayMetrics } from './relay-metrics.js';
import { toRuntimeView, type RuntimeDirectory } from './runtime-directory.js';
import type { CallLookup, CallOptions, CancelSignal, Principal, RelayServices } from './services.js';
import type { RuntimePosition, RuntimeRecord, Store } from './store/store.js';
import { TokenCache } from './token-cache.js';
import { generateToken, hashToken, newCallId, newId, stableId } from './tokens.js';

type Progress = Parameters<NonNullable<CallOptions['onProgress']>>[0];

/** A call this node took from the platform and waits on. */
interface PendingCall {
  call: RoutedCall;
  /** The platform key or grant that made it (a grant may cancel only its own calls). */
  tokenId: string;
  startedAt: number;
  /** The desktop session the call was handed to; a newer session of the runtime gets it again. */
  deliveredTo: string | null;
  listeners: Set<(p: Progress) => void>;
  /** Callers waiting on it (several with one idempotency key); it is cancelled when the last one gives up. */
  waiters: number;
  timer: NodeJS.Timeout;
  done: Promise<Result<unknown>>;
  resolve(result: Result<unknown>): void;
}

/** A `GET` of a call this node asked the desktop about (`lookup`); several requests for one id share it. */
interface PendingLookup {
  runtimeId: string;
  /** The desktop said the call is still running. */
  running: boolean;
  /** It ended without the desktop's answer (no answer in time, the relay shutting down): `done` holds why. */
  unanswered: boolean;
  onRunning: Set<() => void>;
  waiters: number;
  timer: NodeJS.Timeout;
  done: Promise<Result<unknown>>;
  resolve(result: Result<unknown>): void;
}

export type { CallLookup } from './services.js';

/** Options of a `RelayCore`. */
export interface RelayCoreOptions {
  /** How long an idempotency key is remembered (default IDEMPOTENCY_WINDOW_MS). */
  idempotencyWindowMs?: number;
  /** One org cannot take every call slot of a process all orgs share (0 or absent: no cap). */
  maxInFlightCallsPerOrg?: number;
}

/**
 * The call id of an idempotent call: a hash of (org, runtime, key) for platform keys, as
 * before. A grant's keys are its own (the grant's id is hashed in too): with a key shared with
 * the platform key or another grant, it would join or be answered the other's call, whose tool
 * (the first call's tool wins) may be one the grant does not allow.
 */
function idempotentCallId(principal: Principal, runtimeId: string, key: string): string {
  return principal.kind === 'grant'
    ? stableId('call_', principal.orgId, runtimeId, key, 'grant', principal.tokenId)
    : stableId('call_', principal.orgId, runtimeId, key);
}

/** Refusal of a runtime in a state that takes no calls. */
const STATE_ERRORS: Partial<Record<RuntimeState, ErrorCode>> = {
  stopped: 'runtime_offline',
  paused: 'runtime_paused',
  error: 'runtime_error',
  archived: 'runtime_archived',
};

/**
 * The relay's core: authentication, visibility (the org of the key always scopes what is
 * seen; a grant narrows it), argument validation, and calls routed over the Bus to the
 * node holding the runtime, with deadlines, cancellation and re-delivery after a reconnect.
 */
export class RelayCore implements RelayServices {
  private readonly pending = new Map<string, PendingCall>();
  private readonly unsubscribe: Array<() => void> = [];
  /** Cancels this node asked other nodes about, by request id: resolved when the call's origin answers. */
  private readonly cancelAnswers = new Map<string, () => void>();
  /** Verified platform keys and grants for TOKEN_CACHE_TTL_MS; a revocation on the bus drops them at once. */
  private readonly tokens = new TokenCache();
  /** Lookups of calls (`GET …/calls/{callId}`) waiting on a desktop's answer, by call id. */
  private readonly lookups = new Map<string, PendingLookup>();
  private readonly idempotencyWindowMs: number;
  /**
   * While the call log is at its row cap, the start of its oldest row: keys first used before
   * it may have been pruned, so a key the log does not know is not known to be new (epoch ms).
   */
  private callLogHorizon: number | null = null;
  private draining = false;
  /** Pending calls of this node by org id (maxInFlightCallsPerOrg). */
  private readonly inFlightByOrg = new Map<string, number>();
  private readonly orgLimits: Pick<RelayLimits, 'maxInFlightCallsPerOrg'>;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly directory: RuntimeDirectory,
    private readonly metrics: RelayMetrics,
    private readonly logger?: FastifyBaseLogger,
    options: RelayCoreOptions = {},
  ) {
    this.idempotencyWindowMs = options.idempotencyWindowMs ?? IDEMPOTENCY_WINDOW_MS;
    this.orgLimits = { maxInFlightCallsPerOrg: options.maxInFlightCallsPerOrg ?? 0 };
    this.unsubscribe.push(bus.onMessage((m) => this.onBusMessage(m)));
    this.unsubscribe.push(bus.subscribe('*', (e) => this.onRuntimeEvent(e)));
    this.unsubscribe.push(bus.onBroadcast((m) => this.onBroadcast(m)));
  }

  /** Calls this node is waiting on. */
  get inFlightCount(): number {
    return this.pending.size;
  }

  async authenticatePlatform(authorization: string | undefined): Promise<Principal | null> {
    const token = await authenticateToken(this.store, authorization, ['platform', 'grant'], Date.now(), this.tokens);
    if (!token) return null;
    return {
      kind: token.kind === 'grant' ? 'grant' : 'platform',
      orgId: token.orgId,
      tokenId: token.id,
      // An OAuth client's access tokens share one budget (its authorization's): refreshing does not multiply it.
      keyId: token.parentId ?? token.authorizationId ?? token.id,
      label: token.name,
      runtimeIds: token.kind === 'grant' ? token.runtimeIds : null,
      tools: token.kind === 'grant' ? token.tools : null,
      audience: token.audience ?? null,
    };
  }

  /** The runtime if this principal may see it; otherwise null, whether it exists elsewhere or not. */
  async visibleRuntime(principal: Principal, runtimeId: string): Promise<RuntimeRecord | null> {
    if (principal.runtimeIds !== null && !principal.runtimeIds.includes(runtimeId)) return null;
    const record = await this.store.getRuntime(runtimeId);
    return record && record.orgId === principal.orgId ? record : null;
  }

  /** As `visibleRuntime`, from the directory's memory: for the call path, which needs no fresh `lastSeenAt`. */
  private async callableRuntime(principal: Principal, runtimeId: string): Promise<RuntimeRecord | null> {
    if (principal.runtimeIds !== null && !principal.runtimeIds.includes(runtimeId)) return null;
    const record = await this.directory.lookup(runtimeId);
    return record && record.orgId === principal.orgId ? record : null;
  }

  async getRuntime(principal: Principal, runtimeId: string): Promise<RuntimeView | null> {
    const record = await this.visibleRuntime(principal, runtimeId);
    return record ? this.view(principal, record) : null;
  }

  /** The runtimes this principal may see, optionally of one state. */
  async listRuntimes(principal: Principal, state?: RuntimeState): Promise<RuntimeView[]> {
    const records = await this.store.listRuntimes(principal.orgId, state !== undefined ? { state } : {});
    return records
      .filter((r) => principal.runtimeIds === null || principal.runtimeIds.includes(r.id))
      .map((r) => this.view(principal, r));
  }

  /**
   * One page of the runtimes this principal may see (a grant's runtimes only), in creation
   * order, after the runtime `after` names; `next` is the position to continue from, null on
   * the last page.
   */
  async listRuntimesPage(
    principal: Principal,
    page: { state?: RuntimeState; after?: RuntimePosition; limit: number },
  ): Promise<{ runtimes: RuntimeView[]; next: RuntimePosition | null }> {
    // One more than asked: whether there is a next page, without a second query.
    const records = await this.store.listRuntimesPage(principal.orgId, {
      ...page,
      limit: page.limit + 1,
      ...(principal.runtimeIds !== null ? { ids: principal.runtimeIds } : {}),
    });
    const shown = records.slice(0, page.limit);
    const last = shown.at(-1);
    return {
      runtimes: shown.map((r) => this.view(principal, r)),
      next:
        records.length > page.limit && last
          ? { createdAt: last.createdAt, deviceId: last.deviceId, workspaceId: last.workspaceId }
          : null,
    };
  }

  /** A grant sees only the tools it names among those the workspace offers. */
  private view(principal: Principal, record: RuntimeRecord): RuntimeView {
    const view = toRuntimeView(record);
    if (principal.tools !== null)
      view.capabilities = {
        ...view.capabilities,
        tools: view.capabilities.tools.filter((t) => principal.tools!.includes(t)),
      };
    return view;
  }

  async callTool(
    principal: Principal,
    runtimeId: string,
    request: CallRequest,
    options: CallOptions = {},
  ): Promise<{ callId: string } & Result<unknown>> {
    const started = await this.startCall(principal, runtimeId, request, options);
    if ('error' in started) return { callId: started.callId, ok: false, error: started.error };
    return { callId: started.callId, ...(await started.done) };
  }

  /**
   * Checks and sends a call; resolves as soon as it is on its way (so an SSE stream can
   * name the call id before the result). An immediate refusal comes back as `error`.
   */
  async startCall(
    principal: Principal,
    runtimeId: string,
    request: CallRequest,
    options: CallOptions = {},
  ): Promise<
    { callId: string; done: Promise<Result<unknown>>; startedAt: number } | { callId: string; error: ToolErrorValue }
  > {
    const callId =
      request.idempotencyKey !== undefined
        ? idempotentCallId(principal, runtimeId, request.idempotencyKey)
        : newCallId();
    const refuse = (error: ToolErrorValue) => {
      this.metrics.callFinished(request.tool, error.code, 0);
      return { callId, error };
    };
    if (this.draining) return refuse(errorValue('unavailable', 'the relay is shutting down'));
    const runtime = await this.callableRuntime(principal, runtimeId);
    if (!runtime) return refuse(errorValue('not_found', 'no such runtime'));
    if (principal.tools !== null && !principal.tools.includes(request.tool))
      return refuse(errorValue('forbidden', `this grant does not allow the tool ${request.tool}`));
    const args = TOOLS[request.tool].args.safeParse(request.args);
    if (!args.success) return refuse(invalidArgs(args.error));
    const stateError = STATE_ERRORS[runtime.state];
    if (stateError === 'runtime_paused') this.reportRefused(principal, runtime.id, request.tool, callId, stateError);
    if (stateError)
      return refuse(
        errorValue(
          stateError,
          runtime.state === 'error' && runtime.reason
            ? `the runtime is in an error state: ${runtime.reason}`
            : undefined,
        ),
      );
    if (!runtime.capabilities.tools.includes(request.tool)) {
      this.reportRefused(principal, runtime.id, request.tool, callId, 'tool_disabled');
      return refuse(errorValue('tool_disabled', `the tool ${request.tool} is switched off for this workspace`));
    }

    const existing = this.pending.get(callId);
    if (existing) {
      // The same idempotency key while the first attempt runs: both wait on the one call.
      if (options.onProgress) existing.listeners.add(options.onProgress);
      existing.waiters++;
      this.watchSignal(existing, options.signal);
      return { callId, done: existing.done, startedAt: existing.startedAt };
    }
    let now = Date.now();
    let firstAt: number | undefined;
    /** The row's start: the key's first attempt when the log knows it, else now. */
    let loggedFirst: number | undefined;
    if (request.idempotencyKey !== undefined) {
      // The call log knows the key's first attempt (even from before a restart): past the window
      // the desktop may have forgotten it, so it is refused, never forwarded as a new call.
      const known = await this.store.getCall(callId);
      if (!known && this.callLogHorizon !== null && now - this.callLogHorizon < this.idempotencyWindowMs)
        // Perhaps a retry whose row went for room: the desktop decides from its journal, which
        // refuses it only if it cannot vouch for that time either (never runs a call twice).
        firstAt = this.callLogHorizon;
      if (known) {
        const first = Math.min(now, Date.parse(known.startedAt));
        firstAt = first;
        loggedFirst = first;
        if (now - first > this.idempotencyWindowMs)
          return refuse(
            errorValue(
              'idempotency_expired',
              `this idempotency key was first used at ${known.startedAt}, longer ago than the ${this.idempotencyWindowMs / 3600_000} h it is remembered; it is not run again (use a new key to run it anew)`,
            ),
          );
      }
      // Another attempt may have started while the log was read.
      const joined = this.pending.get(callId);
      if (joined) {
        if (options.onProgress) joined.listeners.add(options.onProgress);
        joined.waiters++;
        this.watchSignal(joined, options.signal);
        return { callId, done: joined.done, startedAt: joined.startedAt };
      }
    }
    const presence = await this.bus.locate(runtimeId);
    if (!presence) return refuse(errorValue('runtime_offline'));
    if (this.pending.has(callId)) return this.startCall(principal, runtimeId, request, options);
    const orgCap = this.orgLimits.maxInFlightCallsPerOrg;
    const orgCalls = this.inFlightByOrg.get(principal.orgId) ?? 0;
    if (orgCap > 0 && orgCalls >= orgCap) {
      this.metrics.rateLimited('in_flight_calls_per_org');
      return refuse(
        errorValue('busy', `${orgCalls} calls of this org are in flight (limit maxInFlightCallsPerOrg)`, {
          limit: 'in_flight_calls_per_org',
          max: orgCap,
        }),
      );
    }

    now = Date.now();
    const call: RoutedCall = {
      id: callId,
      orgId: principal.orgId,
      runtimeId,
      tool: request.tool,
      args: request.args,
      deadline: now + (request.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS),
      caller: principal.label,
      ...(firstAt !== undefined ? { firstAt } : {}),
    };
    let resolve!: (result: Result<unknown>) => void;
    const done = new Promise<Result<unknown>>((r) => (resolve = r));
    const pending: PendingCall = {
      call,
      tokenId: principal.tokenId,
      startedAt: now,
      deliveredTo: null,
      listeners: new Set(options.onProgress ? [options.onProgress] : []),
      waiters: 1,
      timer: setTimeout(
        () => void this.abort(callId, 'timeout', 'the call did not finish before its deadline'),
        call.deadline - now,
      ),
      done,
      resolve,
    };
    this.pending.set(callId, pending);
    this.inFlightByOrg.set(principal.orgId, orgCalls + 1);
    this.watchSignal(pending, options.signal);
    try {
      await this.store.insertCall({
        id: callId,
        orgId: principal.orgId,
        runtimeId,
        tool: request.tool,
        caller: principal.label,
        tokenId: principal.tokenId,
        // An idempotency key's row keeps its first attempt's time: the window counts from it.
        startedAt: new Date(loggedFirst ?? now).toISOString(),
        finishedAt: null,
        outcome: null,
        durationMs: null,
      });
      // An MCP task is looked up by any node at once: its row must be there before it is answered.
      if (options.durable) await this.store.flushCalls();
      await this.bus.send(presence.nodeId, { kind: 'call', origin: this.bus.nodeId, call });
    } catch (err) {
      this.finish(pending, { ok: false, error: errorValue('internal') });
      throw new Error('could not start the call', { cause: err });
    }
    return { callId, done, startedAt: now };
  }

  /**
   * Tells the desktop holding the runtime about a call refused here for the person's own
   * setting (paused, tool off, category denied), so its activity log has every call. Best
   * effort: the platform's answer never waits on it; the session bounds how many it sends.
   */
  reportRefused(
    principal: Principal,
    runtimeId: string,
    tool: ToolName,
    callId: string,
    code: RefusalNotice['code'],
  ): void {
    const notice: RefusalNotice = { callId, runtimeId, tool, caller: principal.label, code, at: Date.now() };
    void this.bus
      .locate(runtimeId)
      .then((presence) => (presence ? this.bus.send(presence.nodeId, { kind: 'refused', notice }) : undefined))
      .catch(() => undefined);
  }

  private watchSignal(pending: PendingCall, signal: CancelSignal | undefined): void {
    if (!signal) return;
    const onAbort = () => {
      if (--pending.waiters <= 0) void this.abort(pending.call.id, 'cancelled', 'the caller cancelled the call');
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void pending.done.then(() => signal.removeEventListener('abort', onAbort));
  }

  /** Ends a pending call with an error and tells the desktop to stop it. */
  private async abort(callId: string, code: ErrorCode, message: string): Promise<void> {
    const pending = this.pending.get(callId);
    if (!pending) return;
    this.finish(pending, { ok: false, error: errorValue(code, message) });
    const presence = await this.bus.locate(pending.call.runtimeId);
    if (presence)
      await this.bus.send(presence.nodeId, {
        kind: 'cancel',
        callId,
        runtimeId: pending.call.runtimeId,
        reason: message,
      });
  }

  private finish(pending: PendingCall, result: Result<unknown>): void {
    if (this.pending.get(pending.call.id) !== pending) return;
    this.pending.delete(pending.call.id);
    const orgCalls = (this.inFlightByOrg.get(pending.call.orgId) ?? 1) - 1;
    if (orgCalls > 0) this.inFlightByOrg.set(pending.call.orgId, orgCalls);
    else this.inFlightByOrg.delete(pending.call.orgId);
    clearTimeout(pending.timer);
    const durationMs = Date.now() - pending.startedAt;
    const outcome = result.ok ? 'ok' : result.error.code;
    this.metrics.callFinished(pending.call.tool, outcome, durationMs / 1000);
    // One info line per call, never the arguments or the result: they are the person's files.
    // (The CLI logs through pino's asynchronous destination, so the line is cheap on the hot path.)
    this.logger?.info(
      {
        callId: pending.call.id,
        orgId: pending.call.orgId,
        runtimeId: pending.call.runtimeId,
        tool: pending.call.tool,
        caller: pending.call.caller,
        outcome,
        durationMs,
      },
      'call finished',
    );
    pending.resolve(result);
    this.store.finishCall(pending.call.id, outcome, new Date().toISOString(), durationMs).catch(() => undefined);
  }

  /** Runtime events for an SSE stream. */
  subscribeRuntime(runtimeId: string, handler: (event: RuntimeEvent) => void): () => void {
    return this.bus.subscribe(runtimeId, handler);
  }

  /**
   * Platform cancel. False when there is no such running call visible to the principal.
   * Call rows are written in batches, so the log may not know a call yet: this node's calls
   * are known in memory, and another node's are asked about over the Bus.
   */
  async cancelCall(principal: Principal, runtimeId: string, callId: string): Promise<boolean> {
    if (!(await this.callableRuntime(principal, runtimeId))) return false;
    // Another org's call is treated as unknown, down to the time the answer takes: a quick
    // refusal would tell that the id exists somewhere.
    // A grant cancels only its own calls: "only this stage may use this runtime" includes not
    // stopping another stage's (or the key's) work. Others' calls are unknown to it, like another org's.
    const onlyToken = principal.kind === 'grant' ? principal.tokenId : undefined;
    const mine = (call: { orgId: string; tokenId: string }) =>
      call.orgId === principal.orgId && (onlyToken === undefined || call.tokenId === onlyToken);
    const local = this.pending.get(callId);
    if (local && mine({ orgId: local.call.orgId, tokenId: local.tokenId })) {
      if (local.call.runtimeId !== runtimeId) return false;
      await this.abort(callId, 'cancelled', 'cancelled by the platform');
      return true;
    }
    const record = local ? null : await this.store.getCall(callId);
    if (record && mine(record)) {
      if (record.runtimeId !== runtimeId) return false;
      if (record.outcome === 'unavailable') {
        // The relay that waited on it shut down (a restart): no node waits on it now, and the
        // desktop may still run it (an MCP task outlives its relay). The desktop is told directly.
        const presence = await this.bus.locate(runtimeId);
        if (!presence) return false;
        await this.bus.send(presence.nodeId, {
          kind: 'cancel',
          callId,
          runtimeId,
          reason: 'cancelled by the platform',
          orphan: true,
        });
        return true;
      }
      if (record.outcome !== null) return false;
      await this.bus.broadcast({
        kind: 'cancel-call',
        orgId: principal.orgId,
        callId,
        runtimeId,
        ...(onlyToken !== undefined ? { tokenId: onlyToken } : {}),
      });
      return true;
    }
    // Unknown here: perhaps started a moment ago on another node whose row is not flushed yet.
    const requestId = newId('cxl_');
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<boolean>((resolve) => {
      this.cancelAnswers.set(requestId, () => resolve(true));
      timer = setTimeout(() => resolve(false), CANCEL_ANSWER_TIMEOUT_MS);
    });
    try {
      await this.bus.broadcast({
        kind: 'cancel-call',
        orgId: principal.orgId,
        callId,
        runtimeId,
        ...(onlyToken !== undefined ? { tokenId: onlyToken } : {}),
        replyTo: { nodeId: this.bus.nodeId, requestId },
      });
      return await answered;
    } finally {
      clearTimeout(timer);
      this.cancelAnswers.delete(requestId);
    }
  }

  /**
   * The result of a call made before (`GET /v1/runtimes/{id}/calls/{callId}`), also one whose
   * first answer was lost to a relay restart: the call log says whether the principal may see it
   * (its org; a grant only its own calls; anything else is unknown, like another org's), and the
   * desktop holding the runtime answers from what it keeps, joining the call if it still runs.
   * Waits up to `waitMs` for a running call to end. Never runs or cancels anything.
   */
  async lookupCall(principal: Principal, runtimeId: string, callId: string, waitMs: number): Promise<CallLookup> {
    const unknown = { error: errorValue('not_found', 'no such call') };
    if (!(await this.callableRuntime(principal, runtimeId)))
      return { error: errorValue('not_found', 'no such runtime') };
    const onlyToken = principal.kind === 'grant' ? principal.tokenId : undefined;
    const mine = (call: { orgId: string; tokenId: string }) =>
      call.orgId === principal.orgId && (onlyToken === undefined || call.tokenId === onlyToken);
    const local = this.pending.get(callId);
    if (local) {
      if (!mine({ orgId: local.call.orgId, tokenId: local.tokenId }) || local.call.runtimeId !== runtimeId)
        return unknown;
      const startedAt = new Date(local.startedAt).toISOString();
      const answer = await this.waitFor(local.done, waitMs);
      return 'state' in answer ? { ...answer, tool: local.call.tool, startedAt } : answer;
    }
    const record = await this.store.getCall(callId);
    if (!record || !mine(record) || record.runtimeId !== runtimeId) return unknown;
    // From here on the call is known to be the principal's: an error says when it started.
    const { startedAt } = record;
    if (this.draining) return { error: errorValue('unavailable', 'the relay is shutting down'), startedAt };
    const presence = await this.bus.locate(runtimeId);
    if (!presence) return { error: errorValue('runtime_offline'), startedAt };
    let lookup = this.lookups.get(callId);
    if (!lookup) {
      let resolve!: (result: Result<unknown>) => void;
      const done = new Promise<Result<unknown>>((r) => (resolve = r));
      const created: PendingLookup = {
        runtimeId,
        running: false,
        unanswered: false,
        onRunning: new Set(),
        waiters: 0,
        done,
        resolve,
        timer: setTimeout(
          () =>
            this.endLookup(
              callId,
              {
                ok: false,
                error: errorValue('timeout', 'the desktop did not answer about the call in time'),
              },
              true,
            ),
          LOOKUP_ANSWER_TIMEOUT_MS + waitMs,
        ),
      };
      this.lookups.set(callId, created);
      lookup = created;
      const call: RoutedCall = {
        id: callId,
        orgId: record.orgId,
        runtimeId,
        tool: record.tool,
        args: null,
        deadline: Date.now() + LOOKUP_ANSWER_TIMEOUT_MS + waitMs,
        caller: record.caller,
        lookup: true,
      };
      await this.bus.send(presence.nodeId, { kind: 'call', origin: this.bus.nodeId, call });
    }
    const shared = lookup;
    shared.waiters++;
    try {
      // The desktop's first answer says "running" (a progress frame) or is the result itself.
      const first = await new Promise<'running' | Result<unknown>>((resolve) => {
        if (shared.running) return resolve('running');
        const onRunning = () => resolve('running');
        shared.onRunning.add(onRunning);
        void shared.done.then((r) => {
          shared.onRunning.delete(onRunning);
          resolve(r);
        });
      });
      // No answer from the desktop says nothing of the call itself: an error of the lookup.
      const answered = (answer: CallLookup): CallLookup => {
        if (!('state' in answer)) return answer;
        if (answer.state === 'running') return { ...answer, tool: record.tool, startedAt: record.startedAt };
        if (shared.unanswered && !answer.result.ok) return { error: answer.result.error, startedAt };
        return {
          ...answer,
          tool: record.tool,
          startedAt: record.startedAt,
          ...(record.finishedAt !== null ? { finishedAt: record.finishedAt } : {}),
        };
      };
      if (first !== 'running') return answered({ state: 'finished', result: first });
      return answered(await this.waitFor(shared.done, waitMs));
    } finally {
      // Nobody waits any more: the desktop's answer, when it comes, is dropped.
      if (--shared.waiters <= 0 && this.lookups.get(callId) === shared) {
        clearTimeout(shared.timer);
        this.lookups.delete(callId);
      }
    }
  }

  /** A call's result if it comes within `waitMs`, else "running". */
  private async waitFor(done: Promise<Result<unknown>>, waitMs: number): Promise<CallLookup> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      done,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs))),
    ]);
    clearTimeout(timer);
    return result ? { state: 'finished', result } : { state: 'running' };
  }

  /** Ends a lookup with the desktop's answer, or (`unanswered`) with why there is none. */
  private endLookup(callId: string, result: Result<unknown>, unanswered = false): void {
    const lookup = this.lookups.get(callId);
    if (!lookup) return;
    this.lookups.delete(callId);
    clearTimeout(lookup.timer);
    lookup.unanswered = unanswered;
    lookup.resolve(result);
  }

  /**
   * After each pruning of the call log: `span` of what is left. A log at its row cap may have
   * lost keys of the idempotency window to the count bound.
   */
  noteCallLog(span: { rows: number; oldestStartedAt: string | null }, maxRows: number): void {
    this.callLogHorizon =
      span.rows >= maxRows && span.oldestStartedAt !== null ? Date.parse(span.oldestStartedAt) : null;
  }

  /** A token was revoked: it is not trusted from the cache any more (called at once by this relay's admin, and on the bus's broadcast). */
  forgetToken(tokenId: string): void {
    this.tokens.forgetToken(tokenId);
  }

  /** Archives a runtime (platform keys only). */
  async archiveRuntime(principal: Principal, runtimeId: string): Promise<Result<RuntimeView>> {
    if (!(await this.visibleRuntime(principal, runtimeId)))
      return { ok: false, error: errorValue('not_found', 'no such runtime') };
    if (principal.kind !== 'platform')
      return { ok: false, error: errorValue('forbidden', 'only a platform key may archive a runtime') };
    const record = await this.directory.archive(runtimeId);
    return record
      ? { ok: true, value: this.view(principal, record) }
      : { ok: false, error: errorValue('not_found', 'no such runtime') };
  }

  /** Mints a grant (platform keys only) for runtimes of the key's org. */
  async createGrant(principal: Principal, request: GrantRequest): Promise<Result<GrantResponse>> {
    if (principal.kind !== 'platform')
      return { ok: false, error: errorValue('forbidden', 'only a platform key may mint grants') };
    for (const id of request.runtimeIds) {
      if (!(await this.visibleRuntime(principal, id)))
        return { ok: false, error: errorValue('not_found', `no such runtime: ${id}`, { runtimeId: id }) };
    }
    const token = generateToken('grant');
    const id = newId('grt_');
    const expiresAt = new Date(Date.now() + request.ttlSeconds * 1000).toISOString();
    const runtimeIds = [...new Set(request.runtimeIds)];
    const tools = request.tools ? [...new Set(request.tools)] : null;
    await this.store.insertToken({
      id,
      orgId: principal.orgId,
      kind: 'grant',
      name: request.label,
      hash: hashToken(token),
      createdAt: new Date().toISOString(),
      expiresAt,
      runtimeIds,
      tools,
      parentId: principal.tokenId,
    });
    return { ok: true, value: { id, token, runtimeIds, tools, label: request.label, expiresAt } };
  }

  private onBusMessage(message: BusMessage): void {
    if (message.kind === 'call' || message.kind === 'cancel' || message.kind === 'refused') return;
    if (message.kind === 'cancel-answer') return this.cancelAnswers.get(message.requestId)?.();
    const lookup = this.lookups.get(message.callId);
    if (lookup) {
      if (message.kind === 'result') this.endLookup(message.callId, message.result);
      else if (message.kind === 'progress' && !lookup.running) {
        lookup.running = true;
        lookup.onRunning.forEach((f) => f());
      }
    }
    const pending = this.pending.get(message.callId);
    if (!pending) return;
    if (message.kind === 'delivered') pending.deliveredTo = message.sessionId;
    else if (message.kind === 'progress') {
      const p: Progress =
        message.chunk !== undefined ? { status: message.status, chunk: message.chunk } : { status: message.status };
      for (const listener of pending.listeners) listener(p);
    } else this.finish(pending, message.result);
  }

  /** A runtime attached to a new session: calls handed to an older session go again, with the same id. */
  private onRuntimeEvent(event: RuntimeEvent): void {
    if (event.type !== 'state' || event.state !== 'running' || event.sessionId === undefined) return;
    for (const pending of this.pending.values()) {
      if (
        pending.call.runtimeId !== event.runtimeId ||
        pending.deliveredTo === null ||
        pending.deliveredTo === event.sessionId
      )
        continue;
      if (pending.call.deadline <= Date.now()) continue;
      pending.deliveredTo = null;
      void this.bus.locate(event.runtimeId).then((presence) => {
        if (presence)
          return this.bus.send(presence.nodeId, { kind: 'call', origin: this.bus.nodeId, call: pending.call });
      });
    }
  }

  private onBroadcast(message: NodeBroadcast): void {
    if (message.kind === 'token-revoked') return this.forgetToken(message.tokenId);
    if (message.kind !== 'cancel-call') return;
    const pending = this.pending.get(message.callId);
    if (!pending || pending.call.orgId !== message.orgId || pending.call.runtimeId !== message.runtimeId) return;
    if (message.tokenId !== undefined && pending.tokenId !== message.tokenId) return;
    void this.abort(message.callId, 'cancelled', 'cancelled by the platform');
    if (message.replyTo)
      void this.bus.send(message.replyTo.nodeId, { kind: 'cancel-answer', requestId: message.replyTo.requestId });
  }

  /**
   * Refuses new calls, lets pending ones finish until `graceMs`, then answers the rest with
   * `unavailable` (a retry after the restart gets the real result). The calls go on on their
   * desktops: no cancel is sent, a relay restart is not the caller changing its mind.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const until = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < until) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.pending.values()].map((p) => p.done)),
        new Promise((r) => (timer = setTimeout(r, Math.max(0, until - Date.now())))),
      ]);
      clearTimeout(timer);
    }
    const message =
      'the relay restarted before the call finished; it goes on on the desktop: retry with the same idempotency key, or GET the call, for its result';
    for (const pending of [...this.pending.values()])
      this.finish(pending, { ok: false, error: errorValue('unavailable', message) });
    for (const id of [...this.lookups.keys()])
      this.endLookup(id, { ok: false, error: errorValue('unavailable', message) }, true);
  }

  /** Whether new calls are refused. */
  get isDraining(): boolean {
    return this.draining;
  }

  dispose(): void {
    this.draining = true;
    const error = errorValue('unavailable', 'the relay shut down');
    for (const pending of [...this.pending.values()]) this.finish(pending, { ok: false, error });
    for (const id of [...this.lookups.keys()]) this.endLookup(id, { ok: false, error }, true);
    this.unsubscribe.forEach((u) => u());
  }
}
