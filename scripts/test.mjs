#!/usr/bin/env node
// `npm test`: type-check, lint, unit and integration tests, then the end-to-end tests.
// Stops at the first failing step and exits non-zero.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const steps = [
  ['type-check', 'npm', ['run', 'typecheck']],
  ['lint', 'npm', ['run', 'lint']],
  ['build the UI', 'npm', ['run', 'build', '-w', '@tether/app']],
  ['unit and integration tests', 'npx', ['vitest', 'run']],
  ['end-to-end tests', 'npm', ['run', 'test:e2e']],
];

// `npm test -- lint unit` runs only the steps whose names contain one of the words.
const only = process.argv.slice(2);
if (only.includes('--help') || only.includes('-h')) {
  console.log(
    `Usage: npm test [-- WORD…]   runs every step, or only those whose name contains a WORD:\n` +
      steps.map(([name, cmd, args]) => `  ${name.padEnd(28)} ${cmd} ${args.join(' ')}`).join('\n'),
  );
  process.exit(0);
}
// A misspelt word would otherwise run nothing and pass.
const unmatched = only.filter((o) => !steps.some(([name]) => name.includes(o)));
if (unmatched.length > 0) {
  console.error(
    `npm test: no step matches ${unmatched.map((o) => `"${o}"`).join(', ')}; the steps: ${steps.map(([name]) => name).join(', ')}`,
  );
  process.exit(2);
}
// A fresh clone: the dependencies first, as `npm start` does (npm writes this file last).
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.log('\n▶ node_modules is missing: installing the dependencies first (npm ci)');
  if (spawnSync('npm', ['ci'], { cwd: root, stdio: 'inherit' }).status !== 0) {
    console.error('\n✖ npm ci failed');
    process.exit(1);
  }
}
for (const [name, cmd, args] of steps) {
  if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
  const started = Date.now();
  console.log(`\n▶ ${name}: ${cmd} ${args.join(' ')}`);
  const run = spawnSync(cmd, args, { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (run.status !== 0) {
    console.error(`\n✖ ${name} failed (exit ${run.status ?? run.signal}) after ${seconds}s`);
    process.exit(1);
  }
  console.log(`✔ ${name} (${seconds}s)`);
}
