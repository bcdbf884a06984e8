import { describe, expect, it } from 'vitest';
import { printable } from './index.js';

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
