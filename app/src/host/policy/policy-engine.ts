import {
  MAX_ALLOW_MINUTES,
  TetherError,
  categoryOf,
  describeScope,
  errorValue,
  printable,
  type Allowance,
  type AllowanceScope,
  type AuditEntry,
  type Category,
  type ConfirmationDetail,
  type ToolErrorValue,
  type ToolName,
} from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import { coveringAllowance, offersFor, type CallTarget } from './allowance-rules.js';
import type { ConfirmationBroker } from './confirmation-broker.js';

/** Minutes a standing allowance lasts when the person does not say. */
export const DEFAULT_ALLOW_MINUTES = 10;

/** Tools that run or type commands: unsandboxed, they ask every time. */
const UNSANDBOXED_ASKS: ReadonlySet<ToolName> = new Set(['run_command', 'shell_start', 'shell_write']);

/** How a call was let through or stopped (the audit log's `decision`). */
export type AuditDecision = AuditEntry['decision'];

/** The workspace as the policy sees it: its settings (with its standing allowances) and health. */
export interface PolicySubject {
  readonly config: WorkspaceConfig;
  readonly state: 'running' | 'paused' | 'error';
  readonly reason?: string | undefined;
  /** Records a standing allowance of this workspace (persisted); `expiresAt` null: until revoked. */
  addAllowance(scope: AllowanceScope, expiresAt: number | null): Promise<Allowance>;
}

/** One call to decide on. */
export interface PolicyCheck {
  workspace: PolicySubject;
  tool: ToolName;
  callId: string;
  caller: string;
  /** What the call touches, for the person's eyes; only built when a question is asked. */
  detail: () => Promise<ConfirmationDetail>;
  /** What the call acts on, for matching standing allowances; absent: none can cover it. */
  target?: () => Promise<CallTarget>;
  signal?: AbortSignal;
  /** Called just before the question is put (the call is now `awaiting_confirmation`). */
  onAsk?: () => void;
}

/** The verdict: run (and why, and by which standing allowance) or refuse (and with which error). */
export type PolicyVerdict =
  | { allowed: true; decision: 'allowed' | 'confirmed'; rule?: undefined }
  | { allowed: true; decision: 'remembered'; rule: Allowance }
  | { allowed: false; decision: AuditDecision; error: ToolErrorValue; rule?: undefined };

/**
 * Decides whether one call may run in a workspace. This is the only place policy is enforced,
 * and it reads only the person's local settings: nothing a relay sends can loosen it.
 * Order: paused → error → tool switched off → category `deny` → `allow` → `ask`: a live
 * standing allowance that covers exactly this call, else the question through the broker.
 */
export class PolicyEngine {
  private readonly broker: ConfirmationBroker;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  private readonly isSandboxed: ((workspaceId: string) => boolean) | undefined;

  /**
   * `isSandboxed`: whether a workspace's commands run in the OS sandbox. Where they do not
   * (no sandbox on this OS, bwrap missing, switched off), a command that runs or types
   * something asks every time, whatever the policy or a standing allowance says: the sandbox
   * is what makes `allow` for shell safe to grant.
   */
  constructor(options: {
    broker: ConfirmationBroker;
    now?: () => number;
    log?: (line: string) => void;
    isSandboxed?: (workspaceId: string) => boolean;
  }) {
    this.broker = options.broker;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.isSandboxed = options.isSandboxed;
  }

  /** Decides on one call; asks the person when the policy says `ask` and no allowance covers it. */
  async check(c: PolicyCheck): Promise<PolicyVerdict> {
    const category = categoryOf(c.tool);
    const fixed = this.fixedVerdict(c.workspace, c.tool, category);
    if (fixed) return fixed;

    let target: CallTarget = { kind: 'none' };
    if (c.target) {
      try {
        target = await c.target();
      } catch (err) {
        if (err instanceof TetherError) return { allowed: false, decision: 'invalid', error: err.toValue() };
        target = { kind: 'none' };
      }
    }
    const mustAsk =
      UNSANDBOXED_ASKS.has(c.tool) && this.isSandboxed !== undefined && !this.isSandboxed(c.workspace.config.id);
    const rule = mustAsk ? null : coveringAllowance(c.workspace.config.allowances, c.tool, target, this.now());
    if (rule) return { allowed: true, decision: 'remembered', rule };
    if (!this.broker.hasFrontend()) {
      return {
        allowed: false,
        decision: 'unavailable',
        error: errorValue(
          'confirmation_unavailable',
          `The ${category} call needs a confirmation, and no window or terminal is there to ask.`,
        ),
      };
    }

    let detail: ConfirmationDetail;
    try {
      detail = await c.detail();
    } catch (err) {
      // A preview that fails for an expected reason (a path outside the workspace) fails the call
      // before anyone is bothered; an unexpected failure still asks, with a plainer description.
      if (err instanceof TetherError) return { allowed: false, decision: 'invalid', error: err.toValue() };
      detail = { kind: 'other', summary: `${c.tool} (no preview available)` };
    }

    const offers = offersFor(c.tool, target);
    c.onAsk?.();
    const answer = await this.broker.ask(
      {
        callId: c.callId,
        workspaceId: c.workspace.config.id,
        workspaceName: c.workspace.config.name,
        caller: c.caller,
        tool: c.tool,
        category,
        detail,
        offers,
      },
      c.signal,
    );
    switch (answer.decision) {
      case 'allow_once':
      case 'allow_rule': {
        // The person may have paused the workspace or tightened its policy while the question was open.
        const changed = this.fixedVerdict(c.workspace, c.tool, category);
        if (changed) return changed;
        const scope = answer.decision === 'allow_rule' ? offers[answer.offer ?? 0] : undefined;
        if (scope) {
          const minutes = Math.min(MAX_ALLOW_MINUTES, Math.max(1, answer.minutes ?? DEFAULT_ALLOW_MINUTES));
          const expiresAt = answer.lasting ? null : this.now() + minutes * 60_000;
          // Recording it may fail (the config cannot be written): this call was allowed all the same.
          await c.workspace
            .addAllowance(scope, expiresAt)
            .catch((err: unknown) =>
              this.log(`could not record the allowance "${describeScope(scope)}": ${(err as Error).message}`),
            );
        }
        return { allowed: true, decision: 'confirmed' };
      }
      case 'deny':
        return {
          allowed: false,
          decision: 'denied',
          error: answer.reason
            ? errorValue('confirmation_denied', `The person denied this call: ${printable(answer.reason)}`, {
                reason: answer.reason,
              })
            : errorValue('confirmation_denied'),
        };
      case 'timeout':
        return { allowed: false, decision: 'timeout', error: errorValue('confirmation_timeout') };
      case 'unavailable':
        return { allowed: false, decision: 'unavailable', error: errorValue('confirmation_unavailable') };
      case 'cancelled':
        return {
          allowed: false,
          decision: 'denied',
          error: errorValue('cancelled', 'The call was cancelled while waiting for confirmation.'),
        };
    }
  }

  /**
   * A refusal that stands now without asking anyone (paused, in error, tool switched off,
   * category denied), or null. For a call about to start after waiting (for a slot, for an
   * answer): the person may have changed their mind meanwhile.
   */
  refusalNow(w: PolicySubject, tool: ToolName): Extract<PolicyVerdict, { allowed: false }> | null {
    const verdict = this.fixedVerdict(w, tool, categoryOf(tool));
    return verdict && !verdict.allowed ? verdict : null;
  }

  /** The verdicts that need no question; null when the category is `ask`. */
  private fixedVerdict(w: PolicySubject, tool: ToolName, category: Category): PolicyVerdict | null {
    if (w.config.paused || w.state === 'paused')
      return { allowed: false, decision: 'paused', error: errorValue('runtime_paused') };
    if (w.state === 'error') {
      return {
        allowed: false,
        decision: 'unavailable',
        error: errorValue('runtime_error', `The workspace is in an error state: ${w.reason ?? 'unknown reason'}.`),
      };
    }
    if (w.config.disabledTools.includes(tool)) {
      return {
        allowed: false,
        decision: 'disabled',
        error: errorValue('tool_disabled', `${tool} is switched off for this workspace.`),
      };
    }
    const rule = w.config.policy[category];
    if (rule === 'deny') {
      return {
        allowed: false,
        decision: 'policy_denied',
        error: errorValue('policy_denied', `The workspace's policy denies ${category} calls.`),
      };
    }
    if (rule === 'allow') {
      if (UNSANDBOXED_ASKS.has(tool) && this.isSandboxed && !this.isSandboxed(w.config.id)) return null;
      return { allowed: true, decision: 'allowed' };
    }
    return null;
  }
}
