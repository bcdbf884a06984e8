import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CONFIRMATION_TIMEOUT_MS,
  MAX_ALLOW_MINUTES,
  type ConfirmationAnswer,
  type ConfirmationRequest,
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
  decision: 'allow_once' | 'allow_workspace' | 'deny' | 'timeout' | 'unavailable' | 'cancelled';
  /** For `allow_workspace`: the minutes the person chose (1…MAX_ALLOW_MINUTES), if they chose. */
  minutes?: number;
}

interface Pending {
  request: ConfirmationRequest;
  settle(decision: BrokerDecision, outcome: ConfirmationOutcome): void;
}

/** Events of the broker. */
export interface ConfirmationBrokerEvents {
  request: [ConfirmationRequest];
  resolved: [{ confirmationId: string; outcome: ConfirmationOutcome }];
}

/**
 * Puts questions ("may this call run?") to every attached front end at once and settles each
 * with the first answer. No answer before the timeout is a deny (`timeout`); no front end at all
 * is `unavailable` at once. Late or unknown answers are refused (false), never applied.
 */
export class ConfirmationBroker extends EventEmitter<ConfirmationBrokerEvents> {
  private readonly timeoutMs: number;
  private readonly frontends = new Set<ConfirmationFrontend>();
  private readonly open = new Map<string, Pending>();
  private disposed = false;

  constructor(options: { timeoutMs?: number } = {}) {
    super();
    this.timeoutMs = options.timeoutMs ?? CONFIRMATION_TIMEOUT_MS;
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
  ask(req: Omit<ConfirmationRequest, 'id' | 'createdAt' | 'expiresAt'>, signal?: AbortSignal): Promise<BrokerDecision> {
    if (this.disposed || signal?.aborted) return Promise.resolve({ decision: 'cancelled' });
    if (!this.hasFrontend()) return Promise.resolve({ decision: 'unavailable' });
    const createdAt = Date.now();
    const request: ConfirmationRequest = {
      ...req,
      id: `cnf_${randomBytes(9)
        .toString('base64url')
        .replace(/[^A-Za-z0-9]/g, 'x')}`,
      createdAt,
      expiresAt: createdAt + this.timeoutMs,
    };
    return new Promise<BrokerDecision>((resolve) => {
      const onAbort = (): void => pending.settle({ decision: 'cancelled' }, 'cancelled');
      const timer = setTimeout(() => pending.settle({ decision: 'timeout' }, 'timeout'), this.timeoutMs);
      const pending: Pending = {
        request,
        settle: (decision, outcome) => {
          if (!this.open.delete(request.id)) return; // first settlement wins
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          for (const f of this.frontends) safely(() => f.dismiss(request.id, outcome));
          resolve(decision);
          this.emit('resolved', { confirmationId: request.id, outcome });
        },
      };
      this.open.set(request.id, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.emit('request', request);
      for (const f of this.frontends) safely(() => f.present(request));
    });
  }

  /** Applies a person's answer. False when the question is unknown or already settled. */
  answer(answer: ConfirmationAnswer): boolean {
    const pending = this.open.get(answer.confirmationId);
    if (!pending) return false;
    if (answer.decision === 'deny') {
      pending.settle({ decision: 'deny' }, 'denied');
    } else if (answer.decision === 'allow_workspace') {
      const decision: BrokerDecision = { decision: 'allow_workspace' };
      if (answer.minutes !== undefined)
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

  /** Cancels every open question and detaches every front end. */
  dispose(): void {
    this.disposed = true;
    for (const p of [...this.open.values()]) p.settle({ decision: 'cancelled' }, 'cancelled');
    this.frontends.clear();
    this.removeAllListeners();
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
