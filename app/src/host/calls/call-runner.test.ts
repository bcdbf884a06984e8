import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError, type CallFrame, type ConfirmationRequest, type Result } from '@tether/shared';
import { AuditLog } from '../audit/audit-log.js';
import { ConfigStore } from '../config/config-store.js';
import { ConfirmationBroker } from '../policy/confirmation-broker.js';
import { createFsTools } from '../fs/fs-tools.js';
import { previewWrite } from '../fs/write-preview.js';
import type { ToolContext, ToolHandlers } from '../tools/tool-context.js';
import type { WorkspaceRuntime } from '../workspaces/workspace-runtime.js';
import { WorkspaceSet } from '../workspaces/workspace-set.js';
import { CallRunner, RUNNING_NOTICE_DELAY_MS, type CallSink } from './call-runner.js';

let base: string;
let workspaces: WorkspaceSet;
let broker: ConfirmationBroker;
let audit: AuditLog;
let runner: CallRunner;
let ws: WorkspaceRuntime;
/** How often each handler body actually ran. */
let runs: Record<string, number>;
/** Calls parked in `run_command` until released. */
let parked: Array<{ ctx: ToolContext; release: () => void }>;

/**
 * The real fs tools, instrumented to count how often each ran, plus a `run_command` that parks
 * until released (or its signal fires) so tests control concurrency and cancel, and a `delete`
 * that fails unexpectedly.
 */
function handlers(): ToolHandlers {
  const real = createFsTools();
  const counted = <T extends 'read_file' | 'write_file' | 'edit_file'>(tool: T) =>
    ((args: never, ctx: ToolContext) => {
      runs[tool] = (runs[tool] ?? 0) + 1;
      return (real[tool] as (a: never, c: ToolContext) => Promise<unknown>)(args, ctx);
    }) as NonNullable<ToolHandlers[T]>;
  return {
    ...real,
    read_file: counted('read_file'),
    write_file: counted('write_file'),
    edit_file: counted('edit_file'),
    run_command: (args, ctx) => {
      runs.run_command = (runs.run_command ?? 0) + 1;
      return new Promise((resolve, reject) => {
        const finish = (): void =>
          resolve({
            exitCode: 0,
            signal: null,
            output: args.command,
            truncated: false,
            durationMs: 1,
            timedOut: false,
          });
        if (ctx.signal.aborted) return reject(new TetherError('cancelled'));
        ctx.signal.addEventListener('abort', () => reject(new TetherError('cancelled')), { once: true });
        ctx.onOutput(`started ${args.command}\n`);
        parked.push({ ctx, release: finish });
      });
    },
    delete: async () => {
      throw new Error('disk on fire');
    },
  };
}

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tether-calls-')));
  await mkdir(join(base, 'ws'));
  await writeFile(join(base, 'ws', 'hello.txt'), 'hello');
  runs = {};
  parked = [];
  const config = await ConfigStore.open(join(base, 'cfg'));
  workspaces = await WorkspaceSet.open(config, { fileEvents: false, handlers: handlers() });
  ws = await workspaces.add({
    root: join(base, 'ws'),
    name: 'WS',
    policy: { read: 'allow', write: 'allow', shell: 'allow' },
  });
  broker = new ConfirmationBroker({ timeoutMs: 5_000 });
  audit = await AuditLog.open(join(base, 'cfg'));
  runner = new CallRunner({
    workspaces,
    broker,
    audit,
    handlers: handlers(),
    preview: previewWrite,
    maxConcurrentPerWorkspace: 2,
    onInternalError: () => undefined,
  });
});
afterEach(async () => {
  for (const p of parked) p.release();
  await runner.dispose();
  broker.dispose();
  await workspaces.dispose();
  await audit.dispose();
  await rm(base, { recursive: true, force: true });
});

let seq = 0;
function call(tool: CallFrame['tool'], args: unknown, extra: Partial<CallFrame> = {}): CallFrame {
  return {
    type: 'call',
    id: `call_${++seq}`,
    runtimeId: 'rt_1',
    workspaceId: ws.config.id,
    tool,
    args,
    deadline: Date.now() + 60_000,
    caller: 'agent',
    ...extra,
  };
}

function sink(): CallSink & { statuses: string[]; chunks: string[] } {
  const s = {
    statuses: [] as string[],
    chunks: [] as string[],
    progress(p: { status: string; chunk?: string }) {
      s.statuses.push(p.status);
      if (p.chunk !== undefined) s.chunks.push(p.chunk);
      return true;
    },
    whenDrained: () => Promise.resolve(),
  };
  return s;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('CallRunner', () => {
  describe('run', () => {
    it('runs a valid call in its workspace and audits it', async () => {
      const s = sink();
      const result = await runner.run(call('read_file', { path: 'hello.txt' }), s);
      expect(result).toMatchObject({ ok: true, value: { path: 'hello.txt', content: 'hello' } });
      // Done before RUNNING_NOTICE_DELAY_MS: the result alone says it ran.
      expect(s.statuses).toEqual([]);
      const [entry] = await audit.list({ limit: 10 });
      expect(entry).toMatchObject({
        workspaceId: ws.config.id,
        workspaceName: 'WS',
        tool: 'read_file',
        summary: 'hello.txt',
        decision: 'allowed',
        outcome: 'ok',
      });
    });

    it('refuses an unknown workspace with not_found, and invalid args with invalid_args naming the field', async () => {
      await expect(
        runner.run(call('read_file', { path: 'a' }, { workspaceId: 'ws_other' }), sink()),
      ).resolves.toMatchObject({ ok: false, error: { code: 'not_found' } });
      const bad = await runner.run(call('read_file', { path: 'a', limit: -3 }), sink());
      expect(bad).toMatchObject({
        ok: false,
        error: { code: 'invalid_args', message: expect.stringContaining('limit') },
      });
      const extra = await runner.run(call('write_file', { path: 'a', content: 'x', mode: 0o777 }), sink());
      expect(extra).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
      expect(runs.write_file).toBeUndefined();
      const entries = await audit.list({ outcome: 'error', limit: 10 });
      expect(entries.map((e) => [e.decision, e.errorCode])).toEqual([
        ['invalid', 'invalid_args'],
        ['invalid', 'invalid_args'],
        ['invalid', 'not_found'],
      ]);
    });

    it('maps a TetherError to its value and anything else to internal without its text', async () => {
      await expect(runner.run(call('read_file', { path: 'missing.txt' }), sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      await expect(runner.run(call('read_file', { path: '../outside.txt' }), sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'path_outside_workspace' },
      });
      const internal = await runner.run(call('delete', { path: 'hello.txt' }), sink());
      expect(internal).toEqual({ ok: false, error: { code: 'internal', message: 'Something went wrong.' } });
    });

    // An edit that a second run would apply again ('n=1' is still in 'n=1+'), so a double run shows on disk.
    const bump = { path: 'counter.txt', edits: [{ oldText: 'n=1', newText: 'n=1+' }] };

    it('runs an edit exactly once when the same call arrives twice at the same time', async () => {
      await writeFile(join(base, 'ws', 'counter.txt'), 'n=1');
      const frame = call('edit_file', bump);
      const [first, second] = await Promise.all([runner.run(frame, sink()), runner.run({ ...frame }, sink())]);
      expect(first).toMatchObject({ ok: true, value: { replacements: 1, applied: true } });
      expect(second).toEqual(first);
      expect(runs.edit_file).toBe(1);
      expect(await readFile(join(base, 'ws', 'counter.txt'), 'utf8')).toBe('n=1+');
    });

    it('returns the stored result for a call re-delivered after it finished, without running it again', async () => {
      await writeFile(join(base, 'ws', 'counter.txt'), 'n=1');
      const frame = call('edit_file', bump);
      const first = await runner.run(frame, sink());
      const again = await runner.run(structuredClone(frame), sink());
      expect(again).toEqual(first);
      expect(runs.edit_file).toBe(1);
      expect(await readFile(join(base, 'ws', 'counter.txt'), 'utf8')).toBe('n=1+');
      expect(await audit.list({ tool: 'edit_file', limit: 10 })).toHaveLength(1);
    });

    it('forgets results past the byte cap or the TTL (oldest first), and only then runs an id again', async () => {
      const probe = await runner.run(call('write_file', { path: 'k0.txt', content: 'x' }), sink());
      const bytes = Buffer.byteLength(JSON.stringify(probe));
      const small = new CallRunner({
        workspaces,
        broker,
        audit,
        handlers: handlers(),
        preview: previewWrite,
        recentResultsMaxBytes: 2 * bytes,
        recentResultsTtlMs: 60_000,
      });
      try {
        const frames = [1, 2, 3].map((i) =>
          call('write_file', { path: `k${i}.txt`, content: 'x' }, { id: `call_keep_${i}` }),
        );
        for (const f of frames) await small.run(f, sink());
        await small.run(frames[2]!, sink()); // still remembered
        expect(runs.write_file).toBe(4);
        await small.run(frames[0]!, sink()); // pushed out by the third: runs again
        expect(runs.write_file).toBe(5);
      } finally {
        await small.dispose();
      }
      const brief = new CallRunner({
        workspaces,
        broker,
        audit,
        handlers: handlers(),
        preview: previewWrite,
        recentResultsTtlMs: 1,
      });
      try {
        const frame = call('write_file', { path: 'k9.txt', content: 'x' });
        await brief.run(frame, sink());
        await new Promise((r) => setTimeout(r, 20));
        await brief.run(frame, sink());
        expect(runs.write_file).toBe(7);
      } finally {
        await brief.dispose();
      }
    });

    it('keeps no read results: a finished read re-delivered runs again, a running one is joined', async () => {
      const frame = call('read_file', { path: 'hello.txt' });
      const [a, b] = await Promise.all([runner.run(frame, sink()), runner.run(frame, sink())]);
      expect(b).toEqual(a);
      expect(runs.read_file).toBe(1);
      await runner.run(frame, sink());
      expect(runs.read_file).toBe(2);
    });

    it('refuses a tool name it does not know', async () => {
      const result = await runner.run(call('no_such_tool' as CallFrame['tool'], {}), sink());
      expect(result).toMatchObject({ ok: false, error: { code: 'unknown_tool' } });
    });

    it('refuses a re-used call id carrying a different call', async () => {
      const frame = call('write_file', { path: 'log.txt', content: 'A' });
      await runner.run(frame, sink());
      await expect(runner.run({ ...frame, args: { path: 'log.txt', content: 'B' } }, sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'conflict' },
      });
      expect(runs.write_file).toBe(1);
      expect(await readFile(join(base, 'ws', 'log.txt'), 'utf8')).toBe('A');
      expect((await audit.list({ limit: 1 }))[0]).toMatchObject({
        callId: frame.id,
        decision: 'invalid',
        errorCode: 'conflict',
      });
    });

    it('says running once a call has run RUNNING_NOTICE_DELAY_MS, and before its first output', async () => {
      const quiet = sink();
      const slow = runner.run(call('run_command', { command: 'quiet' }), quiet);
      await until(() => parked.length === 1, 'the command to start');
      // The parked handler's first output came at once, so running came before it.
      expect(quiet.statuses).toEqual(['running', 'output']);
      parked[0]!.release();
      await slow;
      expect(quiet.statuses).toEqual(['running', 'output']);
    });

    it('says running after RUNNING_NOTICE_DELAY_MS for a call that gives no output', async () => {
      const slowRunner = new CallRunner({
        workspaces,
        broker,
        audit,
        handlers: {
          ...handlers(),
          read_file: () =>
            new Promise((resolve) => setTimeout(() => resolve({ path: 'x' } as never), 4 * RUNNING_NOTICE_DELAY_MS)),
        },
        preview: async () => ({ kind: 'other', summary: '' }),
      });
      const s = sink();
      const pending = slowRunner.run(call('read_file', { path: 'hello.txt' }), s);
      await new Promise((r) => setTimeout(r, RUNNING_NOTICE_DELAY_MS / 2));
      expect(s.statuses).toEqual([]);
      await until(() => s.statuses.length === 1, 'running');
      expect(s.statuses).toEqual(['running']);
      expect(await pending).toMatchObject({ ok: true });
      await slowRunner.dispose();
    });

    it('streams output to the joined sink of a re-delivered running call', async () => {
      const frame = call('run_command', { command: 'build' });
      const s1 = sink();
      const s2 = sink();
      const first = runner.run(frame, s1);
      await until(() => parked.length === 1, 'the command to start');
      const second = runner.run({ ...frame }, s2);
      parked[0]!.ctx.onOutput('more\n');
      parked[0]!.release();
      expect(await first).toEqual(await second);
      expect(runs.run_command).toBe(1);
      expect(s1.chunks).toEqual(['started build\n', 'more\n']);
      expect(s2.chunks).toEqual(['more\n']);
    });

    it('runs at most maxConcurrentPerWorkspace calls at once and queues the rest', async () => {
      const results = [1, 2, 3, 4].map((i) => runner.run(call('run_command', { command: `c${i}` }), sink()));
      await until(() => parked.length === 2, 'two commands running');
      await new Promise((r) => setTimeout(r, 100));
      expect(parked).toHaveLength(2);
      parked[0]!.release();
      await until(() => parked.length === 3, 'the third command to start');
      parked[1]!.release();
      parked[2]!.release();
      await until(() => parked.length === 4, 'the fourth command to start');
      parked[3]!.release();
      const outputs = (await Promise.all(results)).map((r) =>
        r.ok ? (r.value as { output: string }).output : r.error.code,
      );
      expect(outputs).toEqual(['c1', 'c2', 'c3', 'c4']);
    });
  });

  describe('queue', () => {
    it('refuses a queued call whose workspace was paused while it waited for a slot', async () => {
      const running = [1, 2].map((i) => runner.run(call('run_command', { command: `c${i}` }), sink()));
      await until(() => parked.length === 2, 'two commands running');
      const queued = runner.run(call('run_command', { command: 'c3' }), sink());
      await workspaces.update(ws.config.id, { paused: true });
      parked[0]!.release();
      await expect(queued).resolves.toMatchObject({ ok: false, error: { code: 'runtime_paused' } });
      expect(runs.run_command).toBe(2);
      parked[1]!.release();
      await Promise.all(running);
    });

    it('refuses a queued call whose workspace was removed while it waited for a slot', async () => {
      const running = [1, 2].map((i) => runner.run(call('run_command', { command: `c${i}` }), sink()));
      await until(() => parked.length === 2, 'two commands running');
      const queued = runner.run(call('run_command', { command: 'c3' }), sink());
      await workspaces.remove(ws.config.id);
      parked[0]!.release();
      await expect(queued).resolves.toMatchObject({ ok: false, error: { code: 'not_found' } });
      expect(runs.run_command).toBe(2);
      parked[1]!.release();
      await Promise.all(running);
    });
  });

  describe('cancel', () => {
    it('cancels a running call through its signal', async () => {
      const pending = runner.run(call('run_command', { command: 'sleep' }, { id: 'call_cancel' }), sink());
      await until(() => parked.length === 1, 'the command to start');
      runner.cancel('call_cancel', 'the agent gave up');
      await expect(pending).resolves.toMatchObject({ ok: false, error: { code: 'cancelled' } });
      expect(parked[0]!.ctx.signal.aborted).toBe(true);
      const [entry] = await audit.list({ limit: 1 });
      expect(entry).toMatchObject({ callId: 'call_cancel', outcome: 'error', errorCode: 'cancelled' });
    });

    it('cancels a queued call before it runs', async () => {
      const running = [1, 2].map((i) => runner.run(call('run_command', { command: `c${i}` }), sink()));
      await until(() => parked.length === 2, 'two commands running');
      const queued = runner.run(call('run_command', { command: 'c3' }, { id: 'call_queued' }), sink());
      runner.cancel('call_queued');
      await expect(queued).resolves.toMatchObject({ ok: false, error: { code: 'cancelled' } });
      expect(runs.run_command).toBe(2);
      for (const p of parked) p.release();
      await Promise.all(running);
    });

    it('cancels a call waiting for confirmation and withdraws the question', async () => {
      await workspaces.update(ws.config.id, { policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      const shown: ConfirmationRequest[] = [];
      const dismissed: string[] = [];
      broker.addFrontend({ present: (r) => shown.push(r), dismiss: (_id, outcome) => dismissed.push(outcome) });
      const s = sink();
      const pending = runner.run(call('write_file', { path: 'x.txt', content: 'x' }, { id: 'call_asking' }), s);
      await until(() => shown.length === 1, 'the question');
      expect(s.statuses).toEqual(['awaiting_confirmation']);
      runner.cancel('call_asking');
      await expect(pending).resolves.toMatchObject({ ok: false, error: { code: 'cancelled' } });
      expect(dismissed).toEqual(['cancelled']);
      expect(runs.write_file).toBeUndefined();
    });
  });

  describe('a handler that ignores its signal', () => {
    it('is answered after the grace period, and keeps its slot until it really ends', async () => {
      let finishStuck: () => void = () => undefined;
      const stuckHandlers: ToolHandlers = {
        ...handlers(),
        run_command: (args) =>
          new Promise((resolve) => {
            finishStuck = () =>
              resolve({
                exitCode: 0,
                signal: null,
                output: args.command,
                truncated: false,
                durationMs: 1,
                timedOut: false,
              });
          }),
      };
      const strict = new CallRunner({
        workspaces,
        broker,
        audit,
        handlers: stuckHandlers,
        preview: previewWrite,
        maxConcurrentPerWorkspace: 1,
        abortGraceMs: 50,
      });
      try {
        const stuck = strict.run(call('run_command', { command: 'ignore-signals' }, { id: 'call_stuck' }), sink());
        await new Promise((r) => setTimeout(r, 50));
        strict.cancel('call_stuck');
        await expect(stuck).resolves.toMatchObject({ ok: false, error: { code: 'cancelled' } });
        // The stuck handler still holds the only slot: the next call waits for it.
        let nextDone = false;
        const next = strict.run(call('read_file', { path: 'hello.txt' }), sink()).then((r) => ((nextDone = true), r));
        await new Promise((r) => setTimeout(r, 200));
        expect(nextDone).toBe(false);
        finishStuck();
        await expect(next).resolves.toMatchObject({ ok: true });
      } finally {
        finishStuck();
        await strict.dispose();
      }
    });
  });

  describe('deadline', () => {
    it('ends a running call with timeout when its deadline passes', async () => {
      const result = await runner.run(call('run_command', { command: 'slow' }, { deadline: Date.now() + 300 }), sink());
      expect(result).toMatchObject({ ok: false, error: { code: 'timeout' } });
      expect(parked[0]!.ctx.signal.aborted).toBe(true);
    });

    it('does not start a call that arrives after its deadline', async () => {
      const result = await runner.run(
        call('write_file', { path: 'late.txt', content: 'x' }, { deadline: Date.now() - 1 }),
        sink(),
      );
      expect(result).toMatchObject({ ok: false, error: { code: 'timeout' } });
      expect(runs.write_file).toBeUndefined();
    });
  });

  describe('policy', () => {
    it('asks, then runs on allow and reports awaiting_confirmation then running', async () => {
      await workspaces.update(ws.config.id, { policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      const shown: ConfirmationRequest[] = [];
      broker.addFrontend({
        present: (r) => {
          shown.push(r);
          queueMicrotask(() => broker.answer({ confirmationId: r.id, decision: 'allow_once' }));
        },
        dismiss() {},
      });
      const s = sink();
      const result: Result<unknown> = await runner.run(
        call('write_file', { path: 'new.txt', content: 'x' }, { caller: 'grant: build' }),
        s,
      );
      expect(result.ok).toBe(true);
      expect(s.statuses).toEqual(['awaiting_confirmation', 'running']);
      expect(shown[0]).toMatchObject({
        caller: 'grant: build',
        tool: 'write_file',
        detail: { kind: 'write', path: 'new.txt' },
      });
      expect((await audit.list({ limit: 1 }))[0]).toMatchObject({ decision: 'confirmed', outcome: 'ok' });
    });

    it('refuses an env the caller may not set before asking anyone', async () => {
      await workspaces.update(ws.config.id, { policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      const shown: ConfirmationRequest[] = [];
      broker.addFrontend({
        present: (r) => {
          shown.push(r);
          queueMicrotask(() => broker.answer({ confirmationId: r.id, decision: 'allow_once' }));
        },
        dismiss() {},
      });
      for (const tool of ['run_command', 'shell_start'] as const) {
        const s = sink();
        const result = await runner.run(call(tool, { command: 'true', env: { LD_PRELOAD: '/tmp/x.so' } }), s);
        expect(result).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
        expect(s.statuses).toEqual([]);
      }
      expect(shown).toEqual([]);
    });

    it('refuses with confirmation_unavailable when nobody can be asked, and runtime_paused when paused', async () => {
      await workspaces.update(ws.config.id, { policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      await expect(runner.run(call('write_file', { path: 'n.txt', content: 'x' }), sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'confirmation_unavailable' },
      });
      await workspaces.update(ws.config.id, { paused: true });
      await expect(runner.run(call('read_file', { path: 'hello.txt' }), sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'runtime_paused' },
      });
      expect(runs.write_file).toBeUndefined();
      expect(runs.read_file).toBeUndefined();
    });
  });

  describe('standing allowances', () => {
    it('a folder allowance never covers a write that a link inside it leads out of the folder', async () => {
      await workspaces.update(ws.config.id, { policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      await mkdir(join(base, 'ws', 'docs'));
      await mkdir(join(base, 'ws', 'src'));
      await writeFile(join(base, 'ws', 'src', 'main.js'), 'm');
      await symlink(join(base, 'ws', 'src'), join(base, 'ws', 'docs', 'to-src'));
      await symlink(join(base, 'ws', 'src', 'main.js'), join(base, 'ws', 'docs', 'main.js'));
      await ws.addAllowance({ kind: 'path', path: 'docs', folder: true }, null);
      const asked: ConfirmationRequest[] = [];
      broker.addFrontend({
        present: (req) => {
          asked.push(req);
          queueMicrotask(() => broker.answer({ confirmationId: req.id, decision: 'deny' }));
        },
        dismiss() {},
      });
      expect(await runner.run(call('write_file', { path: 'docs/readme.md', content: 'x' }), sink())).toMatchObject({
        ok: true,
      });
      for (const path of ['docs/to-src/evil.js', 'docs/main.js', 'docs/../src/x.js']) {
        const result = await runner.run(call('write_file', { path, content: 'x' }), sink());
        expect(result, path).toMatchObject({ ok: false, error: { code: 'confirmation_denied' } });
      }
      expect(asked).toHaveLength(3);
      // A delete inside the folder is not a write or an edit: it asks too.
      await writeFile(join(base, 'ws', 'docs', 'old.md'), 'o');
      expect(await runner.run(call('delete', { path: 'docs/old.md' }), sink())).toMatchObject({ ok: false });
      expect(asked).toHaveLength(4);
      const [entry] = await audit.list({ tool: 'write_file', outcome: 'ok', limit: 1 });
      expect(entry).toMatchObject({ decision: 'remembered', rule: { covers: expect.stringContaining('docs/') } });
    });
  });

  describe('dispose', () => {
    it('ends running calls and refuses new ones', async () => {
      const pending = runner.run(call('run_command', { command: 'forever' }), sink());
      await until(() => parked.length === 1, 'the command to start');
      await runner.dispose();
      await expect(pending).resolves.toMatchObject({ ok: false, error: { code: 'unavailable' } });
      await expect(runner.run(call('read_file', { path: 'hello.txt' }), sink())).resolves.toMatchObject({
        ok: false,
        error: { code: 'unavailable' },
      });
    });
  });
});

describe('CallRunner with the sandbox', () => {
  const unsandboxed = {
    sandboxed: false,
    engine: 'bubblewrap' as const,
    reason: 'bubblewrap (bwrap) is not installed',
    network: { mode: 'internet' as const },
    hidden: [],
  };

  it('asks before an unsandboxed command although shell is allow, and the question says it is not sandboxed', async () => {
    const asked: ConfirmationRequest[] = [];
    broker.addFrontend({
      present: (req) => {
        asked.push(req);
        queueMicrotask(() => broker.answer({ confirmationId: req.id, decision: 'allow_once' }));
      },
      dismiss: () => undefined,
    });
    const guarded = new CallRunner({
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
      confinement: () => unsandboxed,
    });
    try {
      const pending = guarded.run(call('run_command', { command: 'make' }), sink());
      await until(() => parked.length === 1, 'the command to run');
      parked[0]!.release();
      await expect(pending).resolves.toMatchObject({ ok: true });
      expect(asked).toHaveLength(1);
      expect(asked[0]!.detail).toMatchObject({
        kind: 'shell',
        command: 'make',
        sandbox: { sandboxed: false, reason: 'bubblewrap (bwrap) is not installed' },
      });
      expect((asked[0]!.detail as { sandbox: { summary: string } }).sandbox.summary).toMatch(/^Not sandboxed/);
    } finally {
      await guarded.dispose();
    }
  });

  it('runs a sandboxed command under shell=allow without asking', async () => {
    const guarded = new CallRunner({
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
      confinement: () => ({ ...unsandboxed, sandboxed: true, hidden: ['/home/me/.ssh'] }),
    });
    try {
      const pending = guarded.run(call('run_command', { command: 'make' }), sink());
      await until(() => parked.length === 1, 'the command to run');
      parked[0]!.release();
      await expect(pending).resolves.toMatchObject({ ok: true });
    } finally {
      await guarded.dispose();
    }
  });
});
