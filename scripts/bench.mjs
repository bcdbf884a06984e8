#!/usr/bin/env node
// `npm run bench [-- NAME…]`: builds once (`tsc -b`), then runs every `bench/*.bench.mjs` in name
// order (or only the ones named, e.g. `npm run bench -- relay-latency`), each in its own child
// process so one bench's heap, sockets and timers cannot colour the next. Each bench prints one
// JSON object on its last stdout line: { name, figures, reference, targets, met }. Prints each
// result, then a summary table. Exit status: 1 when a bench failed to run or printed no result;
// unmet targets are reported, not fatal (they are findings), unless --strict is given.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const SUFFIX = '.bench.mjs';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(
    'Usage: npm run bench [-- NAME… [--strict]]   builds (tsc -b), then runs every bench/*.bench.mjs or the ones named;\n' +
      '  --strict   exit 1 when a target is not met (otherwise unmet targets are reported, not fatal)',
  );
  process.exit(0);
}
const strict = args.includes('--strict');
// An unknown option would otherwise be ignored and every bench run (minutes of CPU).
const unknownOptions = args.filter((a) => a.startsWith('-') && a !== '--strict');
if (unknownOptions.length > 0) {
  console.error(`npm run bench: unknown option ${unknownOptions.join(', ')} (see --help)`);
  process.exit(2);
}
const wanted = args
  .filter((a) => !a.startsWith('--'))
  .map((a) => a.replace(/\.bench\.mjs$/, '').replace(/^bench\//, ''));

const all = readdirSync(benchDir)
  .filter((f) => f.endsWith(SUFFIX))
  .map((f) => f.slice(0, -SUFFIX.length))
  .sort();
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`Unknown bench: ${unknown.join(', ')}. Available: ${all.join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? all.filter((n) => wanted.includes(n)) : all;

console.log('▶ build: npx tsc -b');
const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`✖ build failed (exit ${build.status ?? build.signal})`);
  process.exit(1);
}

/** Runs one bench file; resolves with its parsed result or an error description. */
function runBench(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(benchDir, name + SUFFIX)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - started) / 1000;
      const last = out.trimEnd().split('\n').pop() ?? '';
      let result = null;
      try {
        result = JSON.parse(last);
      } catch {
        // reported below
      }
      if (code !== 0 || !result || typeof result !== 'object') {
        resolve({
          name,
          ok: false,
          seconds,
          error: `exit ${code ?? signal}${result ? '' : ', no JSON result on the last line'}`,
        });
      } else {
        resolve({ name, ok: true, seconds, result });
      }
    });
  });
}

const fmt = (v) =>
  typeof v === 'number' ? String(Number(v.toPrecision(4))) : typeof v === 'string' ? v : JSON.stringify(v);

const outcomes = [];
for (const name of selected) {
  console.log(`\n▶ bench ${name}`);
  const outcome = await runBench(name);
  outcomes.push(outcome);
  if (outcome.ok) console.log(`✔ ${name} (${outcome.seconds.toFixed(1)}s)\n${JSON.stringify(outcome.result, null, 2)}`);
  else console.error(`✖ ${name} failed: ${outcome.error} (${outcome.seconds.toFixed(1)}s)`);
}

// Summary: one row per target, then the remaining figures.
const rows = [['bench', 'figure', 'value', 'reference', 'target', 'met']];
for (const o of outcomes) {
  if (!o.ok) {
    rows.push([o.name, '(failed)', o.error, '', '', '✖']);
    continue;
  }
  const { figures = {}, reference = {}, targets = {}, met = {} } = o.result;
  const keys = [...new Set([...Object.keys(targets), ...Object.keys(figures)])];
  for (const key of keys) {
    const metValue = key in met ? (met[key] ? '✔' : '✖') : '';
    rows.push([
      o.result.name ?? o.name,
      key,
      key in figures ? fmt(figures[key]) : '',
      key in reference ? fmt(reference[key]) : '',
      key in targets ? String(targets[key]) : '',
      metValue,
    ]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
console.log('\nSummary');
for (const [i, row] of rows.entries()) {
  console.log(row.map((c, j) => String(c).padEnd(widths[j])).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

const failed = outcomes.filter((o) => !o.ok);
const unmet = outcomes.filter((o) => o.ok && Object.values(o.result.met ?? {}).some((m) => m === false));
if (unmet.length > 0) console.log(`\nTargets not met in: ${unmet.map((o) => o.name).join(', ')}`);
process.exit(failed.length > 0 || (strict && unmet.length > 0) ? 1 : 0);
