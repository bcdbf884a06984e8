#!/usr/bin/env node
// `npm test`: type-check, lint, unit and integration tests, then the end-to-end tests.
// Stops at the first failing step and exits non-zero.
import { spawnSync } from 'node:child_process';

const steps = [
  ['type-check', 'npm', ['run', 'typecheck']],
  ['lint', 'npm', ['run', 'lint']],
  ['build the UI', 'npm', ['run', 'build', '-w', '@tether/app']],
  ['unit and integration tests', 'npx', ['vitest', 'run']],
  ['end-to-end tests', 'npm', ['run', 'test:e2e']],
];

const only = process.argv.slice(2);
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
