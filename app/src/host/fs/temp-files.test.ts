import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LIST_ENTRIES } from '@tether/shared';
import { disposeSearchWorkers } from '../search/search-worker-pool.js';
import { FileWatcher, STALE_TEMP_FILE_MS } from '../watch/file-watcher.js';
import { isTetherTemp, tempName } from './atomic-write.js';
import { fsSandbox, type FsSandbox } from './test-fixtures.js';

let sb: FsSandbox;
let watcher: FileWatcher | undefined;
beforeEach(async () => {
  sb = await fsSandbox();
});
afterEach(async () => {
  await watcher?.dispose();
  watcher = undefined;
  await sb.remove();
});
afterAll(() => disposeSearchWorkers());

/** A temp file as a write_file killed mid-way leaves it, `ageMs` old. */
async function leftTemp(dir: string, ageMs: number): Promise<string> {
  const name = tempName();
  const abs = path.join(sb.root, dir, name);
  await mkdir(path.dirname(abs), { recursive: true });
  await writeFile(abs, 'needle half written');
  const when = (Date.now() - ageMs) / 1000;
  await utimes(abs, when, when);
  return name;
}

describe('temp files of atomic writes', () => {
  it('are recognised by name only when they are exactly ours', () => {
    expect(isTetherTemp(tempName())).toBe(true);
    for (const other of [
      '.tether-0123.tmp',
      'tether-0123456789abcdef.tmp',
      '.tether-0123456789ABCDEF.tmp',
      '.tether-0123456789abcdef.tmp.bak',
    ])
      expect(isTetherTemp(other)).toBe(false);
  });

  it('are hidden from list_dir, glob and search (both engines)', async () => {
    await writeFile(path.join(sb.root, 'notes.txt'), 'needle');
    const name = await leftTemp('src', 0);
    const listed = await sb.call('list_dir', { depth: 3, includeHidden: true, respectGitignore: false });
    expect(listed.ok && listed.value.entries.map((e) => e.path)).toEqual(['notes.txt', 'src']);
    const globbed = await sb.call('glob', { pattern: '**/*.tmp' });
    expect(globbed.ok && globbed.value.matches).toEqual([]);
    for (const engine of ['js', 'ripgrep'] as const) {
      const tools = await fsSandbox({ searchEngine: engine });
      try {
        await writeFile(path.join(tools.root, 'notes.txt'), 'needle');
        await mkdir(path.join(tools.root, 'src'));
        await writeFile(path.join(tools.root, 'src', name), 'needle half written');
        const found = await tools.call('search', { pattern: 'needle', glob: '**' });
        expect(found.ok && found.value.matches.map((m) => m.path)).toEqual(['notes.txt']);
      } finally {
        await tools.remove();
      }
    }
  });

  it('are removed at start when old, kept when recent, and never reported as changes', async () => {
    const old = await leftTemp('a/b', STALE_TEMP_FILE_MS + 60_000);
    const recent = await leftTemp('a', 1_000);
    const batches: unknown[] = [];
    watcher = new FileWatcher({ root: sb.root, workspaceId: 'ws', onBatch: (b) => batches.push(b), batchMs: 20 });
    await watcher.ready;
    const gone = async () => !(await readdir(path.join(sb.root, 'a', 'b'))).includes(old);
    for (const end = Date.now() + 10_000; !(await gone());) {
      if (Date.now() > end) throw new Error('the stale temp file was not removed');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await stat(path.join(sb.root, 'a', recent))).isFile()).toBe(true);
    await writeFile(path.join(sb.root, 'a', tempName()), 'a write in progress');
    await writeFile(path.join(sb.root, 'a', 'real.txt'), 'x');
    for (const end = Date.now() + 10_000; batches.length === 0;) {
      if (Date.now() > end) throw new Error('no batch');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    const paths = (batches as Array<{ changes: Array<{ path: string }> }>).flatMap((b) => b.changes.map((c) => c.path));
    expect(paths.every((p) => !isTetherTemp(path.basename(p)))).toBe(true);
    expect(paths).toContain('a/real.txt');
  });
});

describe('list_dir of a huge folder', () => {
  it(`reads at most ${MAX_LIST_ENTRIES} names of it, sorted, and says it is truncated`, async () => {
    const big = path.join(sb.root, 'big');
    await mkdir(big);
    const total = MAX_LIST_ENTRIES + 500;
    for (let i = 0; i < total; i += 500)
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => writeFile(path.join(big, `f${String(i + j).padStart(6, '0')}`), '')),
      );
    await leftTemp('big', 0);
    const r = await sb.call('list_dir', { path: 'big' });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.truncated).toBe(true);
    expect(r.value.entries).toHaveLength(MAX_LIST_ENTRIES);
    const names = r.value.entries.map((e) => e.path);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(MAX_LIST_ENTRIES);
    // A folder under the cap is listed whole, as before.
    const small = await sb.call('list_dir', {});
    expect(small.ok && small.value).toMatchObject({ truncated: false, entries: [{ path: 'big', type: 'dir' }] });
  });
});
