// Workspace watching at scale: how long until a workspace of 100,000 files is watched (initial
// scan done, changes reported) and how much memory that takes, against a bare chokidar watch of
// the same tree in the same run (the usual Node watcher; the host uses its own folder-level one,
// see app/src/host/watch/folder-tree-watcher.ts).
//
// The tree is generated once (FILES files in DIRS folders, three levels deep, plus a .git and a
// node_modules folder of IGNORED_FILES files that both must skip or pay for). Each measurement
// runs in its own child process (this file, forked with `worker`) so heaps do not mix:
//  - reference: `chokidar.watch(root, { ignoreInitial: true })` with a `.git`/`node_modules`
//    ignore function, until 'ready';
//  - tether: ConfigStore + WorkspaceSet.open + add(root) (realpath, path guard, the self-check
//    through the real fs tools, the config write) until the workspace's watcher is ready.
// Then both prove they watch: one file is written and the change must arrive. Ready time is
// wall-clock; RSS is read after ready (after a full GC) and as the process's peak (maxRSS).
// Targets (issue 3): ready ≤ 15 s, peak RSS ≤ 300 MB. The tree is deleted afterwards.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hardDeadline, printResult, round } from './lib/bench-util.mjs';

/** Files in the watched tree (issue 3). */
const FILES = Number(process.env.BENCH_WATCH_FILES ?? 100_000);
/** Folders: 20 top-level × 10 × 5 = 1,000 leaf folders of 100 files each (a large monorepo's shape). */
const TOP = 20;
const MID = 10;
const LEAF = 5;
/** Files under .git and node_modules that must not cost anything. */
const IGNORED_FILES = 10_000;
const TARGET_READY_S = 15;
const TARGET_RSS_MB = 300;
const BUDGET_MS = 15 * 60_000;
/** How long a proof-of-watching change may take to arrive. */
const CHANGE_TIMEOUT_MS = 20_000;

if (process.argv[2] === 'worker') {
  await worker(process.argv[3], process.argv[4]);
} else {
  await main();
}

async function main() {
  const children = new Set();
  const base = await mkdtemp(join(tmpdir(), 'tether-bench-watch-'));
  const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
    for (const c of children) c.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  });
  try {
    const root = join(base, 'tree');
    const genStart = performance.now();
    generateTree(root);
    const generateSeconds = (performance.now() - genStart) / 1000;

    const run = (mode) =>
      new Promise((resolve, reject) => {
        const child = fork(fileURLToPath(import.meta.url), ['worker', mode, root], {
          execArgv: ['--expose-gc'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.add(child);
        let result = null;
        child.on('message', (m) => (result = m));
        child.on('exit', (code) => {
          children.delete(child);
          if (result?.error) reject(new Error(`${mode}: ${result.error}`));
          else if (code !== 0 || !result) reject(new Error(`${mode} worker exited ${code} without a result`));
          else resolve(result);
        });
      });

    // The first walk warms the page cache for both; measure the reference again after tether so
    // neither side is the only one to pay for a cold cache.
    const warmup = await run('bare');
    const tether = await run('tether');
    const bare = await run('bare');
    const met = { readySeconds: tether.readySeconds <= TARGET_READY_S, peakRssMB: tether.peakRssMB <= TARGET_RSS_MB };
    printResult({
      name: 'host-watch',
      figures: {
        readySeconds: round(tether.readySeconds),
        rssAfterReadyMB: round(tether.rssMB),
        peakRssMB: round(tether.peakRssMB),
        changeSeenMs: round(tether.changeMs),
        readyRatio: round(tether.readySeconds / bare.readySeconds),
        rssRatio: round(tether.rssMB / bare.rssMB),
      },
      reference: {
        readySeconds: round(bare.readySeconds),
        rssAfterReadyMB: round(bare.rssMB),
        peakRssMB: round(bare.peakRssMB),
        changeSeenMs: round(bare.changeMs),
        coldReadySeconds: round(warmup.readySeconds),
      },
      targets: { readySeconds: `≤ ${TARGET_READY_S}`, peakRssMB: `≤ ${TARGET_RSS_MB}` },
      met,
      setup: {
        files: FILES,
        folders: TOP * MID * LEAF + TOP * MID + TOP,
        ignoredFiles: IGNORED_FILES,
        generateSeconds: round(generateSeconds),
      },
    });
  } finally {
    cancelDeadline();
    for (const c of children) c.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  }
}

/** Writes the tree synchronously (a script, not a request path): fastest for many tiny files. */
function generateTree(root) {
  const leaves = TOP * MID * LEAF;
  const perLeaf = Math.ceil(FILES / leaves);
  let written = 0;
  for (let a = 0; a < TOP; a++) {
    for (let b = 0; b < MID; b++) {
      for (let c = 0; c < LEAF; c++) {
        const dir = join(root, `pkg${a}`, `mod${b}`, `dir${c}`);
        mkdirSync(dir, { recursive: true });
        for (let f = 0; f < perLeaf && written < FILES; f++, written++)
          writeFileSync(join(dir, `file${f}.ts`), `export const v${f} = ${f};\n`);
      }
    }
  }
  for (const ignored of ['.git/objects', 'node_modules/dep']) {
    for (let d = 0; d < 10; d++) {
      const dir = join(root, ignored, `d${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < IGNORED_FILES / 20; f++) writeFileSync(join(dir, `o${f}`), 'x');
    }
  }
}

/** One measurement in a fresh process; sends { readySeconds, rssMB, peakRssMB, changeMs }. */
async function worker(mode, root) {
  try {
    const probe = join(root, 'pkg0', 'mod0', 'dir0', `probe-${mode}.ts`);
    let onChange = () => undefined;
    let dispose;
    const started = performance.now();
    if (mode === 'bare') {
      const { watch } = await import('chokidar');
      const watcher = watch(root, {
        ignoreInitial: true,
        ignored: (p) => /[/\\](\.git|node_modules)([/\\]|$)/.test(p),
      });
      await new Promise((resolve) => watcher.once('ready', resolve));
      watcher.on('all', (_event, p) => p === probe && onChange());
      dispose = () => watcher.close();
    } else {
      const appHost = new URL('../app/dist/host/', import.meta.url);
      const { ConfigStore } = await import(new URL('config/config-store.js', appHost).href);
      const { WorkspaceSet } = await import(new URL('workspaces/workspace-set.js', appHost).href);
      const configDir = await mkdtemp(join(tmpdir(), 'tether-bench-watch-cfg-'));
      const set = await WorkspaceSet.open(await ConfigStore.open(configDir));
      const runtime = await set.add({ root });
      await runtime.whenWatching();
      if (runtime.state !== 'running') throw new Error(`workspace is ${runtime.state}: ${runtime.reason}`);
      set.on('files', (e) => e.changes.some((c) => c.path === 'pkg0/mod0/dir0/' + `probe-${mode}.ts`) && onChange());
      dispose = async () => {
        await set.dispose();
        await rm(configDir, { recursive: true, force: true });
      };
    }
    const readySeconds = (performance.now() - started) / 1000;
    globalThis.gc?.();
    const rssMB = process.memoryUsage().rss / 1024 / 1024;
    const peakRssMB = process.resourceUsage().maxRSS / 1024;

    const seen = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the probe change never arrived')), CHANGE_TIMEOUT_MS);
      onChange = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const changeStart = performance.now();
    await writeFile(probe, 'probe\n');
    await seen;
    const changeMs = performance.now() - changeStart;
    await dispose();
    process.send({ readySeconds, rssMB, peakRssMB, changeMs }, () => process.exit(0));
  } catch (err) {
    // Exit even with watchers still open: the parent only needs the message.
    process.send({ error: String(err?.stack ?? err) }, () => process.exit(1));
  }
}
