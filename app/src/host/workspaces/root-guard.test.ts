import { describe, expect, it } from 'vitest';
import { TetherError } from '@tether/shared';
import { absoluteRootOf, checkRootIsSafe, overlapsOf, type RootGuardContext } from './root-guard.js';

const linux: RootGuardContext = { home: '/home/ana', platform: 'linux', protectedPaths: ['/home/ana/.config/tether'] };
const mac: RootGuardContext = { home: '/Users/ana', platform: 'darwin' };
const windows: RootGuardContext = { home: 'C:\\Users\\ana', platform: 'win32' };

function reasonOf(root: string, context: RootGuardContext): string | null {
  try {
    checkRootIsSafe(root, context);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(TetherError);
    expect((err as TetherError).code).toBe('unsafe_workspace_root');
    return (err as TetherError).details?.reason as string;
  }
}

describe('absoluteRootOf', () => {
  it('expands ~ and ~/ to the home folder', () => {
    expect(absoluteRootOf('~', linux)).toBe('/home/ana');
    expect(absoluteRootOf('~/projects/site', linux)).toBe('/home/ana/projects/site');
    expect(absoluteRootOf(' /srv/site/ ', linux)).toBe('/srv/site/');
    expect(absoluteRootOf('~\\code', windows)).toBe('C:\\Users\\ana\\code');
  });

  it('refuses a relative path with invalid_args rather than resolving it against the host', () => {
    for (const input of ['proj', './proj', '../proj', '~ana/x']) {
      expect(() => absoluteRootOf(input, linux)).toThrow(expect.objectContaining({ code: 'invalid_args' }));
    }
    expect(() => absoluteRootOf('\\proj', windows)).toThrow(expect.objectContaining({ code: 'invalid_args' }));
    expect(() => absoluteRootOf('C:proj', windows)).toThrow(expect.objectContaining({ code: 'invalid_args' }));
    expect(absoluteRootOf('D:\\work\\site', windows)).toBe('D:\\work\\site');
  });
});

describe('checkRootIsSafe', () => {
  it('refuses the whole disk, the home folder and what holds it', () => {
    expect(reasonOf('/', linux)).toBe('root');
    expect(reasonOf('/home/ana', linux)).toBe('home');
    expect(reasonOf('/home/ana/', linux)).toBe('home');
    expect(reasonOf('/home', linux)).toBe('home');
    expect(reasonOf('/Users', mac)).toBe('home');
    expect(reasonOf('/users/ANA', mac)).toBe('home'); // APFS folds case
    expect(reasonOf('C:\\', windows)).toBe('root');
    expect(reasonOf('c:\\users\\ana', windows)).toBe('home');
    expect(reasonOf('C:\\Users', windows)).toBe('home');
  });

  it("refuses system folders and what is inside the system's own trees", () => {
    for (const root of ['/etc', '/etc/nginx', '/usr', '/bin', '/var', '/proc/1', '/boot'])
      expect(reasonOf(root, linux), root).toBe('system');
    for (const root of ['/System', '/System/Library', '/Library', '/Applications', '/private/etc'])
      expect(reasonOf(root, mac), root).toBe('system');
    for (const root of ['C:\\Windows', 'c:\\windows\\System32', 'C:\\Program Files'])
      expect(reasonOf(root, windows), root).toBe('system');
  });

  it("refuses Tether's own config and a folder holding it", () => {
    expect(reasonOf('/home/ana/.config', linux)).toBe('tether');
    expect(reasonOf('/home/ana/.config/tether/x', linux)).toBe('tether');
  });

  it('lets project folders through, also under /var, /usr/local and /opt', () => {
    for (const root of [
      '/home/ana/projects/site',
      '/var/www/site',
      '/usr/local/src/app',
      '/opt/app',
      '/tmp/x',
      '/homework',
    ])
      expect(reasonOf(root, linux), root).toBeNull();
    expect(reasonOf('/Users/ana/code', mac)).toBeNull();
    expect(reasonOf('D:\\work', windows)).toBeNull();
    expect(reasonOf('C:\\Users\\ana\\code', windows)).toBeNull();
  });

  it('names the way to add one anyway in its message', () => {
    expect(() => checkRootIsSafe('/', linux)).toThrow(/--allow-any-folder/);
  });
});

describe('overlapsOf', () => {
  const others = [
    { id: 'ws_a', name: 'site', root: '/home/ana/site' },
    { id: 'ws_b', name: 'docs', root: '/home/ana/all/docs' },
  ];
  it('finds workspaces the folder is inside of or holds, not siblings with a common prefix', () => {
    expect(overlapsOf('/home/ana/site/blog', others, 'linux')).toEqual([
      expect.objectContaining({ workspaceId: 'ws_a', relation: 'inside' }),
    ]);
    expect(overlapsOf('/home/ana/all', others, 'linux')).toEqual([
      expect.objectContaining({ workspaceId: 'ws_b', relation: 'around' }),
    ]);
    expect(overlapsOf('/home/ana/site-evil', others, 'linux')).toEqual([]);
  });
});
