import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderTreeWatcher } from './folder-tree-watcher.js';

let root: string;
let watcher: FolderTreeWatcher | undefined;

beforeEach(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'tether-tree-')));
});
afterEach(async () => {
  watcher?.dispose();
  watcher = undefined;
  await rm(root, { recursive: true, force: true });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('FolderTreeWatcher', () => {
  it('leaves no watch behind when disposed while its scan is under way', async () => {
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    watcher = new FolderTreeWatcher({
      root,
      ignored: () => false,
      onChange: () => undefined,
      onTrouble: () => undefined,
    });
    watcher.dispose(); // the scan is waiting for its first folder to open
    await watcher.ready;
    expect(watcher.folderCount).toBe(0);
  });

  it('watches every folder of a deep tree once, and none of its files', async () => {
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 4; b++) {
        await mkdir(join(root, `a${a}`, `b${b}`), { recursive: true });
        await writeFile(join(root, `a${a}`, `b${b}`, 'f.txt'), 'x');
      }
    }
    watcher = new FolderTreeWatcher({
      root,
      ignored: () => false,
      onChange: () => undefined,
      onTrouble: () => undefined,
    });
    await watcher.ready;
    expect(watcher.folderCount).toBe(1 + 5 + 5 * 4);
  });

  it('counts events past the pending cap as dropped instead of queueing them without bound', async () => {
    const seen = new Set<string>();
    let dropped = 0;
    watcher = new FolderTreeWatcher({
      root,
      ignored: () => false,
      onChange: (path) => seen.add(path),
      onTrouble: () => undefined,
      onDropped: () => dropped++,
      maxPendingEvents: 5,
    });
    await watcher.ready;
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(root, `f${i}.txt`), 'x')));
    // Every file ends up either reported or counted as dropped (polled: on a loaded machine the
    // last lstats can take far longer than any fixed wait).
    await until(() => dropped > 0 && seen.size + dropped >= n, 'every file reported or counted as dropped');
    expect(seen.size).toBeLessThan(n);
    expect(seen.size + dropped).toBeGreaterThanOrEqual(n);
  });

  it('matches a name against the ignore globs once while its events wait, however many arrive', async () => {
    let matched = 0;
    const seen = new Set<string>();
    watcher = new FolderTreeWatcher({
      root,
      ignored: () => {
        matched++;
        return false;
      },
      onChange: (path) => seen.add(path),
      onTrouble: () => undefined,
    });
    await watcher.ready;
    matched = 0;
    const [a, b] = [join(root, 'a.txt'), join(root, 'b.txt')];
    writeFileSync(a, 'x');
    // 4,000 events on two names, all queued before the watch reads any (renames in one turn).
    for (let i = 0; i < 1000; i++) {
      renameSync(a, b);
      renameSync(b, a);
    }
    await until(() => seen.has(a), 'the file reported');
    expect(matched).toBeLessThan(100);
  });

  it('tells its owner when the root itself is removed', async () => {
    let trouble = 0;
    watcher = new FolderTreeWatcher({
      root,
      ignored: () => false,
      onChange: () => undefined,
      onTrouble: () => trouble++,
    });
    await watcher.ready;
    await rm(root, { recursive: true });
    await until(() => trouble > 0, 'the trouble report');
  });
});
