import {
  MAX_ALLOW_MINUTES,
  TetherError,
  categoryOf,
  errorValue,
  type AuditEntry,
  type Category,
  type ConfirmationDetail,
  type ToolErrorValue,
  type ToolName,
} from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import type { ConfirmationBroker } from './confirmation-broker.js';

/** Minutes "allow this workspace" lasts when the person does not say. */
export const DEFAULT_ALLOW_MINUTES = 10;

/** Tools that run or type commands: unsandboxed, they ask every time. */
const UNSANDBOXED_ASKS: ReadonlySet<ToolName> = new Set(['run_command', 'shell_start', 'shell_write']);

/** How a call was let through or stopped (the audit log's `decision`). */
export type AuditDecision = AuditEntry['decision'];

/** The workspace as the policy sees it: its settings, health and remembered approval. */
export interface PolicySubject {
  readonly config: WorkspaceConfig;
  readonly state: 'running' | 'paused' | 'error';
  readonly reason?: string | undefined;
  /** Until when (epoch ms) `ask` is answered "allow" without asking. */
  readonly allowUntil?: number | undefined;
  /** Records an "allow this workspace until T" (in memory only). */
  setAllowUntil(until: number | undefined): void;
}

/** One call to decide on. */
export interface PolicyCheck {
  workspace: PolicySubject;
  tool: ToolName;
  callId: string;
  caller: string;
  /** What the call touches, for the person's eyes; only built when a question is asked. */
  detail: () => Promise<ConfirmationDetail>;
  signal?: AbortSignal;
  /** Called just before the question is put (the call is now `awaiting_confirmation`). */
  onAsk?: () => void;
}

/** The verdict: run (and why) or refuse (and with which error). */
export type PolicyVerdict =
  | { allowed: true; decision: 'allowed' | 'confirmed' | 'remembered' }
  | { allowed: false; decision: AuditDecision; error: ToolErrorValue };

/**
 * Decides whether one call may run in a workspace. This is the only place policy is enforced,
 * and it reads only the person's local settings: nothing a relay sends can loosen it.
 * Order: paused → error → tool switched off → category `deny` → `allow` → `ask` (unless an
 * "allow this workspace" is still active) through the confirmation broker.
 */
export class PolicyEngine {
  private readonly broker: ConfirmationBroker;
  private readonly now: () => number;

  private readonly isSandboxed: ((workspaceId: string) => boolean) | undefined;

  /**
   * `isSandboxed`: whether a workspace's commands run in the OS sandbox. Where they do not
   * (no sandbox on this OS, bwrap missing, switched off), a command that runs or types
   * something asks every time, whatever the policy says: the sandbox is what makes `allow`
   * for shell safe to grant.
   */
  constructor(options: {
    broker: ConfirmationBroker;
    now?: () => number;
    isSandboxed?: (workspaceId: string) => boolean;
  }) {
    this.broker = options.broker;
    this.now = options.now ?? Date.now;
    this.isSandboxed = options.isSandboxed;
  }

  /** Decides on one call; asks the person when the policy says `ask`. */
  async check(c: PolicyCheck): Promise<PolicyVerdict> {
    const category = categoryOf(c.tool);
    const fixed = this.fixedVerdict(c.workspace, c.tool, category);
    if (fixed) return fixed;

    const until = c.workspace.allowUntil;
    const mustAsk =
      UNSANDBOXED_ASKS.has(c.tool) && this.isSandboxed !== undefined && !this.isSandboxed(c.workspace.config.id);
    if (!mustAsk && until !== undefined && until > this.now()) return { allowed: true, decision: 'remembered' };
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
      },
      c.signal,
    );
    switch (answer.decision) {
      case 'allow_once':
      case 'allow_workspace': {
        // The person may have paused the workspace or tightened its policy while the question was open.
        const changed = this.fixedVerdict(c.workspace, c.tool, category);
        if (changed) return changed;
        if (answer.decision === 'allow_workspace') {
          const minutes = Math.min(MAX_ALLOW_MINUTES, Math.max(1, answer.minutes ?? DEFAULT_ALLOW_MINUTES));
          c.workspace.setAllowUntil(this.now() + minutes * 60_000);
        }
        return { allowed: true, decision: 'confirmed' };
      }
      case 'deny':
        return { allowed: false, decision: 'denied', error: errorValue('confirmation_denied') };
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
