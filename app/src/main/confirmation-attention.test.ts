import { describe, expect, it } from 'vitest';
import { ConfirmationAttention, confirmationNotification } from './confirmation-attention.js';
import { confirmation } from './test-fixtures.js';

const hidden = { visible: false, focused: false };
const background = { visible: true, focused: false };
const focused = { visible: true, focused: true };

describe('ConfirmationAttention', () => {
  describe('update', () => {
    it('notifies and brings the window forward when a confirmation arrives while it is hidden', () => {
      const attention = new ConfirmationAttention();
      const c1 = confirmation('c1');
      expect(attention.update([c1], hidden)).toEqual({ notify: [c1], bringForward: true, releaseOnTop: false });
    });

    it('notifies when the window is visible but in the background', () => {
      const attention = new ConfirmationAttention();
      expect(attention.update([confirmation('c1')], background).notify).toHaveLength(1);
    });

    it('does not notify when the person is looking at the window, but still keeps it on top', () => {
      const attention = new ConfirmationAttention();
      expect(attention.update([confirmation('c1')], focused)).toEqual({
        notify: [],
        bringForward: true,
        releaseOnTop: false,
      });
    });

    it('announces each confirmation once, however often the state changes', () => {
      const attention = new ConfirmationAttention();
      const c1 = confirmation('c1');
      const c2 = confirmation('c2');
      attention.update([c1], hidden);
      expect(attention.update([c1], hidden)).toEqual({ notify: [], bringForward: false, releaseOnTop: false });
      expect(attention.update([c1, c2], hidden).notify).toEqual([c2]);
    });

    it('releases always-on-top once nothing is pending, and only once', () => {
      const attention = new ConfirmationAttention();
      attention.update([confirmation('c1')], focused);
      expect(attention.update([], focused).releaseOnTop).toBe(true);
      expect(attention.update([], focused).releaseOnTop).toBe(false);
    });

    it('never releases what it did not raise', () => {
      expect(new ConfirmationAttention().update([], hidden)).toEqual({
        notify: [],
        bringForward: false,
        releaseOnTop: false,
      });
    });
  });
});

describe('confirmationNotification', () => {
  it('names the workspace, tool, caller and command of a shell call', () => {
    expect(confirmationNotification(confirmation('c1'))).toEqual({
      title: 'proj: run_command needs your OK',
      body: 'agent-stage-2 asks: Run `npm test` in .',
    });
  });

  it('names the file of a write', () => {
    const c = confirmation('c1', {
      tool: 'write_file',
      category: 'write',
      detail: { kind: 'write', path: 'src/a.ts', diff: '', isNew: true, summary: '+3 lines' },
    });
    expect(confirmationNotification(c).body).toBe('agent-stage-2 asks: Create src/a.ts: +3 lines');
  });

  it('shows bidi and control characters from the platform as escapes', () => {
    const c = confirmation('c1', {
      caller: 'agent\u202e',
      detail: { kind: 'shell', command: 'echo \u202e; rm -rf ~\u001b[2K', cwd: '.' },
    });
    const { title, body } = confirmationNotification(c);
    expect(body).toBe('agent\\u202e asks: Run `echo \\u202e; rm -rf ~\\x1b[2K` in .');
    // eslint-disable-next-line no-control-regex -- the point is that no raw control character is left
    expect(title + body).not.toMatch(/[\u202e\u001b]/);
  });

  it('cuts a huge command to the notification limit', () => {
    const c = confirmation('c1', { detail: { kind: 'shell', command: 'x'.repeat(10_000), cwd: '.' } });
    expect(confirmationNotification(c).body.length).toBeLessThanOrEqual(500);
  });
});
