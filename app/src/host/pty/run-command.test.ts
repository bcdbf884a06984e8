import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { COMMAND_OUTPUT_HEAD_BYTES, COMMAND_OUTPUT_TAIL_BYTES, TetherError, runCommandArgs } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from './process-tree.js';
import { DEFAULT_SANDBOX_SPEC } from './sandbox-rules.js';
import { createShellTools, type ShellTools } from './shell-tools.js';
import { expectNoProcessesLeft, tempWorkspace, toolContext, waitFor, type TempWorkspace } from './test-fixtures.js';

const UNSANDBOXED = { ...DEFAULT_SANDBOX_SPEC, mode: 'off' as const };

/** Arguments as the host passes them: parsed by the catalog's schema (defaults filled in). */
const args = (input: Record<string, unknown>) => runCommandArgs.parse(input);

async function expectCode(promise: Promise<unknown>, code: string): Promise<TetherError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, got a result`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  expect((err as TetherError).code).toBe(code);
  return err as TetherError;
}

describe('createShellTools', () => {
  let ws: TempWorkspace;
  let tools: ShellTools;

  beforeEach(async () => {
    ws = await tempWorkspace();
    // Unsandboxed (the fallback where the OS has no sandbox): these check the host's own tree killing by host pids.
    tools = createShellTools({ killGraceMs: 500, sandbox: UNSANDBOXED });
  });
  afterEach(async () => {
    await tools.dispose();
    await ws.remove();
    await expectNoProcessesLeft();
  });

  const run = (input: Record<string, unknown>, ctx = toolContext(ws)) => tools.handlers.run_command!(args(input), ctx);

  describe('run_command', () => {
    it('returns the exit code and output of a command run in the workspace root', async () => {
      await writeFile(path.join(ws.root, 'marker.txt'), 'here');
      const result = await run({ command: 'pwd; cat marker.txt; printf "\\n"; exit 3' });
      expect(result.exitCode).toBe(3);
      expect(result.signal).toBeNull();
      expect(result.timedOut).toBe(false);
      expect(result.truncated).toBe(false);
      expect(result.output.replace(/\r/g, '')).toBe(`${ws.root}\nhere\n`);
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('runs in a cwd inside the workspace', async () => {
      await mkdir(path.join(ws.root, 'sub'));
      const result = await run({ command: 'pwd', cwd: 'sub' });
      expect(result.output.trim()).toBe(path.join(ws.root, 'sub'));
    });

    it('refuses a cwd outside the workspace with path_outside_workspace', async () => {
      await expectCode(run({ command: 'pwd', cwd: '..' }), 'path_outside_workspace');
      await expectCode(run({ command: 'pwd', cwd: '/etc' }), 'path_outside_workspace');
    });

    it('refuses a cwd that is a file or missing', async () => {
      await writeFile(path.join(ws.root, 'f'), '');
      await expectCode(run({ command: 'pwd', cwd: 'f' }), 'not_a_directory');
      await expectCode(run({ command: 'pwd', cwd: 'nope' }), 'not_found');
    });

    it('runs in a pty with TERM=xterm-256color and 120 columns', async () => {
      const result = await run({ command: 'test -t 1 && echo tty; echo "$TERM"; stty size' });
      expect(result.output.replace(/\r/g, '').split('\n')).toEqual(['tty', 'xterm-256color', '30 120', '']);
    });

    it('does not pass tokens and secrets of the host environment to the command', async () => {
      const secretTools = createShellTools({
        baseEnv: {
          ...process.env,
          TETHER_TOKEN: 'tdt_leak',
          MY_SECRET: 's3cret',
          AWS_ACCESS_KEY_ID: 'AKIA',
          NODE_OPTIONS: '--inspect',
        },
      });
      try {
        const result = await secretTools.handlers.run_command!(args({ command: 'env' }), toolContext(ws));
        expect(result.output).not.toMatch(/tdt_leak|s3cret|AKIA|--inspect/);
        expect(result.output).toMatch(/^PATH=/m);
        expect(result.output).toMatch(/^HOME=/m);
      } finally {
        await secretTools.dispose();
      }
    });

    it('does not show a TETHER_TOKEN or *_SECRET of process.env to the command', async () => {
      process.env.TETHER_TOKEN = 'tdt_from_process_env';
      process.env.BENCH_SECRET = 'from_process_env';
      try {
        const result = await run({ command: 'env; echo "token=[$TETHER_TOKEN]"' });
        expect(result.output).not.toContain('from_process_env');
        expect(result.output).toContain('token=[]');
      } finally {
        delete process.env.TETHER_TOKEN;
        delete process.env.BENCH_SECRET;
      }
    });

    it('adds the caller env but refuses variables that would run hidden code', async () => {
      const result = await run({ command: 'echo "$GREETING"', env: { GREETING: 'hello' } });
      expect(result.output.trim()).toBe('hello');
      const err = await expectCode(
        run({ command: 'true', env: { LD_PRELOAD: '/x.so', PATH: '/evil' } }),
        'invalid_args',
      );
      expect(err.message).toMatch(/LD_PRELOAD, PATH/);
    });

    it('streams output chunks before the command ends', async () => {
      const flag = path.join(ws.root, 'go');
      const ctx = toolContext(ws);
      // The command waits for a file that the test writes only after it saw the first chunk.
      const pending = run({ command: `echo first; while [ ! -f go ]; do sleep 0.05; done; echo second` }, ctx);
      await waitFor(() => ctx.chunks.join('').includes('first'), 15_000, 'first chunk');
      expect(ctx.chunks.join('')).not.toContain('second');
      await writeFile(flag, '');
      const result = await pending;
      expect(result.output.replace(/\r/g, '')).toBe('first\nsecond\n');
      expect(ctx.chunks.join('')).toBe(result.output);
    });

    it('keeps head and tail of a large output with a marker and truncated: true', async () => {
      const ctx = toolContext(ws);
      const result = await run({ command: 'seq 1 200000' }, ctx);
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toBe(true);
      const streamed = ctx.chunks.join('');
      expect(streamed.replace(/\r/g, '').split('\n').filter(Boolean)).toHaveLength(200000);
      const size = Buffer.byteLength(result.output);
      expect(size).toBeLessThan(COMMAND_OUTPUT_HEAD_BYTES + COMMAND_OUTPUT_TAIL_BYTES + 200);
      expect(result.output.startsWith('1\r\n2\r\n3\r\n')).toBe(true);
      expect(result.output.endsWith('199999\r\n200000\r\n')).toBe(true);
      expect(result.output).toMatch(/\[… \d+ bytes of output omitted …\]/);
      const omitted = Number(/\[… (\d+) bytes/.exec(result.output)![1]);
      expect(omitted + COMMAND_OUTPUT_HEAD_BYTES + COMMAND_OUTPUT_TAIL_BYTES).toBe(Buffer.byteLength(streamed));
    });

    it('streams multi-byte characters intact across chunk boundaries', async () => {
      const ctx = toolContext(ws);
      const result = await run({ command: "yes '€😀é' | head -n 40000" }, ctx);
      const streamed = ctx.chunks.join('');
      expect(streamed).not.toContain('\ufffd');
      expect(result.output).not.toContain('\ufffd');
      const lines = streamed.split('\r\n').filter(Boolean);
      expect(lines).toHaveLength(40000);
      expect(new Set(lines)).toEqual(new Set(['€😀é']));
    });

    it('kills the whole tree, setsid grandchild included, on timeout and says timedOut', async () => {
      const result = await run({
        command: 'setsid sleep 300 & echo $! > grandchild.pid; sleep 300 & echo $! > child.pid; wait',
        timeoutMs: 1500,
      });
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).toBeNull();
      expect(result.signal).toMatch(/^SIG(TERM|KILL|HUP)$/);
      const grandchild = Number(await readFile(path.join(ws.root, 'grandchild.pid'), 'utf8'));
      const child = Number(await readFile(path.join(ws.root, 'child.pid'), 'utf8'));
      expect(grandchild).toBeGreaterThan(1);
      expect(await isProcessAlive(grandchild)).toBe(false);
      expect(await isProcessAlive(child)).toBe(false);
    });

    it('SIGKILLs a process that ignores SIGTERM after the grace period', async () => {
      const result = await run({
        command: `trap '' TERM; echo $$ > sh.pid; while :; do sleep 0.1; done`,
        timeoutMs: 800,
      });
      expect(result.timedOut).toBe(true);
      const pid = Number(await readFile(path.join(ws.root, 'sh.pid'), 'utf8'));
      expect(await isProcessAlive(pid)).toBe(false);
    });

    it('kills the tree and fails cancelled when the call is aborted', async () => {
      const controller = new AbortController();
      const ctx = toolContext(ws, { signal: controller.signal });
      const pending = run(
        { command: 'echo $$ > sh.pid; setsid sleep 300 & echo $! > bg.pid; echo started; wait' },
        ctx,
      );
      await waitFor(() => ctx.chunks.join('').includes('started'), 15_000, 'started');
      controller.abort();
      await expectCode(pending, 'cancelled');
      for (const file of ['sh.pid', 'bg.pid']) {
        const pid = Number(await readFile(path.join(ws.root, file), 'utf8'));
        expect(await isProcessAlive(pid)).toBe(false);
      }
    });

    it('fails cancelled without running when the call was already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expectCode(run({ command: 'touch ran' }, toolContext(ws, { signal: controller.signal })), 'cancelled');
      await expect(readFile(path.join(ws.root, 'ran'))).rejects.toThrow();
    });

    it('leaves no background job running after the command exits', async () => {
      const result = await run({ command: 'nohup sleep 300 >/dev/null 2>&1 & echo $! > bg.pid' });
      expect(result.exitCode).toBe(0);
      const pid = Number(await readFile(path.join(ws.root, 'bg.pid'), 'utf8'));
      expect(await isProcessAlive(pid)).toBe(false);
    });

    it('pauses the pty while onOutput says the far side is behind and loses nothing', async () => {
      let release!: () => void;
      const drained = new Promise<void>((resolve) => (release = resolve));
      const chunks: string[] = [];
      let refusals = 0;
      const ctx = toolContext(ws, {
        onOutput: (chunk) => {
          chunks.push(chunk);
          // Behind from the first chunk until the test releases the drain.
          refusals++;
          return false;
        },
        whenDrained: () => drained,
      });
      let finished = false;
      const pending = run({ command: 'seq 1 100000; echo done' }, ctx).then((r) => {
        finished = true;
        return r;
      });
      await waitFor(() => chunks.length > 0, 15_000, 'first chunk');
      // Paused: the program blocks on the full pty, so it cannot finish and output stops growing.
      const seen = chunks.join('').length;
      await new Promise((r) => setTimeout(r, 500));
      expect(finished).toBe(false);
      expect(chunks.join('').length).toBeLessThan(600_000);
      expect(chunks.join('').length).toBeLessThanOrEqual(seen + 200_000);
      release();
      const result = await pending;
      expect(result.exitCode).toBe(0);
      const lines = chunks.join('').replace(/\r/g, '').split('\n').filter(Boolean);
      expect(lines).toHaveLength(100001);
      expect(lines[99999]).toBe('100000');
      expect(lines[100000]).toBe('done');
      expect(refusals).toBeGreaterThan(0);
    });

    it('reads the rest and finishes when the command exits while the pty is paused', async () => {
      // The far side never drains; the command writes a little and exits, its last bytes still in the pty.
      const chunks: string[] = [];
      const ctx = toolContext(ws, {
        onOutput: (chunk) => {
          chunks.push(chunk);
          return false;
        },
        whenDrained: () => new Promise<void>(() => undefined),
      });
      // Small enough (about 12 KB) to fit in the pty's buffers, so the command can end while paused.
      const result = await run({ command: 'seq 1 1000; sleep 0.2; seq 1001 2000; echo end' }, ctx);
      expect(result.exitCode).toBe(0);
      const lines = chunks.join('').replace(/\r/g, '').split('\n').filter(Boolean);
      expect(lines).toEqual([...Array.from({ length: 2000 }, (_, i) => String(i + 1)), 'end']);
      expect(result.output.endsWith('end\r\n')).toBe(true);
    });

    it('fails unavailable after dispose', async () => {
      await tools.dispose();
      await expectCode(run({ command: 'true' }), 'unavailable');
    });
  });
});
