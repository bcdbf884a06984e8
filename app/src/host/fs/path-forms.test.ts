import { describe, expect, it } from 'vitest';
import { isInside, isWindowsDeviceName, relativeInside, splitWorkspacePath } from './path-forms.js';

const linux = { platform: 'linux' as const, caseInsensitive: false };
const mac = { platform: 'darwin' as const, caseInsensitive: true };
const win = { platform: 'win32' as const, caseInsensitive: true };

describe('splitWorkspacePath', () => {
  describe('on Linux', () => {
    it.each([
      ['a/b.txt', ['a', 'b.txt']],
      ['./a//b/./c', ['a', 'b', 'c']],
      ['a/../b', ['b']],
      ['.', []],
      ['~/x', ['~', 'x']],
      ['a\\b', ['a', 'b']],
      ['/ws/proj/src/a.ts', ['src', 'a.ts']],
      ['/ws/proj', []],
      ['CON', ['CON']],
      ['ab:c', ['ab:c']],
    ])('splits %j', (input, parts) => {
      expect(splitWorkspacePath(input, ['/ws/proj'], linux)).toEqual({ ok: true, parts });
    });

    it.each([
      ['..', 'outside'],
      ['a/../../b', 'outside'],
      ['/ws/proj-evil/a', 'outside'],
      ['/ws/proj/../proj-evil', 'outside'],
      ['/ws', 'outside'],
      ['/WS/PROJ/a', 'outside'],
      ['a\0b', 'nul_byte'],
      ['C:\\x', 'drive_path'],
      ['C:x', 'drive_path'],
      ['a:b', 'drive_path'],
      ['\\\\server\\share', 'unc_path'],
      ['//server/share', 'unc_path'],
      ['\\\\?\\C:\\x', 'device_namespace'],
      ['\\\\.\\COM1', 'device_namespace'],
      [`${'x'.repeat(256)}`, 'name_too_long'],
      ['file:///etc/passwd', 'url'],
      ['file:\\\\etc\\passwd', 'url'],
      ['https://example.com/x', 'url'],
    ])('refuses %j (%s)', (input, problem) => {
      expect(splitWorkspacePath(input, ['/ws/proj'], linux)).toEqual({ ok: false, problem });
    });

    it('accepts an absolute path under either the real root or the root as given', () => {
      expect(splitWorkspacePath('/link/src', ['/ws/proj', '/link'], linux)).toEqual({ ok: true, parts: ['src'] });
    });
  });

  describe('on a case-insensitive macOS volume', () => {
    it('folds case when checking absolute paths against the root', () => {
      expect(splitWorkspacePath('/WS/Proj/a', ['/ws/proj'], mac)).toEqual({ ok: true, parts: ['a'] });
      expect(splitWorkspacePath('/WS/Proj-Evil/a', ['/ws/proj'], mac)).toEqual({ ok: false, problem: 'outside' });
    });
  });

  describe('on Windows', () => {
    const root = ['C:\\Users\\me\\proj'];
    it.each([
      ['src\\a.ts', ['src', 'a.ts']],
      ['C:\\Users\\me\\proj\\src', ['src']],
      ['c:/users/ME/proj/src', ['src']],
    ])('accepts %j', (input, parts) => {
      expect(splitWorkspacePath(input, root, win)).toEqual({ ok: true, parts });
    });

    it.each([
      ['C:\\Users\\me\\proj-evil\\a', 'outside'],
      ['D:\\Users\\me\\proj\\a', 'outside'],
      ['C:..\\x', 'drive_path'],
      ['\\Windows\\x', 'drive_path'],
      ['CON', 'device_name'],
      ['src\\nul.txt', 'device_name'],
      ['com1', 'device_name'],
      ['LPT9.log', 'device_name'],
      ['CONIN$', 'device_name'],
      ['aux .txt', 'device_name'],
      ['file.txt:secret', 'alternate_stream'],
      ['name.', 'device_name'],
      ['name ', 'device_name'],
      ['\\\\?\\C:\\Users\\me\\proj\\a', 'device_namespace'],
      ['\\\\server\\share\\a', 'unc_path'],
    ])('refuses %j (%s)', (input, problem) => {
      expect(splitWorkspacePath(input, root, win)).toEqual({ ok: false, problem });
    });
  });
});

describe('relativeInside', () => {
  it('is not fooled by a sibling sharing the prefix', () => {
    expect(relativeInside('/x/ws-evil/a', '/x/ws', false)).toBeUndefined();
    expect(relativeInside('/x/ws/a/b', '/x/ws', false)).toBe('a/b');
    expect(relativeInside('/x/ws', '/x/ws/', false)).toBe('');
    expect(isInside('/x/WS/a', '/x/ws', false)).toBe(false);
    expect(relativeInside('/x/WS/a', '/x/ws', true)).toBe('a');
    expect(relativeInside('/anything', '/', false)).toBe('anything');
  });

  it('handles Windows roots with drive letters case-insensitively', () => {
    expect(relativeInside('c:\\users\\ME\\proj\\a', 'C:\\Users\\me\\proj', true)).toBe('a');
    expect(relativeInside('C:\\Users\\me\\project', 'C:\\Users\\me\\proj', true)).toBeUndefined();
  });
});

describe('isWindowsDeviceName', () => {
  it.each(['CON', 'con.txt', 'Nul', 'PRN.tar.gz', 'COM1', 'lpt3.c', 'AUX.', 'CON ', 'COM¹'])('knows %j', (name) => {
    expect(isWindowsDeviceName(name)).toBe(true);
  });
  it.each(['CONSOLE', 'icon', 'com10', 'aux_file', 'nully'])('lets %j pass', (name) => {
    expect(isWindowsDeviceName(name)).toBe(false);
  });
});
