// list_dir of a folder of ENTRIES (100,000) files through the real tool (createFsTools().list_dir:
// path guard, pinned folder, streamed read up to MAX_LIST_ENTRIES names, their lstat), one call
// alone and CONCURRENT at once, beside, in the same run, what list_dir did before on the same
// folder: fs.promises.readdir of every name, then an lstat of each (32 at a time, as the walker
// does). Measured: the time of one call, of the concurrent ones, and the RSS this process holds
// after them (after a GC when --expose-gc is given). Times swing with the machine's load (the
// lstats wait on the thread pool): compare with the reference of the same run.
// Before list_dir streamed the folder it read and stat'ed all 100,000 entries: ~2 s and ~150 MB
// a call, and 8 at once left 1.2 GB held.
// Target: one call ≤ 1/4 of the read-and-stat-everything reference; RSS growth after CONCURRENT
// calls ≤ 100 MB.
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createFsTools } from '../app/dist/host/fs/fs-tools.js';
import { PathGuard } from '../app/dist/host/fs/path-guard.js';
import { listDirArgs } from '../shared/dist/index.js';
import { hardDeadline, printResult, round, tempDir } from './lib/bench-util.mjs';

const ENTRIES = Number(process.env.BENCH_LIST_ENTRIES ?? 100_000);
const CONCURRENT = 8;
const TARGET_CALL_SHARE = 0.25;
const TARGET_GROWTH_MB = 100;
const BUDGET_MS = 5 * 60_000;

const cancelDeadline = hardDeadline(BUDGET_MS);
const ws = await tempDir('tether-bench-list-');
const rss = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss / 1048576;
};
try {
  const big = join(ws.dir, 'big');
  await mkdir(big);
  for (let i = 0; i < ENTRIES; i += 1000)
    await Promise.all(Array.from({ length: 1000 }, (_, j) => writeFile(join(big, `file-${i + j}.txt`), '')));
  const guard = await PathGuard.open(ws.dir);
  const tools = createFsTools();
  const ctx = {
    workspace: { id: 'bench', name: 'bench', root: guard.root },
    guard,
    signal: new AbortController().signal,
    callId: 'bench',
    onOutput: () => true,
    whenDrained: () => Promise.resolve(),
  };
  const args = listDirArgs.parse({ path: 'big' });

  let t = performance.now();
  const names = await readdir(big);
  for (let i = 0; i < names.length; i += 32) await Promise.all(names.slice(i, i + 32).map((n) => lstat(join(big, n))));
  const everythingMs = performance.now() - t;

  const before = rss();
  t = performance.now();
  const one = await tools.list_dir(args, ctx);
  const oneMs = performance.now() - t;
  t = performance.now();
  const many = await Promise.all(Array.from({ length: CONCURRENT }, () => tools.list_dir(args, ctx)));
  const manyMs = performance.now() - t;
  const held = [one, ...many]; // kept alive while weighed, as results waiting to be sent would be
  const growthMb = rss() - before;
  console.error(
    `list_dir of ${ENTRIES} entries: ${round(oneMs)} ms (${one.entries.length} listed, truncated ${one.truncated}); ` +
      `${CONCURRENT} at once ${round(manyMs)} ms; RSS +${round(growthMb)} MB; readdir and lstat of every entry ${round(everythingMs)} ms`,
  );
  void held;
  printResult({
    name: 'host-list',
    figures: { callMs: round(oneMs), concurrentMs: round(manyMs), rssGrowthMb: round(growthMb) },
    reference: { readAndStatAllMs: round(everythingMs) },
    targets: { callMs: `≤ ${TARGET_CALL_SHARE} × reference`, rssGrowthMb: `≤ ${TARGET_GROWTH_MB}` },
    met: { callMs: oneMs <= TARGET_CALL_SHARE * everythingMs, rssGrowthMb: growthMb <= TARGET_GROWTH_MB },
    setup: { entries: ENTRIES, concurrent: CONCURRENT, listed: one.entries.length },
  });
} finally {
  cancelDeadline();
  await ws.dispose();
}
