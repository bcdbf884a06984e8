import {
  MAX_REFUSED_NOTICES_PER_MINUTE,
  REFUSED_NOTICE_WINDOW_MS,
  type AuditEntry,
  type RefusedFrame,
} from '@tether/shared';
import type { AuditLog } from './audit-log.js';

const DECISIONS: Record<RefusedFrame['code'], AuditEntry['decision']> = {
  runtime_paused: 'paused',
  tool_disabled: 'disabled',
  policy_denied: 'policy_denied',
};

/**
 * Records the calls the relay refused before they reached this desktop (see the `refused`
 * frame) in the activity log, so it has every call. The relay is not trusted: at most
 * MAX_REFUSED_NOTICES_PER_MINUTE are recorded per window whatever it sends, the workspace name
 * is this desktop's own, and the entry says the relay reported it.
 */
export class RefusedCallRecorder {
  private windowStart = 0;
  private inWindow = 0;
  /** Notices left out here, added to the next one recorded. */
  private dropped = 0;

  constructor(
    private readonly audit: AuditLog,
    private readonly workspaceName: (workspaceId: string) => string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one notice; false when it was left out (the window is full, or the workspace is not this desktop's). */
  record(frame: RefusedFrame): boolean {
    const name = this.workspaceName(frame.workspaceId);
    if (name === undefined) return false;
    const now = this.now();
    if (now - this.windowStart >= REFUSED_NOTICE_WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= MAX_REFUSED_NOTICES_PER_MINUTE) {
      this.dropped++;
      return false;
    }
    this.inWindow++;
    const missed = frame.dropped + this.dropped;
    this.dropped = 0;
    void this.audit
      .append({
        workspaceId: frame.workspaceId,
        workspaceName: name,
        callId: frame.id,
        caller: frame.caller,
        tool: frame.tool,
        summary: missed > 0 ? `(and ${missed} more refused just before, not recorded one by one)` : '',
        decision: DECISIONS[frame.code],
        outcome: 'error',
        errorCode: frame.code,
        durationMs: 0,
        refusedAt: 'relay',
      })
      .catch(() => undefined);
    return true;
  }
}
