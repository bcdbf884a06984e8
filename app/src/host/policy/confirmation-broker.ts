import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CONFIRMATION_TIMEOUT_MS,
  MAX_ALLOW_MINUTES,
  MAX_DENY_REASON_CHARS,
  MAX_MISSED_CONFIRMATIONS,
  confirmationSummary,
  type ConfirmationAnswer,
  type ConfirmationRequest,
  type MissedConfirmation,
} from '@tether/shared';

/** How a confirmation ended, as front ends and the `confirm:resolved` event name it. */
export type ConfirmationOutcome = 'allowed' | 'denied' | 'timeout' | 'cancelled';

/** Something that shows confirmation questions to a person: a window, the browser UI, a terminal. */
export interface ConfirmationFrontend {
  /** Shows the question. The front end answers later through `broker.answer`. */
  present(req: ConfirmationRequest): void;
  /** The question is settled (answered here or elsewhere, timed out, cancelled): stop showing it. */
  dismiss(id: string, outcome: ConfirmationOutcome): void;
}

/** What the broker learned. `unavailable`: no front end was attached to ask. */
export interface BrokerDecision {
  decision: 'allow_once' | 'allow_rule' | 'deny' | 'timeout' | 'unavailable' | 'cancelled';
  /** For `allow_rule`: which offer, and for how long (minutes 1…MAX_ALLOW_MINUTES) or `lasting`. */
  offer?: number;
  minutes?: number;
  lasting?: boolean;
  /** For `deny`: the person's words for the agent (trimmed, bounded). */
  reason?: string;
}

interface Pending {
  request: ConfirmationRequest;
  /** Starts the countdown: when the question becomes the one shown first. */
  start(at?: number): void;
  settle(decision: BrokerDecision, outcome: ConfirmationOutcome): void;
}

/** Events of the broker. */
export interface ConfirmationBrokerEvents {
  request: [ConfirmationRequest];
  /** A waiting question started its countdown (its `startedAt` and `expiresAt` changed). */
  started: [ConfirmationRequest];
  resolved: [{ confirmationId: string; outcome: ConfirmationOutcome }];
  /** The list of missed questions changed. */
  missed: [];
}

/**
 * Puts questions ("may this call run?") to every attached front end at once and settles each
 * with the first answer. Questions are shown oldest first, one at a time, and a question's
 * countdown starts only when it is the one shown: a question waiting behind another does not
 * use up its time. No answer before the timeout is a deny (`timeout`); no front end at all is
 * `unavailable` at once. Late or unknown answers are refused (false), never applied. A question
 * that times out or is dropped with its call is kept in `missed()` until dismissed.
 */
export class ConfirmationBroker extends EventEmitter<ConfirmationBrokerEvents> {
  private readonly timeoutMs: number;
  private readonly frontends = new Set<ConfirmationFrontend>();
  private readonly open = new Map<string, Pending>();
  private missedList: MissedConfirmation[] = [];
  private disposed = false;

  constructor(options: { timeoutMs?: number; missed?: MissedConfirmation[] } = {}) {
    super();
    this.timeoutMs = options.timeoutMs ?? CONFIRMATION_TIMEOUT_MS;
    this.missedList = (options.missed ?? []).slice(0, MAX_MISSED_CONFIRMATIONS);
  }

  /** Attaches a front end (it is shown the questions already open); returns its detach function. */
  addFrontend(frontend: ConfirmationFrontend): () => void {
    this.frontends.add(frontend);
    for (const p of this.open.values()) safely(() => frontend.present(p.request));
    return () => {
      this.frontends.delete(frontend);
    };
  }

  /** True while at least one front end can ask a person. */
  hasFrontend(): boolean {
    return this.frontends.size > 0;
  }

  /** Asks the attached front ends; resolves with the first answer, a timeout or a cancel. */
  ask(
    req: Omit<ConfirmationRequest, 'id' | 'createdAt' | 'expiresAt' | 'startedAt' | 'offers'> & {
      offers?: ConfirmationRequest['offers'];
    },
    signal?: AbortSignal,
  ): Promise<BrokerDecision> {
    if (this.disposed || signal?.aborted) return Promise.resolve({ decision: 'cancelled' });
    if (!this.hasFrontend()) return Promise.resolve({ decision: 'unavailable' });
    const createdAt = Date.now();
    const request: ConfirmationRequest = {
      ...req,
      offers: req.offers ?? [],
      id: `cnf_${randomBytes(9)
        .toString('base64url')
        .replace(/[^A-Za-z0-9]/g, 'x')}`,
      createdAt,
      // Provisional until it is shown: the countdown starts then (start()).
      expiresAt: createdAt + this.timeoutMs,
    };
    return new Promise<BrokerDecision>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => pending.settle({ decision: 'cancelled' }, 'cancelled');
      const pending: Pending = {
        request,
        start: (now = Date.now()) => {
          if (timer) return;
          request.startedAt = now;
          request.expiresAt = now + this.timeoutMs;
          timer = setTimeout(() => pending.settle({ decision: 'timeout' }, 'timeout'), this.timeoutMs);
        },
        settle: (decision, outcome) => {
          if (!this.open.delete(request.id)) return; // first settlement wins
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (outcome === 'timeout' || outcome === 'cancelled') this.recordMissed(request, outcome);
          // Before the front ends move on to it: they show the next question with its countdown running.
          this.startHead();
          for (const f of this.frontends) safely(() => f.dismiss(request.id, outcome));
          resolve(decision);
          this.emit('resolved', { confirmationId: request.id, outcome });
        },
      };
      this.open.set(request.id, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.open.size === 1) pending.start(createdAt);
      this.emit('request', request);
      for (const f of this.frontends) safely(() => f.present(request));
    });
  }

  /** Applies a person's answer. False when the question is unknown or already settled. */
  answer(answer: ConfirmationAnswer): boolean {
    const pending = this.open.get(answer.confirmationId);
    if (!pending) return false;
    if (answer.decision === 'deny') {
      const decision: BrokerDecision = { decision: 'deny' };
      const reason = answer.reason?.trim().slice(0, MAX_DENY_REASON_CHARS);
      if (reason) decision.reason = reason;
      pending.settle(decision, 'denied');
    } else if (answer.decision === 'allow_rule') {
      const offer = answer.offer ?? 0;
      // An offer the question did not make cannot be accepted: the person saw only these.
      if (offer < 0 || offer >= pending.request.offers.length) return false;
      const decision: BrokerDecision = { decision: 'allow_rule', offer };
      if (answer.lasting) decision.lasting = true;
      else if (answer.minutes !== undefined)
        decision.minutes = Math.min(MAX_ALLOW_MINUTES, Math.max(1, Math.floor(answer.minutes)));
      pending.settle(decision, 'allowed');
    } else {
      pending.settle({ decision: 'allow_once' }, 'allowed');
    }
    return true;
  }

  /** The questions still open, oldest first. */
  pending(): ConfirmationRequest[] {
    return [...this.open.values()].map((p) => p.request);
  }

  /** The questions nobody answered, newest first (at most MAX_MISSED_CONFIRMATIONS). */
  missed(): MissedConfirmation[] {
    return [...this.missedList];
  }

  /** Forgets the missed questions (the person has seen them); returns how many there were. */
  dismissMissed(): number {
    const n = this.missedList.length;
    this.missedList = [];
    if (n > 0) this.emit('missed');
    return n;
  }

  /** Cancels every open question and detaches every front end. */
  dispose(): void {
    this.disposed = true;
    for (const p of [...this.open.values()]) p.settle({ decision: 'cancelled' }, 'cancelled');
    this.frontends.clear();
    this.removeAllListeners();
  }

  private startHead(): void {
    if (this.disposed) return;
    const head = this.open.values().next().value;
    if (!head || head.request.startedAt !== undefined) return;
    head.start();
    this.emit('started', head.request);
  }

  private recordMissed(request: ConfirmationRequest, outcome: 'timeout' | 'cancelled'): void {
    this.missedList.unshift({
      id: request.id,
      workspaceName: request.workspaceName,
      caller: request.caller,
      tool: request.tool,
      summary: confirmationSummary(request.detail),
      askedAt: request.createdAt,
      endedAt: Date.now(),
      outcome: outcome === 'timeout' ? 'timeout' : 'dropped',
    });
    this.missedList.length = Math.min(this.missedList.length, MAX_MISSED_CONFIRMATIONS);
    this.emit('missed');
  }
}

/** A front end that throws must not break the question for the others. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The front end's own problem; the other front ends and the timeout still settle the question.
  }
}
