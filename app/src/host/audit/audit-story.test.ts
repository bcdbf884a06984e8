import { describe, expect, it } from 'vitest';
import { MAX_AUDIT_DIFF_CHARS, MAX_AUDIT_OUTPUT_HEAD_CHARS, MAX_AUDIT_OUTPUT_TAIL_CHARS } from '@tether/shared';
import { storyOf } from './audit-story.js';

const ran = (value: unknown) => ({ ok: true as const, value });

describe('storyOf', () => {
  it("keeps a command's exit code and its whole output when it is short", () => {
    const fields = storyOf('run_command', 'allowed', ran({ exitCode: 2, signal: null, output: 'boom\r\n' }));
    expect(fields).toEqual({ exitCode: 2, detail: { outputHead: 'boom\n' } });
    expect(storyOf('run_command', 'allowed', ran({ exitCode: null, output: '' })).exitCode).toBeNull();
  });

  it('keeps the head and tail of a long output, counting what is left out', () => {
    const output = 'h'.repeat(MAX_AUDIT_OUTPUT_HEAD_CHARS) + 'm'.repeat(5000) + 't'.repeat(MAX_AUDIT_OUTPUT_TAIL_CHARS);
    const { detail } = storyOf('run_command', 'allowed', ran({ exitCode: 0, output }));
    expect(detail?.outputHead).toBe('h'.repeat(MAX_AUDIT_OUTPUT_HEAD_CHARS));
    expect(detail?.outputTail).toBe('t'.repeat(MAX_AUDIT_OUTPUT_TAIL_CHARS));
    expect(detail?.outputOmitted).toBe(5000);
  });

  it('gives the time the person took and their answer, apart from the run time', () => {
    const fields = storyOf('write_file', 'confirmed', ran({ path: 'a' }), {
      askedAt: 1000,
      answeredAt: 4500,
      asked: { kind: 'write', path: 'a', diff: '+x\n', isNew: true, summary: '' },
    });
    expect(fields).toEqual({ waitMs: 3500, detail: { answer: 'You allowed it.', diff: '+x\n' } });
    expect(
      storyOf(
        'run_command',
        'denied',
        { ok: false, error: { code: 'confirmation_denied', message: '' } },
        { askedAt: 1, answeredAt: 2 },
      ).detail?.answer,
    ).toBe('You denied it.');
    expect(
      storyOf(
        'run_command',
        'timeout',
        { ok: false, error: { code: 'confirmation_timeout', message: '' } },
        { askedAt: 1 },
      ).detail?.answer,
    ).toMatch(/Nobody answered/);
    expect(storyOf('write_file', 'remembered', ran({})).detail?.answer).toMatch(/approval you gave earlier/);
    // Nothing asked, nothing to tell.
    expect(storyOf('read_file', 'allowed', ran({ content: 'secret' }))).toEqual({});
  });

  it('prefers the diff an edit returns, and bounds it', () => {
    const long = 'x'.repeat(MAX_AUDIT_DIFF_CHARS + 10);
    const { detail } = storyOf('edit_file', 'allowed', ran({ diff: long }));
    expect(detail?.diff).toHaveLength(MAX_AUDIT_DIFF_CHARS);
    expect(detail?.diffTruncated).toBe(true);
  });
});
