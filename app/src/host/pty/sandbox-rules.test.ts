import { mkdtemp, rm, symlink, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boundSocketPaths, existingHiddenPaths, hiddenPathCandidates, SECRET_HOME_PATHS } from './sandbox-rules.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('hiddenPathCandidates', () => {
  it('names the secret places, the extras, the config dir and the other workspaces not inside this one', () => {
    const list = hiddenPathCandidates(
      { hidePaths: ['.secrets', '/etc/shadow-copy'], otherRoots: ['/w/other', '/w/proj/nested', '/w'] },
      '/home/me',
      '/home/me/.config/tether',
      '/w/proj',
    );
    for (const p of ['.ssh', '.aws', '.gnupg', '.config/gcloud', '.kube', '.docker', '.netrc', '.npmrc', '.pypirc']) {
      expect(SECRET_HOME_PATHS).toContain(p);
      expect(list).toContain(`/home/me/${p}`);
    }
    expect(list).toContain('/home/me/.bash_history');
    expect(list).toContain('/home/me/.mozilla');
    expect(list).toContain('/home/me/.secrets');
    expect(list).toContain('/etc/shadow-copy');
    expect(list).toContain('/home/me/.config/tether');
    expect(list).toContain('/w/other');
    // An enclosing workspace is covered (the launcher binds this one back on top); a nested one is this one's files.
    expect(list).toContain('/w');
    expect(list).not.toContain('/w/proj/nested');
  });
});

describe('existingHiddenPaths', () => {
  it('keeps what exists, by real path and kind, each once', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-rules-'));
    await mkdir(path.join(dir, 'real-ssh'));
    await symlink(path.join(dir, 'real-ssh'), path.join(dir, '.ssh'));
    await writeFile(path.join(dir, '.netrc'), 'x');
    const found = await existingHiddenPaths([
      path.join(dir, '.ssh'),
      path.join(dir, 'real-ssh'),
      path.join(dir, '.netrc'),
      path.join(dir, 'missing'),
    ]);
    expect(found).toEqual([
      { path: path.join(dir, 'real-ssh'), kind: 'dir' },
      { path: path.join(dir, '.netrc'), kind: 'file' },
    ]);
  });
});

describe('boundSocketPaths', () => {
  it('lists path sockets outside the sandbox’s private folders, paths with spaces included', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-rules-'));
    const file = path.join(dir, 'unix');
    await writeFile(
      file,
      [
        'Num       RefCount Protocol Flags    Type St Inode Path',
        '0000000000000000: 00000002 00000000 00010000 0001 01 20 /home/me/.docker/run/docker.sock',
        '0000000000000000: 00000002 00000000 00010000 0001 01 21 /run/user/1000/bus',
        '0000000000000000: 00000002 00000000 00010000 0001 01 22 @/tmp/.X11-unix/X0',
        '0000000000000000: 00000002 00000000 00010000 0001 01 23 /var/lib/my app/agent.sock',
        '0000000000000000: 00000003 00000000 00000000 0001 03 24',
        '0000000000000000: 00000002 00000000 00010000 0001 01 25 /tmp/.X11-unix/X0',
        '',
      ].join('\n'),
    );
    expect(await boundSocketPaths(file)).toEqual(['/home/me/.docker/run/docker.sock', '/var/lib/my app/agent.sock']);
  });

  it('is empty where there is no /proc/net/unix', async () => {
    expect(await boundSocketPaths('/nonexistent/proc/net/unix')).toEqual([]);
  });
});
