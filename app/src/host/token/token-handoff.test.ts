import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { wipeStartingEnvironment } from './token-handoff.js';

describe.skipIf(process.platform !== 'linux')('wipeStartingEnvironment (a real process)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('removes the variable from /proc/<pid>/environ and leaves the rest readable', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-wipe-'));
    const script = path.join(dir, 'wipe.mts');
    await writeFile(
      script,
      `import { wipeStartingEnvironment } from ${JSON.stringify(path.join(import.meta.dirname, 'token-handoff.ts'))};
       delete process.env.TETHER_TOKEN;
       const ok = wipeStartingEnvironment('TETHER_TOKEN');
       console.log(JSON.stringify({ ok, other: process.env.TETHER_TEST_OTHER, token: process.env.TETHER_TOKEN ?? null }));
       // Stays up to be looked at, and never outlives the test (tsx's wrapper dying does not end it).
       setTimeout(() => process.exit(0), 30_000);`,
    );
    const tsx = path.join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const canary = 'tdt_CANARY-WIPE-1234567890';
    const child = spawn(tsx, [script], {
      env: { PATH: process.env.PATH, TETHER_TOKEN: canary, TETHER_TEST_OTHER: 'kept' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // tsx runs the script in a child node process: the one that printed is the deepest descendant.
    const pids = [child.pid!];
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      expect(JSON.parse(line)).toEqual({ ok: true, other: 'kept', token: null });
      for (;;) {
        const children = (await readFile(`/proc/${pids.at(-1)}/task/${pids.at(-1)}/children`, 'utf8'))
          .trim()
          .split(/\s+/)
          .filter(Boolean);
        if (children.length === 0) break;
        pids.push(Number(children[0]));
      }
      const environ = await readFile(`/proc/${pids.at(-1)}/environ`, 'utf8');
      expect(environ).toContain('TETHER_TEST_OTHER=kept');
      expect(environ).not.toContain(canary);
      expect(environ).not.toContain('TETHER_TOKEN');
    } finally {
      // The whole chain, the script's own process first: killing tsx's wrapper alone orphaned it.
      for (const pid of pids.reverse())
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
    }
  }, 30_000);

  it('is true when the variable was never there', () => {
    expect(wipeStartingEnvironment('TETHER_NO_SUCH_VARIABLE_X')).toBe(true);
  });
});
