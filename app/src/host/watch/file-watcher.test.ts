import { mkdir, mkdtemp, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppEvent, FileChange } from '@tether/shared';
import { FileWatcher, createIgnoreMatcher } from './file-watcher.js';

let base: string;
let root: string;
let watcher: FileWatcher | undefined;
let batches: Array<Extract<AppEvent, { kind: 'files' }>>;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tether-watch-')));
  root = join(base, 'root');
  await mkdir(join(root, 'src'), { recursive: true });
  await writeFile(join(root, 'src', 'old.ts'), 'old');
  batches = [];
});
afterEach(async () => {
  await watcher?.dispose();
  watcher = undefined;
  await rm(base, { recursive: true, force: true });
});

async function start(ignore: string[] = []): Promise<void> {
  watcher = new FileWatcher({ root, workspaceId: 'ws_a', ignore, onBatch: (e) => batches.push(e), batchMs: 50 });
  await watcher.ready;
}

function changes(): FileChange[] {
  return batches.flatMap((b) => b.changes);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(changes())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const has = (path: string, change: FileChange['change']) => (): boolean =>
  changes().some((c) => c.path === path && c.change === change);

describe('FileWatcher', () => {
  it('reports nothing for what was there before it started', async () => {
    await start();
    await writeFile(join(root, 'marker.txt'), 'x');
    await until(has('marker.txt', 'add'), 'the marker');
    await new Promise((r) => setTimeout(r, 200));
    // Only the new file (a `change` may follow its `add` in a later batch when the box is slow).
    expect([...new Set(changes().map((c) => c.path))]).toEqual(['marker.txt']);
  });

  it('reports a changed file as change and a deleted one as unlink', async () => {
    await start();
    await writeFile(join(root, 'src', 'old.ts'), 'new content');
    await until(has('src/old.ts', 'change'), 'the change');
    await rm(join(root, 'src', 'old.ts'));
    await until(has('src/old.ts', 'unlink'), 'the unlink');
  });

  it('reports files created inside a new nested folder at once', async () => {
    await start();
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    await writeFile(join(root, 'a', 'b', 'deep.ts'), 'x');
    await until(has('a/b/deep.ts', 'add'), 'the deep file');
    expect(changes()).toEqual(
      expect.arrayContaining([
        { path: 'a', change: 'addDir' },
        { path: 'a/b', change: 'addDir' },
      ]),
    );
    // A file written after the folder was watched is seen through the folder's watch.
    await writeFile(join(root, 'a', 'b', 'later.ts'), 'x');
    await until(has('a/b/later.ts', 'add'), 'the later file');
  });

  it('watches folders, not files, and skips ignored folders', async () => {
    await mkdir(join(root, '.git', 'objects'), { recursive: true });
    await mkdir(join(root, 'node_modules', 'dep'), { recursive: true });
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeFile(join(root, 'src', `f${i}.ts`), 'x')));
    await start();
    expect(watcher!.folderCount).toBe(2); // the root and src
  });

  it('reports a folder moved in with its files, and watches it', async () => {
    await mkdir(join(base, 'incoming', 'inner'), { recursive: true });
    await writeFile(join(base, 'incoming', 'inner', 'x.ts'), 'x');
    await start();
    await rename(join(base, 'incoming'), join(root, 'moved'));
    await until(has('moved/inner/x.ts', 'add'), 'the moved file');
    expect(changes()).toEqual(
      expect.arrayContaining([
        { path: 'moved', change: 'addDir' },
        { path: 'moved/inner', change: 'addDir' },
      ]),
    );
    await writeFile(join(root, 'moved', 'inner', 'y.ts'), 'y');
    await until(has('moved/inner/y.ts', 'add'), 'a file written into the moved folder');
  });

  it('reports a removed folder once, as unlinkDir', async () => {
    await mkdir(join(root, 'gone'));
    await start();
    await rm(join(root, 'gone'), { recursive: true });
    await until(has('gone', 'unlinkDir'), 'the unlinkDir');
    await new Promise((r) => setTimeout(r, 200));
    expect(changes().filter((c) => c.path === 'gone')).toEqual([{ path: 'gone', change: 'unlinkDir' }]);
    // The folder's own watch reports its removal under its own name: never as a child `gone/gone`.
    expect(changes().filter((c) => c.path.startsWith('gone/'))).toEqual([]);
    expect(watcher!.folderCount).toBe(2);
  });

  it('does not follow a link out of the root', async () => {
    await mkdir(join(base, 'outside'));
    await symlink(join(base, 'outside'), join(root, 'link'));
    await start();
    await writeFile(join(base, 'outside', 'secret.txt'), 'x');
    await writeFile(join(root, 'marker.txt'), 'x');
    await until(has('marker.txt', 'add'), 'the marker');
    await new Promise((r) => setTimeout(r, 200));
    expect(changes().filter((c) => c.path.includes('secret'))).toEqual([]);
  });

  it('stops reporting after dispose', async () => {
    await start();
    await watcher!.dispose();
    await writeFile(join(root, 'after.txt'), 'x');
    await new Promise((r) => setTimeout(r, 300));
    expect(changes()).toEqual([]);
  });
});

describe('createIgnoreMatcher', () => {
  it('ignores .git and node_modules at any depth, bare-name globs at any depth, and never the root', () => {
    const ignored = createIgnoreMatcher('/w', ['*.log', 'dist', 'build/out/**']);
    expect(ignored('/w')).toBe(false);
    expect(ignored('/w/.git')).toBe(true);
    expect(ignored('/w/pkg/node_modules/x/y.js')).toBe(true);
    expect(ignored('/w/a/debug.log')).toBe(true);
    expect(ignored('/w/dist')).toBe(true);
    expect(ignored('/w/pkg/dist')).toBe(true);
    expect(ignored('/w/build/out/a.js')).toBe(true);
    expect(ignored('/w/build/other.js')).toBe(false);
    expect(ignored('/w/src/index.ts')).toBe(false);
    expect(ignored('/w/.github/workflows/ci.yml')).toBe(false);
  });
});
