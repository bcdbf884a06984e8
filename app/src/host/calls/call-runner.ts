import { resolve as resolvePath } from 'node:path';
import {
  MAX_CONCURRENT_CALLS_PER_WORKSPACE,
  RECENT_RESULTS_MAX_BYTES,
  RECENT_RESULTS_TTL_MS,
  TOOLS,
  TetherError,
  categoryOf,
  errorValue,
  invalidArgs,
  isToolName,
  toErrorValue,
  type CallFrame,
  describeScope,
  type ConfirmationDetail,
  type ErrorCode,
  type Result,
  type ToolArgs,
  type ToolName,
} from '@tether/shared';
import type { AuditLog } from '../audit/audit-log.js';
import { storyOf, type CallStory } from '../audit/audit-story.js';
import { summarizeArgs } from '../audit/audit-summary.js';
import { checkCallerEnv, commandWithEnv } from '../pty/command-env.js';
import { confinementSummary, type Confinement } from '../pty/pty-launcher.js';
import type { PathGuard } from '../fs/path-guard.js';
import type { ConfirmationBroker } from '../policy/confirmation-broker.js';
import type { CallTarget } from '../policy/allowance-rules.js';
import { PolicyEngine, type AuditDecision, type PolicyVerdict } from '../policy/policy-engine.js';
import type { ToolContext, ToolHandler, ToolHandlers } from '../tools/tool-context.js';
import type { WorkspaceRuntime } from '../workspaces/workspace-runtime.js';
import type { WorkspaceSet } from '../workspaces/workspace-set.js';
import { callFingerprint, type CallJournal, type JournalEntry } from './call-journal.js';
import { Semaphore } from './semaphore.js';
import { withGrace } from './with-grace.js';

/** Where a call's progress goes (the relay connection, usually). */
export interface CallSink {
  /** Sends a progress update; false when the far side is behind (see ToolContext.onOutput). */
  progress(p: { status: 'awaiting_confirmation' | 'running' | 'output'; chunk?: string }): boolean;
  /** Resolves when the far side has caught up. */
  whenDrained(): Promise<void>;
}

/** Builds the confirmation detail of a write (the diff preview). */
export type WritePreview = (tool: ToolName, args: unknown, ctx: { guard: PathGuard }) => Promise<ConfirmationDetail>;

/** Options of a `CallRunner`. */
export interface CallRunnerOptions {
  workspaces: WorkspaceSet;
  broker: ConfirmationBroker;
  audit: AuditLog;
  handlers: ToolHandlers;
  preview: WritePreview;
  /**
   * How a workspace's commands are confined: shown in a shell call's confirmation, and where they
   * are not sandboxed, shell calls ask every time even when the policy says `allow`.
   */
  confinement?: (workspaceId: string) => Confinement | undefined;
  maxConcurrentPerWorkspace?: number;
  /**
   * Bytes of finished results kept by call id in memory (default RECENT_RESULTS_MAX_BYTES; read
   * results are never kept) and for how long (default RECENT_RESULTS_TTL_MS).
   */
  recentResultsMaxBytes?: number;
  recentResultsTtlMs?: number;
  /** How long a handler may ignore its aborted signal before the call is answered anyway (default ABORT_GRACE_MS). */
  abortGraceMs?: number;
  /**
   * The durable record of write and shell calls (see CallJournal): with it, a call re-delivered
   * after the host restarted gets its recorded result, or `interrupted` when the host died while
   * it ran, and is never run again. Without it, only this process's memory is consulted.
   */
  journal?: CallJournal;
  /** Where unexpected handler failures are reported (default: stderr, without arguments). */
  onInternalError?: (error: unknown, call: { id: string; tool: string }) => void;
  /** The command and cwd of a live shell session, so typing into it shows what it is (default: unknown). */
  sessionInfo?: (workspaceId: string, sessionId: string) => { command: string; cwd: string } | undefined;
  /** Log lines for the person (an allowance that could not be recorded). */
  log?: (line: string) => void;
}

interface CallEntry {
  /** What the call was, so a re-delivery with other content is refused rather than answered. */
  fingerprint: string;
  promise: Promise<Result<unknown>>;
  sinks: Set<CallSink>;
  controller: AbortController;
  finishedAt: number | null;
  /** Bytes of its result's JSON once finished, counted against the memory cap. */
  bytes: number;
  /** Its start is in the journal, so its end must be too. */
  journaled: boolean;
  /** The question asked and when, for the activity log. */
  story: CallStory;
}

/**
 * A call that was not asked about says `running` once it has run this long (ms): one that ends
 * sooner (most reads) goes straight to its result, which says all `running` would have, and a
 * frame less each way per call was ~5% of the relay's and the host's CPU. A call the person was
 * asked about says `running` at once (the answer is news), and output is always preceded by it.
 */
export const RUNNING_NOTICE_DELAY_MS = 50;

/** Why a call's signal fired. */
type AbortCause = 'cancelled' | 'timeout' | 'unavailable';

/**
 * Runs tool calls from the relay: checks the workspace, validates the arguments again (the
 * relay is not trusted), applies the policy (asking the person when it says so), limits how
 * many run at once per workspace, runs the handler with a cancellable context, audits every
 * call, and remembers recent results by call id so a re-delivered call never runs twice:
 * in memory, and for write and shell calls in the call journal, which outlives the process.
 * Read calls are not journalled: running one again after a restart changes nothing.
 */
export class CallRunner {
  private readonly calls = new Map<string, CallEntry>();
  /**
   * The finished entries of `calls`, in the order they finished: pruning drops from the front
   * and stops at the first one still kept, so a call costs O(1) amortised however many
   * results are kept (a scan of every entry on every call was ~5% of the host's CPU).
   */
  private readonly finished = new Map<string, CallEntry>();
  private readonly slots = new Map<string, Semaphore>();
  private readonly policy: PolicyEngine;
  private readonly maxConcurrent: number;
  private readonly recentMaxBytes: number;
  private readonly recentTtlMs: number;
  /** Bytes of the finished results held in `calls`. */
  private keptBytes = 0;
  private disposed = false;

  constructor(private readonly options: CallRunnerOptions) {
    const confinement = options.confinement;
    this.policy = new PolicyEngine({
      broker: options.broker,
      ...(options.log ? { log: options.log } : {}),
      ...(confinement ? { isSandboxed: (id: string) => confinement(id)?.sandboxed ?? false } : {}),
    });
    this.maxConcurrent = options.maxConcurrentPerWorkspace ?? MAX_CONCURRENT_CALLS_PER_WORKSPACE;
    this.recentMaxBytes = options.recentResultsMaxBytes ?? RECENT_RESULTS_MAX_BYTES;
    this.recentTtlMs = options.recentResultsTtlMs ?? RECENT_RESULTS_TTL_MS;
  }

  /**
   * Runs one call and resolves with its result (never rejects). The same call id while it runs
   * joins the running call; after it finished, returns the stored result without running again.
   */
  run(call: CallFrame, sink: CallSink): Promise<Result<unknown>> {
    this.prune();
    let fingerprint: string;
    try {
      fingerprint = callFingerprint(call);
    } catch {
      // Arguments nested deeper than the stack (JSON.parse takes them, stringify recurses): a
      // throw here would escape the relay connection's message handler and end the host.
      return Promise.resolve({ ok: false, error: errorValue('invalid_args', 'The arguments are nested too deeply.') });
    }
    const known = this.calls.get(call.id);
    if (known) {
      if (known.fingerprint !== fingerprint) return this.conflict(call);
      if (known.finishedAt === null) known.sinks.add(sink);
      return known.promise;
    }
    if (this.disposed) return Promise.resolve({ ok: false, error: errorValue('unavailable') });
    const journal = this.options.journal;
    const journaled = journal?.lookup(call.id);
    if (journaled) return this.fromJournal(call, fingerprint, journaled);
    if (journal && call.firstAt !== undefined && categoryOf(call.tool) !== 'read' && !journal.covers(call.firstAt)) {
      // A retry from before what the journal still knows: it may have run, so it never runs again.
      const result: Result<unknown> = { ok: false, error: errorValue('idempotency_expired') };
      return this.audit(call, 'invalid', result, Date.now()).then(() => result);
    }

    const entry: CallEntry = {
      fingerprint,
      sinks: new Set([sink]),
      controller: new AbortController(),
      finishedAt: null,
      bytes: 0,
      journaled: false,
      story: {},
      promise: null!,
    };
    this.calls.set(call.id, entry);
    entry.promise = this.execute(call, entry).then((result) => {
      entry.finishedAt = Date.now();
      entry.sinks.clear();
      this.keep(call, entry, result);
      return result;
    });
    return entry.promise;
  }

  /**
   * Keeps a finished result in memory for re-deliveries, unless it is a read's (safe to run
   * again, and often megabytes: 2,000 kept reads of 2 MiB held 4 GB) or larger than the cap.
   */
  private keep(call: CallFrame, entry: CallEntry, result: Result<unknown>): void {
    if (this.calls.get(call.id) !== entry) return;
    if (isToolName(call.tool) && categoryOf(call.tool) === 'read') {
      this.calls.delete(call.id);
      return;
    }
    let bytes: number;
    try {
      bytes = Buffer.byteLength(JSON.stringify(result));
    } catch {
      bytes = Infinity;
    }
    if (bytes > this.recentMaxBytes) {
      this.calls.delete(call.id);
      return;
    }
    entry.bytes = bytes;
    this.keptBytes += bytes;
    this.finished.set(call.id, entry);
    this.prune();
  }

  /**
   * The result of a call run before (GET of a call at the relay): joins it while it runs, else
   * its kept or journalled result; `not_found` when nothing of it is kept (never ran here, or a
   * read, whose results are not kept). Never runs anything.
   */
  lookup(callId: string, sink: CallSink): Promise<Result<unknown>> {
    this.prune();
    const known = this.calls.get(callId);
    if (known) {
      if (known.finishedAt === null) {
        known.sinks.add(sink);
        // At once: the asker learns the call still runs without waiting for its end.
        sink.progress({ status: 'running' });
      }
      return known.promise;
    }
    const journaled = this.options.journal?.lookup(callId);
    if (journaled?.result) return Promise.resolve(journaled.result);
    if (journaled) return Promise.resolve({ ok: false, error: errorValue('interrupted') });
    return Promise.resolve({
      ok: false,
      error: errorValue(
        'not_found',
        'This desktop keeps nothing of that call: it never ran here, its result is no longer kept, or it was a read (reads are not kept; run it again).',
      ),
    });
  }

  /** Refuses a known call id sent with other content; audited: a relay re-using an id for other work is worth the person's attention. */
  private conflict(call: CallFrame): Promise<Result<unknown>> {
    const result: Result<unknown> = {
      ok: false,
      error: errorValue('conflict', 'This call id was already used for a different call.'),
    };
    return this.audit(call, 'invalid', result, Date.now()).then(() => result);
  }

  /**
   * A call the journal knows from an earlier run of the host (or from this one, after memory
   * let it go): its recorded result, or `interrupted` when the host died while it ran; a
   * different call under the same id is a conflict. Never runs the handler.
   */
  private fromJournal(call: CallFrame, fingerprint: string, journaled: JournalEntry): Promise<Result<unknown>> {
    if (journaled.fingerprint !== fingerprint) return this.conflict(call);
    if (journaled.result) return Promise.resolve(journaled.result);
    // Held in memory while its `interrupted` end is recorded, so a re-delivery meanwhile is audited once.
    const entry: CallEntry = {
      fingerprint,
      sinks: new Set(),
      controller: new AbortController(),
      finishedAt: Date.now(),
      bytes: 0,
      journaled: true,
      story: {},
      promise: null!,
    };
    this.calls.set(call.id, entry);
    this.finished.set(call.id, entry);
    // Its handler started and no end was recorded: the host stopped mid-call. What it did is
    // unknown, so it is not run again; the activity log gets the entry the dead process never wrote.
    const result: Result<unknown> = { ok: false, error: errorValue('interrupted') };
    entry.promise = Promise.all([
      this.audit(call, 'unavailable', result, journaled.at),
      this.options
        .journal!.finished(call.id, fingerprint, result)
        .catch((err: unknown) => this.reportInternal(err, call)),
    ]).then(() => result);
    return entry.promise;
  }

  /** Cancels a call that is waiting or running (its result becomes `cancelled`); unknown ids are ignored. */
  cancel(callId: string, reason?: string): void {
    const entry = this.calls.get(callId);
    if (entry && entry.finishedAt === null) entry.controller.abort(causeOf('cancelled', reason));
  }

  /** Calls not finished yet. */
  inFlight(): number {
    let n = 0;
    for (const e of this.calls.values()) if (e.finishedAt === null) n++;
    return n;
  }

  /** Refuses new calls, aborts the running ones and waits for them to end. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const running = [...this.calls.values()].filter((e) => e.finishedAt === null);
    for (const e of running) e.controller.abort(causeOf('unavailable', 'The desktop app is shutting down.'));
    await Promise.all(running.map((e) => e.promise));
    this.calls.clear();
    this.finished.clear();
    this.keptBytes = 0;
  }

  private async execute(call: CallFrame, entry: CallEntry): Promise<Result<unknown>> {
    const started = Date.now();
    const signal = entry.controller.signal;
    const deadlineTimer = setTimeout(
      () => entry.controller.abort(causeOf('timeout', 'The call passed its deadline.')),
      Math.max(0, Math.min(call.deadline - started, 2 ** 31 - 1)),
    );
    if (call.deadline <= started) entry.controller.abort(causeOf('timeout', 'The call arrived after its deadline.'));
    const runtime = this.options.workspaces.get(call.workspaceId);
    let decision: AuditDecision = 'invalid';
    let rule: PolicyVerdict['rule'];
    let result: Result<unknown>;
    try {
      const outcome = await this.decideAndRun(call, entry, runtime, signal);
      decision = outcome.decision;
      rule = outcome.rule;
      result = outcome.result;
    } catch (err) {
      result = { ok: false, error: this.errorOf(err, signal, call) };
    } finally {
      clearTimeout(deadlineTimer);
    }
    await Promise.all([
      this.audit(call, decision, result, started, runtime?.config.name, rule, entry.story),
      this.journalEnd(call, entry, result),
    ]);
    return result;
  }

  /**
   * Records the end of a journalled call before its result is answered. A call ended by this
   * host's shutdown is left `started`: after the restart it is answered `interrupted`, like a
   * crash, rather than with a shutdown error that suggests trying again. A failing write is
   * reported; the call is answered anyway (after a restart it would be `interrupted`).
   */
  private async journalEnd(call: CallFrame, entry: CallEntry, result: Result<unknown>): Promise<void> {
    const journal = this.options.journal;
    if (!journal || !entry.journaled) return;
    const reason = entry.controller.signal.reason as { cause?: AbortCause } | undefined;
    if (this.disposed && !result.ok && result.error.code === 'unavailable' && reason?.cause === 'unavailable') return;
    await journal.finished(call.id, entry.fingerprint, result).catch((err: unknown) => this.reportInternal(err, call));
  }

  /** Writes the call's audit entry; a failing audit log is reported, never fails the call. */
  private async audit(
    call: CallFrame,
    decision: AuditDecision,
    result: Result<unknown>,
    started: number,
    workspaceName = this.options.workspaces.get(call.workspaceId)?.config.name,
    rule?: PolicyVerdict['rule'],
    story?: CallStory,
  ): Promise<void> {
    const entry: Parameters<AuditLog['append']>[0] = {
      workspaceId: call.workspaceId,
      workspaceName: workspaceName ?? '(unknown workspace)',
      callId: call.id,
      caller: call.caller,
      tool: call.tool,
      summary: summarizeArgs(call.tool, call.args),
      decision,
      outcome: result.ok ? 'ok' : 'error',
      durationMs: Date.now() - started,
      ...storyOf(call.tool, decision, result, story),
    };
    if (!result.ok) entry.errorCode = result.error.code;
    if (rule) entry.rule = { id: rule.id, covers: describeScope(rule.scope) };
    await this.options.audit.append(entry).catch((err: unknown) => this.reportInternal(err, call));
  }

  private async decideAndRun(
    call: CallFrame,
    entry: CallEntry,
    runtime: WorkspaceRuntime | undefined,
    signal: AbortSignal,
  ): Promise<{ decision: AuditDecision; rule?: PolicyVerdict['rule']; result: Result<unknown> }> {
    if (!runtime)
      return {
        decision: 'invalid',
        result: {
          ok: false,
          error: errorValue('not_found', `There is no workspace ${call.workspaceId} on this device.`),
        },
      };
    if (!isToolName(call.tool)) {
      return {
        decision: 'invalid',
        result: { ok: false, error: errorValue('unknown_tool', 'There is no tool by that name.') },
      };
    }
    const spec = TOOLS[call.tool];
    const parsed = spec.args.safeParse(call.args);
    if (!parsed.success) return { decision: 'invalid', result: { ok: false, error: invalidArgs(parsed.error) } };
    const args: unknown = parsed.data;
    if (call.tool === 'run_command' || call.tool === 'shell_start') {
      try {
        checkCallerEnv((args as ToolArgs<'run_command' | 'shell_start'>).env);
      } catch (err) {
        return { decision: 'invalid', result: { ok: false, error: toErrorValue(err) } };
      }
    }
    const handler = this.options.handlers[call.tool] as ToolHandler<ToolName> | undefined;
    if (!handler) {
      return {
        decision: 'invalid',
        result: { ok: false, error: errorValue('unknown_tool', `${call.tool} is not available on this device.`) },
      };
    }
    if (signal.aborted)
      return { decision: 'invalid', result: { ok: false, error: this.errorOf(signal.reason, signal, call) } };

    const verdict = await this.policy.check({
      workspace: runtime,
      tool: call.tool,
      callId: call.id,
      caller: call.caller,
      detail: () =>
        this.detailOf(runtime, call.tool, args).then((detail) => {
          entry.story.asked = detail;
          return detail;
        }),
      target: () => this.targetOf(runtime, call.tool, args),
      signal,
      onAsk: () => {
        entry.story.askedAt = Date.now();
        this.progress(entry, { status: 'awaiting_confirmation' });
      },
    });
    if (entry.story.askedAt !== undefined) entry.story.answeredAt = Date.now();
    if (!verdict.allowed) {
      // A question cut short by the deadline or a cancel reports why, not just "cancelled".
      const error =
        signal.aborted && verdict.error.code === 'cancelled'
          ? this.errorOf(signal.reason, signal, call)
          : verdict.error;
      return { decision: verdict.decision, result: { ok: false, error } };
    }

    let release: () => void;
    try {
      release = await this.slotsOf(call.workspaceId).acquire(signal);
    } catch {
      return { decision: verdict.decision, result: { ok: false, error: this.errorOf(signal.reason, signal, call) } };
    }
    let slotHandedOver = false;
    let runningTimer: NodeJS.Timeout | undefined;
    try {
      // Waiting for a slot takes time: the workspace may be gone, paused or tightened by now.
      if (this.options.workspaces.get(call.workspaceId) !== runtime) {
        return {
          decision: verdict.decision,
          result: { ok: false, error: errorValue('not_found', 'The workspace was removed.') },
        };
      }
      const refusal = this.policy.refusalNow(runtime, call.tool);
      if (refusal) return { decision: refusal.decision, result: { ok: false, error: refusal.error } };
      const guard = runtime.guard;
      if (!guard || runtime.state === 'error') {
        return {
          decision: verdict.decision,
          result: {
            ok: false,
            error: errorValue('runtime_error', runtime.reason ?? 'The workspace folder is not available.'),
          },
        };
      }
      if (this.options.journal && categoryOf(call.tool) !== 'read') {
        // On disk before the handler runs: if the host dies from here on, the call is never run again.
        try {
          await this.options.journal.started(call.id, entry.fingerprint);
          entry.journaled = true;
        } catch (err) {
          const full = isNoSpace(err);
          if (!full) this.reportInternal(err, call);
          const result: Result<unknown> = {
            ok: false,
            error: full
              ? errorValue(
                  'no_space',
                  "The desktop's config folder has no space left to record the call before running it; it was not run.",
                )
              : errorValue('internal', 'The desktop could not record the call before running it; it was not run.'),
          };
          // A retry gets this same answer: never a run, never `interrupted`.
          this.options.journal.refused(call.id, entry.fingerprint, result);
          return { decision: verdict.decision, result };
        }
      }
      let runningSaid = false;
      const sayRunning = () => {
        if (runningSaid) return;
        runningSaid = true;
        clearTimeout(runningTimer);
        this.progress(entry, { status: 'running' });
      };
      if (entry.story.askedAt !== undefined) sayRunning();
      else runningTimer = setTimeout(sayRunning, RUNNING_NOTICE_DELAY_MS);
      const ctx: ToolContext = {
        workspace: { id: runtime.config.id, name: runtime.config.name, root: guard.root },
        guard,
        signal,
        callId: call.id,
        onOutput: (chunk) => {
          sayRunning();
          return this.progress(entry, { status: 'output', chunk });
        },
        whenDrained: () => Promise.all([...entry.sinks].map((s) => s.whenDrained())).then(() => undefined),
      };
      const work = Promise.resolve().then(() => handler(args as never, ctx));
      const value = await withGrace(
        work,
        signal,
        () => {
          // The handler ignored its signal: answer now, but keep its slot until it really ends.
          slotHandedOver = true;
          void work.catch(() => undefined).finally(release);
        },
        this.options.abortGraceMs,
      );
      return { decision: verdict.decision, rule: verdict.rule, result: { ok: true, value } };
    } catch (err) {
      return { decision: verdict.decision, result: { ok: false, error: this.errorOf(err, signal, call) } };
    } finally {
      clearTimeout(runningTimer);
      if (!slotHandedOver) release();
    }
  }

  /** What the person is shown for a call the policy asks about. */
  private async detailOf(runtime: WorkspaceRuntime, tool: ToolName, args: unknown): Promise<ConfirmationDetail> {
    const a = args as Record<string, unknown>;
    const category = categoryOf(tool);
    if (category === 'write' && runtime.guard) return this.options.preview(tool, args, { guard: runtime.guard });
    if (tool === 'run_command' || tool === 'shell_start') {
      const cwd = typeof a.cwd === 'string' ? a.cwd : '.';
      const command = typeof a.command === 'string' ? a.command : '(login shell)';
      const detail: ConfirmationDetail = {
        kind: 'shell',
        // Every variable the caller sets is shown, in front of the command as the shell would read it.
        command: commandWithEnv(command, a.env as Record<string, string> | undefined),
        cwd: resolvePath(runtime.config.root, cwd),
      };
      const c = this.options.confinement?.(runtime.config.id);
      if (c) {
        detail.sandbox = {
          sandboxed: c.sandboxed,
          engine: c.engine,
          network: c.network.mode,
          allowDomains: c.network.mode === 'domains' ? [...c.network.domains] : [],
          summary: confinementSummary(c),
        };
        if (c.reason !== undefined) detail.sandbox.reason = c.reason;
      }
      return detail;
    }
    if (tool === 'shell_write') {
      // What is typed is what runs: the person sees the input itself, and which session it goes to.
      const input = typeof a.input === 'string' ? a.input : '';
      const sessionId = typeof a.sessionId === 'string' ? a.sessionId : '?';
      const info = this.options.sessionInfo?.(runtime.config.id, sessionId);
      return {
        kind: 'shell_input',
        sessionId,
        session: info ? { command: info.command, cwd: resolvePath(runtime.config.root, info.cwd) } : null,
        input,
      };
    }
    if (category === 'shell') {
      return { kind: 'shell', command: `${tool} ${summarizeArgs(tool, args)}`, cwd: runtime.config.root };
    }
    return { kind: 'other', summary: `${tool} ${summarizeArgs(tool, args)}` };
  }

  /** What a call acts on, for matching standing allowances: real workspace paths of a write, the command of a shell call. */
  private async targetOf(runtime: WorkspaceRuntime, tool: ToolName, args: unknown): Promise<CallTarget> {
    const a = args as Record<string, unknown>;
    const guard = runtime.guard;
    if (categoryOf(tool) === 'write') {
      if (!guard) return { kind: 'none' };
      const raw = tool === 'move' ? [a.from, a.to] : [a.path];
      const paths = new Set<string>();
      for (const p of raw) {
        if (typeof p !== 'string') return { kind: 'none' };
        // Both the name written and where it leads (a link inside the workspace) must be covered.
        const resolved = await guard.resolve(p, { allowRoot: tool === 'mkdir' });
        paths.add(guard.relative(resolved.entry));
        paths.add(guard.relative(resolved.abs));
      }
      return { kind: 'write', paths: [...paths] };
    }
    if ((tool === 'run_command' || tool === 'shell_start') && typeof a.command === 'string') {
      const env = a.env as Record<string, string> | undefined;
      const cwdArg = typeof a.cwd === 'string' ? a.cwd : '.';
      let cwd = '.';
      if (guard) cwd = guard.relative((await guard.resolve(cwdArg)).abs);
      return {
        kind: 'command',
        command: a.command,
        shown: commandWithEnv(a.command, env),
        hasEnv: env !== undefined && Object.keys(env).length > 0,
        cwd,
      };
    }
    return { kind: 'none' };
  }

  private progress(
    entry: CallEntry,
    p: { status: 'awaiting_confirmation' | 'running' | 'output'; chunk?: string },
  ): boolean {
    let ok = true;
    for (const sink of entry.sinks) {
      try {
        if (!sink.progress(p)) ok = false;
      } catch {
        // A sink whose connection died must not fail the call; the result is kept for re-delivery.
      }
    }
    return ok;
  }

  /** The error value of a failure, naming the deadline or the cancel when the signal fired. */
  private errorOf(err: unknown, signal: AbortSignal, call: { id: string; tool: string }) {
    if (signal.aborted) {
      const cause = signal.reason as { cause?: AbortCause; message?: string } | undefined;
      const code: ErrorCode = cause?.cause ?? 'cancelled';
      return errorValue(code, cause?.message);
    }
    if (err instanceof TetherError) return err.toValue();
    this.reportInternal(err, call);
    return toErrorValue(err);
  }

  private reportInternal(err: unknown, call: { id: string; tool: string }): void {
    if (this.options.onInternalError) this.options.onInternalError(err, call);
    else
      process.stderr.write(
        `tether: call ${call.id} (${call.tool}) failed unexpectedly: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
  }

  private slotsOf(workspaceId: string): Semaphore {
    let s = this.slots.get(workspaceId);
    if (!s) {
      s = new Semaphore(this.maxConcurrent);
      this.slots.set(workspaceId, s);
    }
    return s;
  }

  /** Drops finished results past their TTL, and the oldest finished ones past the byte cap. */
  private prune(): void {
    const now = Date.now();
    // `finished` is in finishing order: the first one neither expired nor over the cap ends it.
    for (const [id, e] of this.finished) {
      if (now - (e.finishedAt as number) <= this.recentTtlMs && this.keptBytes <= this.recentMaxBytes) break;
      this.finished.delete(id);
      if (this.calls.get(id) === e) this.calls.delete(id);
      this.keptBytes -= e.bytes;
    }
  }
}

/** Whether a failure is a full disk or a used-up quota. */
function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function causeOf(cause: AbortCause, message?: string): { cause: AbortCause; message: string | undefined } {
  return { cause, message };
}
