import { describe, expect, it } from 'vitest';
import { seatbeltArgv, seatbeltProfile } from './seatbelt.js';

const plan = {
  root: '/Users/me/proj',
  tmpDir: '/private/var/folders/x/tether-cmd-1',
  hidden: [
    { path: '/Users/me/.ssh', kind: 'dir' as const },
    { path: '/Users/me/.netrc', kind: 'file' as const },
    { path: '/Users/me/Library/Application Support/Tether', kind: 'dir' as const },
  ],
  proxyPort: 51234,
};

describe('seatbeltProfile', () => {
  it('denies by default, reads all but the hidden places, writes only the workspace and its temp dir', () => {
    const p = seatbeltProfile(plan);
    expect(p.startsWith('(version 1)\n(deny default)\n')).toBe(true);
    expect(p).toContain('(allow file-read*)');
    expect(p).toContain(
      '(deny file-read* file-write* (subpath "/Users/me/.ssh") (literal "/Users/me/.netrc") (subpath "/Users/me/Library/Application Support/Tether"))',
    );
    // The deny comes after the allow: in Seatbelt the last matching rule wins.
    expect(p.indexOf('(deny file-read*')).toBeGreaterThan(p.indexOf('(allow file-read*)'));
    const writes = p.split('\n').filter((l) => l.startsWith('(allow file-write*'));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('(subpath "/Users/me/proj")');
    expect(writes[0]).toContain('(subpath "/private/var/folders/x/tether-cmd-1")');
    expect(writes[0]).not.toMatch(/subpath "\/Users\/me"\)/);
  });

  it('lets processes signal only their own sandbox', () => {
    expect(seatbeltProfile(plan)).toContain('(allow signal (target same-sandbox))');
    expect(seatbeltProfile(plan)).not.toMatch(/\(allow signal\)/);
  });

  it('allows the network only to the host proxy on loopback, never unix sockets', () => {
    const p = seatbeltProfile(plan);
    expect(p).toContain('(deny network* (remote unix-socket))');
    expect(p).toContain('(allow network-outbound (remote ip "localhost:51234"))');
    expect(p).not.toMatch(/\(allow network-outbound \(remote ip "\*/);
    expect(p).not.toMatch(/\(allow network\*\)/);
  });

  it('has no network at all without a proxy', () => {
    const p = seatbeltProfile({ ...plan, proxyPort: null });
    expect(p).toContain('(deny network*)');
    expect(p).not.toContain('network-outbound');
  });

  it('escapes quotes and backslashes in paths, so a folder name cannot add rules', () => {
    const p = seatbeltProfile({ ...plan, root: '/Users/me/a") (allow file-write* (subpath "/' });
    expect(p).toContain('(subpath "/Users/me/a\\") (allow file-write* (subpath \\"/")');
    expect(p.split('\n').filter((l) => l.startsWith('(allow file-write*'))).toHaveLength(1);
  });

  it('runs the command under /usr/bin/sandbox-exec with the profile', () => {
    expect(seatbeltArgv('(version 1)', ['/bin/sh', '-c', 'ls'])).toEqual([
      '/usr/bin/sandbox-exec',
      '-p',
      '(version 1)',
      '/bin/sh',
      '-c',
      'ls',
    ]);
  });
});
