import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TetherError, shellStartArgs } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from './process-tree.js';
import { DEFAULT_SANDBOX_SPEC } from './sandbox-rules.js';
import { createShellTools, type ShellTools, type ShellToolsOptions } from './shell-tools.js';
import { expectNoProcessesLeft, tempWorkspace, toolContext, waitFor, type TempWorkspace } from './test-fixtures.js';

const UNSANDBOXED = { ...DEFAULT_SANDBOX_SPEC, mode: 'off' as const };

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => new Error(`expected ${code}, got a result`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  expect((err as TetherError).code).toBe(code);
}

/** Reads until `text` shows up (output may arrive in several reads), returning everything read. */
async function readUntil(
  tools: ShellTools,
  ctx: ReturnType<typeof toolContext>,
  sessionId: string,
  text: string,
): Promise<string> {
  let all = '';
  await waitFor(
    async () => {
      const r = await tools.handlers.shell_read!({ sessionId, waitMs: 200 }, ctx);
      all += r.output;
      return all.includes(text);
    },
    15_000,
    `"${text}" in the session output`,
  );
  return all;
}

describe('createShellTools', () => {
  let ws: TempWorkspace;
  let tools: ShellTools;
  const make = (options: ShellToolsOptions = {}): ShellTools =>
    // Unsandboxed (the fallback where the OS has no sandbox): these check the host's own tree killing by host pids.
    (tools = createShellTools({ killGraceMs: 300, sandbox: UNSANDBOXED, ...options }));
  const start = (input: Record<string, unknown>, ctx = toolContext(ws)) =>
    tools.handlers.shell_start!(shellStartArgs.parse(input), ctx);

  beforeEach(async () => {
    ws = await tempWorkspace();
    make();
  });
  afterEach(async () => {
    await tools.dispose();
    await ws.remove();
    await expectNoProcessesLeft();
  });

  describe('shell_start / shell_write / shell_read', () => {
    it('runs an interactive program: input written, its output read back', async () => {
      const ctx = toolContext(ws);
      const info = await start({ command: 'cat' }, ctx);
      expect(info.sessionId).toMatch(/^sh_[A-Za-z0-9_-]{24}$/);
      expect(info).toMatchObject({ command: 'cat', cwd: '.', exited: false, exitCode: null });
      const written = await tools.handlers.shell_write!(
        { sessionId: info.sessionId, input: 'hello pty\n', waitMs: 5000 },
        ctx,
      );
      // The pty echoes the input and cat prints it again.
      const all =
        written.output +
        (written.output.split('hello pty').length < 3 ? await readUntil(tools, ctx, info.sessionId, 'hello pty') : '');
      expect(all.split('hello pty').length).toBeGreaterThanOrEqual(3);
      expect(written).toMatchObject({ sessionId: info.sessionId, dropped: 0, exited: false });
    });

    it('keeps state between writes in a shell session and reports the exit', async () => {
      const ctx = toolContext(ws);
      const { sessionId } = await start({ command: 'sh' }, ctx);
      await tools.handlers.shell_write!({ sessionId, input: 'X=42\n', waitMs: 1000 }, ctx);
      const written = await tools.handlers.shell_write!({ sessionId, input: 'echo "value=$X"\n', waitMs: 1000 }, ctx);
      // The echo of the typed line holds `$X`; only the shell's answer holds the value.
      if (!written.output.includes('value=42')) await readUntil(tools, ctx, sessionId, 'value=42');
      await tools.handlers.shell_write!({ sessionId, input: 'exit 7\n', waitMs: 0 }, ctx);
      await waitFor(
        async () => (await tools.handlers.shell_read!({ sessionId, waitMs: 200 }, ctx)).exited,
        15_000,
        'exit',
      );
      const list = await tools.handlers.shell_list!({}, ctx);
      expect(list.sessions.find((s) => s.sessionId === sessionId)).toMatchObject({ exited: true, exitCode: 7 });
      await expectCode(tools.handlers.shell_write!({ sessionId, input: 'x\n' }, ctx), 'conflict');
    });

    it('returns at once with nothing when waitMs is 0 and nothing is buffered', async () => {
      const ctx = toolContext(ws);
      const { sessionId } = await start({ command: 'cat' }, ctx);
      const r = await tools.handlers.shell_read!({ sessionId, waitMs: 0 }, ctx);
      expect(r.output).toBe('');
    });

    it('drops the oldest output past the buffer cap and counts it', async () => {
      make({ sessionBufferBytes: 1000 });
      const ctx = toolContext(ws);
      const { sessionId } = await start({ command: 'seq 1 2000; sleep 30' }, ctx);
      // seq 1 2000 prints 8893 bytes plus a \r per line.
      const expected = 8893 + 2000;
      await waitFor(async () => (await tools.handlers.shell_list!({}, ctx)).sessions.length === 1);
      let result = await tools.handlers.shell_read!({ sessionId, waitMs: 5000 }, ctx);
      let total = result.output.length + result.dropped;
      let output = result.output;
      while (total < expected) {
        result = await tools.handlers.shell_read!({ sessionId, waitMs: 2000 }, ctx);
        total += result.output.length + result.dropped;
        output += result.output;
      }
      expect(total).toBe(expected);
      expect(output.endsWith('1999\r\n2000\r\n')).toBe(true);
    });

    it('starts in a cwd inside the workspace and refuses one outside', async () => {
      const ctx = toolContext(ws);
      const info = await start({ command: 'pwd; sleep 30', cwd: '.' }, ctx);
      expect(await readUntil(tools, ctx, info.sessionId, ws.root)).toContain(ws.root);
      await expectCode(start({ command: 'pwd', cwd: '../..' }, ctx), 'path_outside_workspace');
    });

    it('refuses more sessions than the per-workspace cap with busy, even when started at once', async () => {
      make({ maxSessionsPerWorkspace: 2 });
      const outcomes = await Promise.allSettled([
        start({ command: 'cat' }),
        start({ command: 'cat' }),
        start({ command: 'cat' }),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(2);
      const refused = outcomes.find((o) => o.status === 'rejected');
      expect((refused as PromiseRejectedResult).reason).toMatchObject({ code: 'busy' });
      // Another workspace has its own cap.
      const other = await tempWorkspace('ws-other');
      try {
        await start({ command: 'cat' }, toolContext(other));
      } finally {
        await tools.killWorkspaceSessions(other.id);
        await other.remove();
      }
    });

    it('starts the person\u2019s login shell when no command is given', async () => {
      // A login shell runs the person's dotfiles; give it an empty home so this test does not
      // depend on (or, when its shell is killed mid-startup, disturb) the machine's profile.
      await tools.dispose();
      make({ baseEnv: { ...process.env, HOME: ws.root } });
      const ctx = toolContext(ws);
      const info = await start({}, ctx);
      expect(info.command).toMatch(/sh$/);
      const written = await tools.handlers.shell_write!(
        { sessionId: info.sessionId, input: 'echo "sum=$((40+2))"\n', waitMs: 2000 },
        ctx,
      );
      if (!written.output.includes('sum=42')) await readUntil(tools, ctx, info.sessionId, 'sum=42');
    });
  });

  describe('workspace isolation', () => {
    it('lists only this workspace\u2019s sessions and does not find another workspace\u2019s id', async () => {
      const other = await tempWorkspace('ws-other');
      try {
        const mine = await start({ command: 'cat' }, toolContext(ws));
        const theirs = await start({ command: 'cat' }, toolContext(other));
        const mineList = await tools.handlers.shell_list!({}, toolContext(ws));
        expect(mineList.sessions.map((s) => s.sessionId)).toEqual([mine.sessionId]);
        const ctx = toolContext(ws);
        await expectCode(
          tools.handlers.shell_read!({ sessionId: theirs.sessionId, waitMs: 0 }, ctx),
          'session_not_found',
        );
        await expectCode(
          tools.handlers.shell_write!({ sessionId: theirs.sessionId, input: 'x' }, ctx),
          'session_not_found',
        );
        await expectCode(tools.handlers.shell_kill!({ sessionId: theirs.sessionId }, ctx), 'session_not_found');
        // Still alive in its own workspace.
        const theirList = await tools.handlers.shell_list!({}, toolContext(other));
        expect(theirList.sessions).toMatchObject([{ sessionId: theirs.sessionId, exited: false }]);
      } finally {
        await tools.dispose();
        await other.remove();
      }
    });
  });

  describe('shell_kill', () => {
    it('kills the session tree, background children included, and forgets the session', async () => {
      const ctx = toolContext(ws);
      const { sessionId } = await start(
        { command: 'setsid sleep 300 & echo $! > bg.pid; echo $$ > sh.pid; echo ready; wait' },
        ctx,
      );
      await readUntil(tools, ctx, sessionId, 'ready');
      const bg = Number(await readFile(path.join(ws.root, 'bg.pid'), 'utf8'));
      const sh = Number(await readFile(path.join(ws.root, 'sh.pid'), 'utf8'));
      expect(await isProcessAlive(bg)).toBe(true);
      expect(await tools.handlers.shell_kill!({ sessionId }, ctx)).toEqual({ sessionId, killed: true });
      expect(await isProcessAlive(bg)).toBe(false);
      expect(await isProcessAlive(sh)).toBe(false);
      expect((await tools.handlers.shell_list!({}, ctx)).sessions).toEqual([]);
      await expectCode(tools.handlers.shell_read!({ sessionId }, ctx), 'session_not_found');
    });
  });

  describe('idle reaping', () => {
    it('kills a session nobody read or wrote for idleMs', async () => {
      make({ idleMs: 1000 });
      const ctx = toolContext(ws);
      const { sessionId } = await start({ command: 'echo $$ > sh.pid; exec sleep 300' }, ctx);
      await waitFor(() =>
        readFile(path.join(ws.root, 'sh.pid'), 'utf8').then(
          (t) => t.endsWith('\n'),
          () => false,
        ),
      );
      const pid = Number(await readFile(path.join(ws.root, 'sh.pid'), 'utf8'));
      await waitFor(async () => (await tools.handlers.shell_list!({}, ctx)).sessions.length === 0, 15_000, 'reaping');
      await waitFor(async () => !(await isProcessAlive(pid)), 15_000, 'process gone');
      await expectCode(tools.handlers.shell_read!({ sessionId }, ctx), 'session_not_found');
    });

    it('removes an exited session shortly after its final output was read', async () => {
      make({ exitedLingerMs: 100 });
      const ctx = toolContext(ws);
      const { sessionId } = await start({ command: 'echo bye' }, ctx);
      await waitFor(async () => (await tools.handlers.shell_list!({}, ctx)).sessions[0]?.exited === true);
      const last = await tools.handlers.shell_read!({ sessionId, waitMs: 0 }, ctx);
      expect(last).toMatchObject({ exited: true, exitCode: 0 });
      expect(last.output).toContain('bye');
      await waitFor(async () => (await tools.handlers.shell_list!({}, ctx)).sessions.length === 0, 15_000, 'removal');
    });
  });

  describe('killWorkspaceSessions', () => {
    it('kills the sessions of one workspace only', async () => {
      const other = await tempWorkspace('ws-other');
      try {
        await start({ command: 'cat' }, toolContext(ws));
        const theirs = await start({ command: 'cat' }, toolContext(other));
        await tools.killWorkspaceSessions(ws.id);
        expect((await tools.handlers.shell_list!({}, toolContext(ws))).sessions).toEqual([]);
        expect((await tools.handlers.shell_list!({}, toolContext(other))).sessions.map((s) => s.sessionId)).toEqual([
          theirs.sessionId,
        ]);
      } finally {
        await tools.dispose();
        await other.remove();
      }
    });
  });

  describe('killWorkspaceSessions (commands)', () => {
    it('stops a command running in the workspace, which then fails cancelled', async () => {
      const ctx = toolContext(ws);
      const running = tools.handlers.run_command!(
        { command: 'echo $$ > c.pid; sleep 300', timeoutMs: 600_000 },
        ctx,
      ).then(
        () => null,
        (e: unknown) => e,
      );
      await waitFor(() =>
        readFile(path.join(ws.root, 'c.pid'), 'utf8').then(
          (t) => t.endsWith('\n'),
          () => false,
        ),
      );
      const pid = Number(await readFile(path.join(ws.root, 'c.pid'), 'utf8'));
      await tools.killWorkspaceSessions(ws.id);
      expect(await running).toMatchObject({ code: 'cancelled' });
      expect(await isProcessAlive(pid)).toBe(false);
    });
  });

  describe('dispose', () => {
    it('kills every session and command and leaves no process behind', async () => {
      const ctx = toolContext(ws);
      const a = await start({ command: 'echo $$ > a.pid; sleep 300 & echo $! > a-bg.pid; wait' }, ctx);
      const b = await start({ command: 'echo $$ > b.pid; exec cat' }, ctx);
      const running = tools.handlers.run_command!(
        { command: 'echo $$ > c.pid; echo go; sleep 300', timeoutMs: 600_000 },
        ctx,
      );
      const outcome = running.then(
        () => null,
        (e: unknown) => e,
      );
      await waitFor(
        async () => {
          const files = await Promise.all(
            ['a.pid', 'a-bg.pid', 'b.pid', 'c.pid'].map((f) => readFile(path.join(ws.root, f), 'utf8').catch(() => '')),
          );
          return files.every((t) => t.endsWith('\n'));
        },
        15_000,
        'pid files',
      );
      const pids = await Promise.all(
        ['a.pid', 'a-bg.pid', 'b.pid', 'c.pid'].map(async (f) => Number(await readFile(path.join(ws.root, f), 'utf8'))),
      );
      for (const pid of pids) expect(await isProcessAlive(pid)).toBe(true);
      await tools.dispose();
      expect(await outcome).toMatchObject({ code: 'unavailable' });
      for (const pid of pids) expect(await isProcessAlive(pid)).toBe(false);
      await expectCode(tools.handlers.shell_list!({}, ctx), 'unavailable');
      expect([a.sessionId, b.sessionId]).toHaveLength(2);
    });
  });
});
