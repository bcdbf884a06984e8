import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectProcessTree, isProcessAlive, killProcessTree } from './process-tree.js';
import { waitFor } from './test-fixtures.js';

describe('killProcessTree', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-tree-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A group leader (like a pty child) with a plain child and a `setsid` grandchild that escaped the group. */
  async function startTree(script: string): Promise<{ leader: number; pids: number[] }> {
    const child = spawn('/bin/sh', ['-c', script], { cwd: dir, detached: true, stdio: 'ignore' });
    child.unref();
    const files = ['a.pid', 'b.pid'];
    await waitFor(async () =>
      (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8').catch(() => '')))).every((t) =>
        t.endsWith('\n'),
      ),
    );
    const pids = await Promise.all(files.map(async (f) => Number(await readFile(path.join(dir, f), 'utf8'))));
    return { leader: child.pid!, pids };
  }

  it('finds and kills the leader, its group and a setsid descendant', async () => {
    const { leader, pids } = await startTree('sleep 300 & echo $! > a.pid; setsid sleep 300 & echo $! > b.pid; wait');
    const tree = await collectProcessTree(leader);
    expect(tree).toEqual(expect.arrayContaining([leader, ...pids]));
    expect(tree).not.toContain(process.pid);
    await killProcessTree(leader, 500);
    for (const pid of [leader, ...pids]) expect(await isProcessAlive(pid)).toBe(false);
  });

  it('SIGKILLs what ignores SIGTERM once the grace period is over', async () => {
    const { leader, pids } = await startTree(
      `trap '' TERM; sh -c "trap '' TERM; echo \\$\\$ > a.pid; while :; do sleep 0.1; done" & echo $$ > b.pid; wait`,
    );
    const started = Date.now();
    await killProcessTree(leader, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    for (const pid of [leader, ...pids]) expect(await isProcessAlive(pid)).toBe(false);
  });
});
