import { describe, expect, it } from 'vitest';
import { HeadTailCapture, OutputBatcher, utf8Head, utf8Tail } from './output-capture.js';

describe('utf8Head', () => {
  it('cuts on a character boundary, never inside one', () => {
    expect(utf8Head('aé€😀', 1)).toBe('a');
    expect(utf8Head('aé€😀', 2)).toBe('a'); // é is two bytes
    expect(utf8Head('aé€😀', 3)).toBe('aé');
    expect(utf8Head('aé€😀', 9)).toBe('aé€'); // 😀 is four bytes
    expect(utf8Head('aé€😀', 10)).toBe('aé€😀');
  });
});

describe('utf8Tail', () => {
  it('cuts on a character boundary, never inside one', () => {
    expect(utf8Tail('aé€😀', 4)).toBe('😀');
    expect(utf8Tail('aé€😀', 6)).toBe('😀');
    expect(utf8Tail('aé€😀', 7)).toBe('€😀');
    expect(utf8Tail('abc', 10)).toBe('abc');
  });
});

describe('HeadTailCapture', () => {
  describe('result', () => {
    it('returns everything when it fits', () => {
      const c = new HeadTailCapture(10, 10);
      for (const chunk of ['abc', 'def', 'ghij', 'klmnop']) c.push(chunk);
      expect(c.result()).toEqual({ output: 'abcdefghijklmnop', truncated: false });
    });

    it('keeps head and tail with a marker naming the omitted bytes', () => {
      const c = new HeadTailCapture(4, 3);
      for (const chunk of ['ab', 'cdef', 'ghi', 'jk', 'lmn']) c.push(chunk);
      expect(c.result()).toEqual({ output: 'abcd\r\n[… 7 bytes of output omitted …]\r\nlmn', truncated: true });
      expect(c.totalBytes).toBe(14);
    });

    it('does not let later small chunks into a head that overflowed', () => {
      const c = new HeadTailCapture(4, 2);
      c.push('abc');
      c.push('€€'); // 6 bytes: does not fit in the 1 byte left
      c.push('x');
      c.push('y');
      const { output } = c.result();
      expect(output.startsWith('abc\r\n')).toBe(true);
      expect(output.endsWith('xy')).toBe(true);
    });

    it('never splits a multi-byte character at either cut', () => {
      const c = new HeadTailCapture(5, 5);
      c.push('€'.repeat(100));
      const { output } = c.result();
      expect(output).not.toContain('\ufffd');
      expect(output.startsWith('€\r\n')).toBe(true);
      expect(output.endsWith('\r\n€')).toBe(true);
    });
  });
});

describe('OutputBatcher', () => {
  describe('push', () => {
    it('emits one batch after the interval for many small chunks', async () => {
      const batches: string[] = [];
      const b = new OutputBatcher(10, 1000, (s) => batches.push(s));
      for (let i = 0; i < 50; i++) b.push('x');
      expect(batches).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
      expect(batches).toEqual(['x'.repeat(50)]);
      b.dispose();
    });

    it('emits at once when the batch reaches the byte cap', () => {
      const batches: string[] = [];
      const b = new OutputBatcher(10_000, 4, (s) => batches.push(s));
      b.push('ab');
      b.push('cd');
      expect(batches).toEqual(['abcd']);
      b.push('e');
      b.dispose();
      expect(batches).toEqual(['abcd', 'e']);
    });
  });
});
