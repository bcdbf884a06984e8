import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TetherError, runCommandArgs, shellStartArgs } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createShellTools, type ShellTools } from './shell-tools.js';
import { expectNoProcessesLeft, tempWorkspace, toolContext, waitFor, type TempWorkspace } from './test-fixtures.js';

function bwrapWorks(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--unshare-all', '--share-net', '--', 'true'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}
const HAVE_BWRAP = bwrapWorks();

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe('createShellTools', () => {
  let ws: TempWorkspace;
  let outside: string;
  let tools: ShellTools | undefined;

  beforeEach(async () => {
    ws = await tempWorkspace();
    // Not under /tmp: the sandbox has its own empty /tmp, where a write would fail for another reason.
    outside = await mkdtemp(path.join(process.platform === 'linux' ? '/var/tmp' : tmpdir(), 'tether-outside-'));
  });
  afterEach(async () => {
    await tools?.dispose();
    tools = undefined;
    await ws.remove();
    await expectNoProcessesLeft();
    await rm(outside, { recursive: true, force: true });
  });

  const run = (command: string) => tools!.handlers.run_command!(runCommandArgs.parse({ command }), toolContext(ws));

  describe('sandbox: bwrap', () => {
    it.skipIf(!HAVE_BWRAP)(
      'lets a command write outside the workspace without the sandbox (skipped where bwrap cannot run)',
      async () => {
        tools = createShellTools({ sandbox: 'none' });
        const result = await run(`echo x > ${outside}/escaped && echo wrote`);
        expect(result.exitCode).toBe(0);
        expect(await exists(path.join(outside, 'escaped'))).toBe(true);
      },
    );

    it.skipIf(!HAVE_BWRAP)(
      'confines writes to the workspace under bwrap (skipped where bwrap cannot run)',
      async () => {
        tools = createShellTools({ sandbox: 'bwrap' });
        const result = await run(
          `echo inside > inside.txt; echo x > ${outside}/escaped; echo "status=$?"; touch "$HOME/tether-escape-$$" 2>/dev/null; echo "home=$?"`,
        );
        const out = result.output.replace(/\r/g, '');
        expect(out).toMatch(/Read-only file system/);
        // The exit status of a failed redirection is 1 in bash and 2 in dash (/bin/sh where SHELL is unset).
        expect(out).toMatch(/status=[1-9]/);
        expect(out).not.toContain('home=0');
        expect(await exists(path.join(outside, 'escaped'))).toBe(false);
        expect(await readFile(path.join(ws.root, 'inside.txt'), 'utf8')).toBe('inside\n');
      },
    );

    it.skipIf(!HAVE_BWRAP)('applies the sandbox chosen per workspace (skipped where bwrap cannot run)', async () => {
      tools = createShellTools({ sandbox: (id) => (id === ws.id ? 'bwrap' : 'none') });
      const result = await run(`echo x > ${outside}/escaped`);
      expect(result.exitCode).not.toBe(0);
      expect(await exists(path.join(outside, 'escaped'))).toBe(false);
    });

    it.skipIf(!HAVE_BWRAP)(
      'sandboxes shell sessions too, and kills them (skipped where bwrap cannot run)',
      async () => {
        tools = createShellTools({ sandbox: 'bwrap', killGraceMs: 300 });
        const ctx = toolContext(ws);
        const { sessionId } = await tools.handlers.shell_start!(shellStartArgs.parse({ command: 'sh' }), ctx);
        let all = (
          await tools.handlers.shell_write!(
            { sessionId, input: `echo x > ${outside}/escaped; echo "rc=$?"\n`, waitMs: 1000 },
            ctx,
          )
        ).output;
        await waitFor(async () => {
          all += (await tools!.handlers.shell_read!({ sessionId, waitMs: 200 }, ctx)).output;
          return /rc=\d\r?\n/.test(all.replace(/rc=\$\?/g, ''));
        });
        expect(all).toMatch(/rc=[1-9]/);
        expect(all).toContain('Read-only file system');
        expect(await exists(path.join(outside, 'escaped'))).toBe(false);
        expect(await tools.handlers.shell_kill!({ sessionId }, ctx)).toMatchObject({ killed: true });
      },
    );

    it('fails closed with unavailable when bubblewrap is missing, running nothing', async () => {
      tools = createShellTools({ sandbox: 'bwrap', bwrapPath: path.join(outside, 'no-such-bwrap') });
      const err = await run('touch ran').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TetherError);
      expect((err as TetherError).code).toBe('unavailable');
      expect((err as TetherError).message).toMatch(/not installed/);
      const sessionErr = await tools.handlers.shell_start!(
        shellStartArgs.parse({ command: 'touch ran' }),
        toolContext(ws),
      ).catch((e: unknown) => e);
      expect((sessionErr as TetherError).code).toBe('unavailable');
      expect(await exists(path.join(ws.root, 'ran'))).toBe(false);
    });
  });
});
