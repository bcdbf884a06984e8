import {
  MAX_AUDIT_DIFF_CHARS,
  MAX_AUDIT_OUTPUT_HEAD_CHARS,
  MAX_AUDIT_OUTPUT_TAIL_CHARS,
  type AuditEntry,
  type ConfirmationDetail,
  type Result,
} from '@tether/shared';

/** What the call runner saw of a call besides its result: the question it asked, and when. */
export interface CallStory {
  /** The detail shown in the confirmation (a write's diff preview, a command and cwd). */
  asked?: ConfirmationDetail;
  /** When the question was put to the person, and when it was answered (epoch ms). */
  askedAt?: number;
  answeredAt?: number;
}

/** The fields of an audit entry that tell what happened beyond the outcome. */
export type StoryFields = Pick<AuditEntry, 'exitCode' | 'waitMs' | 'detail'>;

const ANSWERS: Partial<Record<AuditEntry['decision'], string>> = {
  confirmed: 'You allowed it.',
  remembered: 'It ran under an approval you gave earlier.',
  denied: 'You denied it.',
  timeout: 'Nobody answered before the question timed out, so it was refused.',
  unavailable: 'Nobody was there to ask, so it was refused.',
};

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * The story of one call for its audit entry: a command's exit code and the head and tail of
 * its output, a write's diff, the time the person took to answer, and the answer given. Each
 * bounded (MAX_AUDIT_*): the log keeps what is needed to see what happened, not whole files.
 */
export function storyOf(
  tool: string,
  decision: AuditEntry['decision'],
  result: Result<unknown>,
  story: CallStory = {},
): StoryFields {
  const fields: StoryFields = {};
  const detail: NonNullable<AuditEntry['detail']> = {};
  if (story.askedAt !== undefined) fields.waitMs = Math.max(0, (story.answeredAt ?? story.askedAt) - story.askedAt);
  const cancelled = !result.ok && result.error.code === 'cancelled';
  const answer = cancelled
    ? story.askedAt !== undefined
      ? 'The call was cancelled while it waited for your answer.'
      : undefined
    : story.askedAt !== undefined || decision === 'remembered'
      ? ANSWERS[decision]
      : undefined;
  if (answer) detail.answer = answer;

  const value = result.ok ? record(result.value) : undefined;
  if (value && (tool === 'run_command' || tool === 'shell_read' || tool === 'shell_write')) {
    if (typeof value.exitCode === 'number' || value.exitCode === null) {
      // A session's reads report `null` while it runs: only a command's end is an exit code.
      if (tool === 'run_command' || value.exited === true) fields.exitCode = value.exitCode as number | null;
    }
    if (typeof value.output === 'string' && value.output.length > 0) {
      // A pty ends lines with \r\n; the log keeps plain lines.
      const output = value.output.replace(/\r\n/g, '\n');
      detail.outputHead = output.slice(0, MAX_AUDIT_OUTPUT_HEAD_CHARS);
      const rest = output.length - detail.outputHead.length;
      if (rest > 0) {
        const tail = Math.min(rest, MAX_AUDIT_OUTPUT_TAIL_CHARS);
        detail.outputTail = output.slice(output.length - tail);
        if (rest > tail) detail.outputOmitted = rest - tail;
      }
    }
  }
  // The diff that was applied (edit_file returns it), else the one the person was shown.
  const diff =
    value && typeof value.diff === 'string' && value.diff.length > 0
      ? value.diff
      : story.asked?.kind === 'write'
        ? story.asked.diff
        : undefined;
  if (diff) {
    detail.diff = diff.length > MAX_AUDIT_DIFF_CHARS ? diff.slice(0, MAX_AUDIT_DIFF_CHARS) : diff;
    if (diff.length > MAX_AUDIT_DIFF_CHARS) detail.diffTruncated = true;
  }
  if (Object.keys(detail).length > 0) fields.detail = detail;
  return fields;
}
