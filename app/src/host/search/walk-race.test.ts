import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ToolArgsInput, ToolName } from '@tether/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsSandbox, type FsSandbox } from '../fs/test-fixtures.js';
import { searchJs } from './js-search.js';
import { disposeSearchWorkers } from './search-worker-pool.js';
import { ripgrepAvailable } from './search-tool.js';

const hasRg = await ripgrepAvailable();

/** Calls per tool and form: enough for the swapper to split a check from a listing many times (it did before the fix). */
const ROUNDS = 15;

/** Codes a call may end with while its folder vanishes or turns into a link mid-call. */
const RACE_CODES = ['path_outside_workspace', 'not_found', 'not_a_directory', 'not_a_file'];

const SECRET = 'OUTSIDE-SECRET-5e1f';

let sb: FsSandbox;
let sbRg: FsSandbox;

function build(s: FsSandbox): void {
  const race = path.join(s.root, 'race');
  mkdirSync(path.join(race, 'sub'), { recursive: true });
  writeFileSync(path.join(race, 'victim.txt'), 'inside TOP\n');
  writeFileSync(path.join(race, 'sub', 'deep.txt'), 'inside TOP\n');
  const target = path.join(s.outside, 'target');
  mkdirSync(path.join(target, 'sub'), { recursive: true });
  writeFileSync(path.join(target, 'outside-only.txt'), `TOP ${SECRET}\n`);
  writeFileSync(path.join(target, 'sub', 'outside-only.txt'), `TOP ${SECRET}\n`);
  // Same names as inside: a file opened by path after the walk listed its folder must not be these.
  writeFileSync(path.join(target, 'victim.txt'), `TOP ${SECRET}\n`);
  writeFileSync(path.join(target, 'sub', 'deep.txt'), `TOP ${SECRET}\n`);
  symlinkSync(target, path.join(s.root, 'race-sym'));
}

/**
 * Runs the calls, 4 at a time, while another process swaps `race/` for a link to the outside
 * folder and back in a tight loop (so a check and a listing microseconds apart are often split).
 */
async function whileSwapping(
  s: FsSandbox,
  calls: Array<[ToolName, object]>,
  instead?: () => Promise<unknown>,
): Promise<unknown[]> {
  const [race, real, sym] = ['race', 'race-real', 'race-sym'].map((n) => path.join(s.root, n));
  const script = `const fs = require('node:fs'); const [race, real, sym] = process.argv.slice(1);
    const r = (a, b) => { try { fs.renameSync(a, b); } catch {} };
    for (;;) { r(race, real); r(sym, race); r(race, sym); r(real, race); }`;
  const swapper = spawn(process.execPath, ['-e', script, race as string, real as string, sym as string], {
    stdio: 'ignore',
  });
  const out: unknown[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < calls.length) {
          const [tool, args] = calls[next++] as [ToolName, object];
          if (instead) {
            out.push(await instead());
            continue;
          }
          const o = await s.call(tool, args as ToolArgsInput<typeof tool>);
          if (!o.ok) expect(RACE_CODES, JSON.stringify(o.error)).toContain(o.error.code);
          out.push(o);
        }
      }),
    );
  } finally {
    const exited = new Promise((r) => swapper.once('exit', r));
    swapper.kill('SIGKILL');
    await exited;
    // Killed mid-cycle: put the folder and the link back where they started.
    if (lstatSync(real as string, { throwIfNoEntry: false })) {
      if (lstatSync(race as string, { throwIfNoEntry: false })) renameSync(race as string, sym as string);
      renameSync(real as string, race as string);
    }
  }
  return out;
}

const WALKS: Array<[ToolName, object]> = [
  ['list_dir', { path: 'race', depth: 3 }],
  ['list_dir', { path: '.', depth: 3 }],
  ['glob', { pattern: 'race/**' }],
  ['glob', { pattern: '**/*.txt' }],
  ['search', { pattern: 'TOP', path: 'race' }],
  ['search', { pattern: 'TOP', path: 'race/sub' }],
  ['search', { pattern: 'TOP', path: 'race/victim.txt' }],
];

beforeAll(async () => {
  sb = await fsSandbox({ searchEngine: 'js' });
  sbRg = await fsSandbox({ searchEngine: 'ripgrep' });
  build(sb);
  build(sbRg);
});
afterAll(async () => {
  await sb?.remove();
  await sbRg?.remove();
  await disposeSearchWorkers();
});

describe('walks under a folder swap', () => {
  it('list_dir, glob and the JS search engine never report what is outside, even searching the whole root', async () => {
    const calls: Array<[ToolName, object]> = [];
    for (let i = 0; i < ROUNDS; i++) calls.push(...WALKS, ['search', { pattern: 'TOP' }]);
    const outcomes = await whileSwapping(sb, calls);
    expect(outcomes.some((o) => JSON.stringify(o).includes('"ok":true'))).toBe(true);
    for (const o of outcomes) {
      expect(JSON.stringify(o)).not.toContain('outside-only');
      expect(JSON.stringify(o)).not.toContain(SECRET);
    }
  }, 120_000);

  it('the JS engine on this thread (when workers cannot run) never reports what is outside either', async () => {
    const calls: Array<[ToolName, object]> = [];
    for (let i = 0; i < ROUNDS * 6; i++) calls.push(['search', { pattern: 'TOP' }]);
    const run = (): Promise<unknown> =>
      searchJs(
        {
          pattern: 'TOP',
          regex: false,
          caseSensitive: true,
          contextLines: 0,
          maxResults: 100,
          rootAbs: sb.root,
          startAbs: sb.root,
          startRel: '.',
          startIsFile: false,
          signal: new AbortController().signal,
        },
        { workers: false },
      );
    const outcomes = await whileSwapping(sb, calls, run);
    expect(outcomes.some((o) => JSON.stringify(o).includes('victim.txt'))).toBe(true);
    for (const o of outcomes) expect(JSON.stringify(o)).not.toContain(SECRET);
  }, 120_000);

  it.skipIf(!hasRg)(
    'the ripgrep engine never reports what is outside the folder searched (skipped: no rg)',
    async () => {
      const calls: Array<[ToolName, object]> = [];
      for (let i = 0; i < ROUNDS * 3; i++) calls.push(...WALKS.filter(([tool]) => tool === 'search'));
      const outcomes = await whileSwapping(sbRg, calls);
      for (const o of outcomes) {
        expect(JSON.stringify(o)).not.toContain('outside-only');
        expect(JSON.stringify(o)).not.toContain(SECRET);
      }
    },
    120_000,
  );

  it.skipIf(!hasRg)(
    'the ripgrep engine never reports what is outside, even searching the whole root (skipped: no rg)',
    async () => {
      // ripgrep lists folders below its start by path, so it may read through race/ while it is a
      // link out; what it reports is re-checked against the inside file (verify-matches.ts).
      const calls: Array<[ToolName, object]> = [];
      for (let i = 0; i < ROUNDS * 3; i++) calls.push(['search', { pattern: 'TOP' }]);
      const outcomes = await whileSwapping(sbRg, calls);
      expect(outcomes.some((o) => JSON.stringify(o).includes('victim.txt'))).toBe(true);
      for (const o of outcomes) {
        expect(JSON.stringify(o)).not.toContain('outside-only');
        expect(JSON.stringify(o)).not.toContain(SECRET);
      }
    },
    120_000,
  );
});
