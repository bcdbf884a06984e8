// search over a generated tree of 50,000 files, through the real tool with both engines
// (createFsTools({ searchEngine }).search: path guard, .gitignore chain, walk or rg spawn, JSON
// stream, context collection), beside ripgrep run directly in the same run:
//   - reference `rgDirect`: `rg` with exactly the arguments the ripgrep engine passes (sorted,
//     --json), output read to the end and discarded: the floor for the same job;
//   - reference `rgPlain`: `rg -F` unsorted, multi-threaded, plain output (ripgrep at its fastest).
// Two queries: a literal found in no file (every file read to the end) and one found in ~1% of
// the files (500 matches, under the 5000 maxResults so the whole tree is still searched).
// Runs are interleaved (engines and references in turn) so machine load hits all alike; medians.
// Target (issue 3): each engine's median ≤ 2× rgDirect's.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createFsTools } from '../app/dist/host/fs/fs-tools.js';
import { PathGuard } from '../app/dist/host/fs/path-guard.js';
import { ripgrepArgs } from '../app/dist/host/search/ripgrep-search.js';
import { searchArgs } from '../shared/dist/index.js';
import { hardDeadline, printResult, quantile, round, tempDir } from './lib/bench-util.mjs';

/** Files in the tree (issue 3: 50,000): 50 top folders × 20 sub-folders × 50 files. */
const FILES = Number(process.env.BENCH_SEARCH_FILES ?? 50_000);
const RUNS = Number(process.env.BENCH_SEARCH_RUNS ?? 5);
const TARGET_RATIO = 2;
const BUDGET_MS = 15 * 60_000;
const NEEDLE_COMMON = 'tether_needle_common';
const NEEDLE_ABSENT = 'tether_needle_absent_zz';

const cancelDeadline = hardDeadline(BUDGET_MS);
const ws = await tempDir('tether-bench-search-');

/** Source-like files of 1–4 KB; every 100th holds NEEDLE_COMMON once. Plus an ignored folder. */
function generate(root) {
  const perLeaf = 50;
  const leaves = Math.ceil(FILES / perLeaf);
  const words = [
    'const',
    'value',
    'return',
    'function',
    'import',
    'export',
    'await',
    'result',
    'index',
    'buffer',
    'stream',
    'handle',
  ];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let n = 0;
  writeFileSync(join(root, '.gitignore'), 'ignored/\n*.tmp\n');
  for (let leaf = 0; leaf < leaves && n < FILES; leaf++) {
    const dir = join(root, `pkg${Math.floor(leaf / 20)}`, `mod${leaf % 20}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perLeaf && n < FILES; f++, n++) {
      const lines = [];
      const count = 20 + Math.floor(rnd() * 60);
      for (let l = 0; l < count; l++) {
        let line = '  '.repeat(Math.floor(rnd() * 4));
        while (line.length < 40) line += `${words[Math.floor(rnd() * words.length)]} `;
        lines.push(line);
      }
      if (n % 100 === 0) lines[Math.floor(lines.length / 2)] += ` // ${NEEDLE_COMMON}`;
      writeFileSync(join(dir, `file${f}.ts`), `${lines.join('\n')}\n`);
    }
  }
  mkdirSync(join(root, 'ignored'));
  for (let i = 0; i < 100; i++) writeFileSync(join(root, 'ignored', `x${i}.ts`), `${NEEDLE_COMMON}\n`);
  return n;
}

const context = (guard) => ({
  workspace: { id: 'bench', name: 'bench', root: guard.root },
  guard,
  signal: new AbortController().signal,
  callId: 'bench',
  onOutput: () => true,
  whenDrained: () => Promise.resolve(),
});

/** Runs rg to the end, discarding its output; resolves with the wall time in ms. */
function rgDirect(args, cwd) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('rg', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', () => {});
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 || code === 1 ? resolve(performance.now() - started) : reject(new Error(`rg exit ${code}`)),
    );
  });
}

try {
  let t = performance.now();
  const files = generate(ws.dir);
  const generateS = (performance.now() - t) / 1000;
  const guard = await PathGuard.open(ws.dir);
  const ctx = context(guard);
  const engines = { ripgrep: createFsTools({ searchEngine: 'ripgrep' }), js: createFsTools({ searchEngine: 'js' }) };

  const figures = {};
  const reference = {};
  const met = {};
  const targets = {};
  for (const [label, pattern] of [
    ['absent', NEEDLE_ABSENT],
    ['common', NEEDLE_COMMON],
  ]) {
    const args = searchArgs.parse({ pattern, maxResults: 5000 });
    const query = { ...args, rootAbs: guard.root, startAbs: guard.root, startRel: '.', startIsFile: false };
    const direct = ripgrepArgs(query, undefined);
    const plain = ['--no-config', '-F', '--no-require-git', '--', pattern, '.'];
    const times = { ripgrep: [], js: [], rgDirect: [], rgPlain: [] };
    const counts = {};
    for (let run = -1; run < RUNS; run++) {
      // run -1 warms the page cache and the JIT and is not counted.
      for (const name of ['ripgrep', 'js']) {
        t = performance.now();
        const r = await engines[name].search(args, ctx);
        const ms = performance.now() - t;
        counts[name] = r.matches.length;
        if (run >= 0) times[name].push(ms);
      }
      const d = await rgDirect(direct, guard.root);
      const p = await rgDirect(plain, guard.root);
      if (run >= 0) {
        times.rgDirect.push(d);
        times.rgPlain.push(p);
      }
    }
    if (counts.ripgrep !== counts.js)
      throw new Error(`engines disagree on ${label}: ${counts.ripgrep} vs ${counts.js}`);
    const med = Object.fromEntries(
      Object.entries(times).map(([k, v]) => [
        k,
        quantile(
          v.sort((a, b) => a - b),
          0.5,
        ),
      ]),
    );
    figures[`${label}RipgrepEngineMs`] = round(med.ripgrep);
    figures[`${label}JsEngineMs`] = round(med.js);
    figures[`${label}RipgrepEngineRatio`] = round(med.ripgrep / med.rgDirect);
    figures[`${label}JsEngineRatio`] = round(med.js / med.rgDirect);
    figures[`${label}Matches`] = counts.js;
    reference[`${label}RgDirectMs`] = round(med.rgDirect);
    reference[`${label}RgPlainMs`] = round(med.rgPlain);
    targets[`${label}RipgrepEngineRatio`] = `≤ ${TARGET_RATIO}`;
    targets[`${label}JsEngineRatio`] = `≤ ${TARGET_RATIO}`;
    met[`${label}RipgrepEngineRatio`] = med.ripgrep / med.rgDirect <= TARGET_RATIO;
    met[`${label}JsEngineRatio`] = med.js / med.rgDirect <= TARGET_RATIO;
    console.error(
      `${label}: ripgrep engine ${med.ripgrep.toFixed(0)} ms, js engine ${med.js.toFixed(0)} ms, ` +
        `rg direct ${med.rgDirect.toFixed(0)} ms, rg plain ${med.rgPlain.toFixed(0)} ms (${counts.js} matches)`,
    );
  }
  printResult({
    name: 'host-search',
    figures,
    reference,
    targets,
    met,
    setup: { loadAvg1m: round(loadavg()[0]), files, runs: RUNS, generateS: round(generateS) },
  });
} finally {
  cancelDeadline();
  await ws.dispose();
}
