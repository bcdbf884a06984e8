import { watch } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError, errorValue, type CallFrame, type Result } from '@tether/shared';
import { AuditLog } from '../audit/audit-log.js';
import { ConfigStore } from '../config/config-store.js';
import { createFsTools } from '../fs/fs-tools.js';
import { previewWrite } from '../fs/write-preview.js';
import { ConfirmationBroker } from '../policy/confirmation-broker.js';
import type { ToolContext, ToolHandlers } from '../tools/tool-context.js';
import type { WorkspaceRuntime } from '../workspaces/workspace-runtime.js';
import { WorkspaceSet } from '../workspaces/workspace-set.js';
import { waitFor } from '../test-stack.js';
import { mountSmallDisk } from '../test-tmpfs.js';
import { CALL_JOURNAL_FILE, CallJournal, boundResult } from './call-journal.js';
import { CallRunner, type CallSink } from './call-runner.js';

let base: string;
const opened: CallJournal[] = [];

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tether-journal-')));
});
afterEach(async () => {
  for (const j of opened.splice(0)) await j.dispose();
  await rm(base, { recursive: true, force: true });
});

async function openJournal(options: Parameters<typeof CallJournal.open>[1] = {}): Promise<CallJournal> {
  const journal = await CallJournal.open(join(base, 'cfg'), options);
  opened.push(journal);
  return journal;
}
const journalText = () => readFile(join(base, 'cfg', CALL_JOURNAL_FILE), 'utf8');
const ok = (value: unknown): Result<unknown> => ({ ok: true, value });

describe('CallJournal', () => {
  describe('open', () => {
    it('removes the copy a compaction was writing when the host died, and nothing else', async () => {
      const dir = join(base, 'cfg');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${CALL_JOURNAL_FILE}.0123456789ab.tmp`), 'x'.repeat(1_000));
      await writeFile(join(dir, 'config.json.tmp'), '{}');
      await openJournal();
      expect((await readdir(dir)).sort()).toEqual([CALL_JOURNAL_FILE, 'config.json.tmp']);
    });

    it('creates calls.jsonl with mode 0600 and recalls started and finished calls after a reopen', async () => {
      const first = await openJournal();
      await first.started('call_a', 'fp-a');
      await first.started('call_b', 'fp-b');
      await first.finished('call_b', 'fp-b', ok({ path: 'b.txt', bytesWritten: 1, created: true }));
      expect((await stat(first.path)).mode & 0o777).toBe(0o600);

      // No dispose of the first: a crash leaves what was written.
      const second = await openJournal();
      expect(second.warnings).toEqual([]);
      expect(second.lookup('call_a')).toMatchObject({ fingerprint: 'fp-a', result: null });
      expect(second.lookup('call_b')).toMatchObject({
        fingerprint: 'fp-b',
        result: ok({ path: 'b.txt', bytesWritten: 1, created: true }),
      });
      expect(second.lookup('call_c')).toBeUndefined();
      // Compacted: one line per call.
      expect((await journalText()).trim().split('\n')).toHaveLength(2);
      expect((await stat(second.path)).mode & 0o777).toBe(0o600);
    });

    it('skips a torn last line and a damaged one with a warning; a call whose end line is torn stays unfinished', async () => {
      const first = await openJournal();
      await first.started('call_a', 'fp-a');
      await first.started('call_b', 'fp-b');
      await first.finished('call_a', 'fp-a', ok(1));
      await first.dispose();
      const file = join(base, 'cfg', CALL_JOURNAL_FILE);
      await writeFile(file, 'not json at all\n' + (await readFile(file, 'utf8')));
      await appendFile(file, '{"id":"call_b","fp":"fp-b","at":1,"result":{"ok":tr'); // torn by a crash

      const second = await openJournal();
      expect(second.warnings).toHaveLength(1);
      expect(second.warnings[0]).toMatch(/2 unreadable lines skipped/);
      expect(second.lookup('call_a')?.result).toEqual(ok(1));
      expect(second.lookup('call_b')).toMatchObject({ fingerprint: 'fp-b', result: null });
      // The file no longer ends in the torn line: a new record starts on a line of its own.
      await second.started('call_c', 'fp-c');
      const third = await openJournal();
      expect(third.warnings).toEqual([]);
      expect(third.lookup('call_c')).toMatchObject({ fingerprint: 'fp-c', result: null });
    });

    it('refuses records that are well-formed JSON but not journal records, such as an unknown error code', async () => {
      await mkdir(join(base, 'cfg'));
      await writeFile(
        join(base, 'cfg', CALL_JOURNAL_FILE),
        [
          '{"id":"call_x","fp":"f","at":' +
            Date.now() +
            ',"result":{"ok":false,"error":{"code":"nope","message":"m"}}}',
          '[1,2,3]',
          '{"id":"call_y","fp":"f"}',
          '',
        ].join('\n'),
      );
      const journal = await openJournal();
      expect(journal.warnings[0]).toMatch(/3 unreadable lines skipped/);
      expect(journal.lookup('call_x')).toBeUndefined();
    });

    it('drops entries past the retention, and the oldest finished ones past the byte cap, but never unfinished ones', async () => {
      let now = 1_000_000;
      const record = (id: string) => Buffer.byteLength(JSON.stringify({ id, fp: 'f', at: now, result: ok(id) })) + 1;
      const cap = 2 * record('f1') + Buffer.byteLength(JSON.stringify({ id: 'running', fp: 'f', at: now })) + 1;
      const first = await openJournal({ now: () => now, retentionMs: 10_000, maxBytes: cap });
      await first.started('old', 'f');
      await first.finished('old', 'f', ok('old'));
      now += 5_000;
      await first.started('running', 'f');
      for (const id of ['f1', 'f2', 'f3']) {
        await first.started(id, 'f');
        await first.finished(id, 'f', ok(id));
      }
      expect(first.lookup('f1')).toBeUndefined(); // the oldest finished one past the cap, at once
      now += 6_000; // `old` is past the retention; `running` and f2, f3 are not
      const second = await openJournal({ now: () => now, retentionMs: 10_000, maxBytes: cap });
      expect(second.lookup('old')).toBeUndefined();
      expect(second.lookup('f1')).toBeUndefined();
      expect(second.lookup('f2')?.result).toEqual(ok('f2'));
      expect(second.lookup('f3')?.result).toEqual(ok('f3'));
      expect(second.lookup('running')?.result).toBeNull();
      // The horizon line and three entries.
      expect((await journalText()).trim().split('\n')).toHaveLength(4);
      now += 20_000;
      expect(second.lookup('running')).toBeUndefined();
    });

    it('keeps thousands of entries for the whole window, then covers no first attempt older than it', async () => {
      let now = Date.UTC(2026, 0, 1);
      const journal = await openJournal({ now: () => now });
      const start = now;
      for (let i = 0; i < 3_000; i++) {
        await journal.started(`call_${i}`, 'f');
        await journal.finished(`call_${i}`, 'f', ok(i));
        now += 1_000; // 3,000 calls over 50 minutes
      }
      const reopened = await openJournal({ now: () => now });
      expect(reopened.lookup('call_0')?.result).toEqual(ok(0));
      expect(reopened.covers(start)).toBe(true);
      now = start + 23 * 3600_000;
      expect(reopened.lookup('call_0')?.result).toEqual(ok(0));
      now = start + 25 * 3600_000;
      expect(reopened.lookup('call_0')).toBeUndefined();
      expect(reopened.covers(start)).toBe(false);
      expect(reopened.covers(now - 60_000)).toBe(true);
    });

    it('raises its horizon over entries dropped for room, and keeps it across a reopen', async () => {
      let now = 5_000_000;
      const journal = await openJournal({ now: () => now, maxBytes: 2_000 });
      for (let i = 0; i < 40; i++) {
        await journal.started(`c${i}`, 'f');
        await journal.finished(`c${i}`, 'f', ok('x'.repeat(50)));
        now += 60 * 60_000;
      }
      expect(journal.lookup('c0')).toBeUndefined();
      expect(journal.covers(5_000_000 + 60 * 60_000)).toBe(false); // c1 went for room
      expect(journal.covers(now)).toBe(true);
      const reopened = await openJournal({ now: () => now, maxBytes: 2_000 });
      expect(reopened.covers(5_000_000 + 60 * 60_000)).toBe(false);
      expect(reopened.lookup('c39')?.result).toEqual(ok('x'.repeat(50)));
    });
  });

  describe('started', () => {
    it('puts every one of many concurrent starts on disk, each on its own line, before resolving', async () => {
      const journal = await openJournal();
      await Promise.all(Array.from({ length: 50 }, (_, i) => journal.started(`call_${i}`, `fp${i}`)));
      const lines = (await journalText()).trim().split('\n');
      expect(lines).toHaveLength(50);
      expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(50);
    });

    it('rejects once the journal is closed', async () => {
      const journal = await openJournal();
      await journal.dispose();
      await expect(journal.started('call_a', 'f')).rejects.toThrow(/closed/);
      expect(journal.lookup('call_a')).toBeUndefined();
    });
  });

  describe('finished', () => {
    it('compacts the file once it has grown past the threshold', async () => {
      let now = 1_000_000;
      const journal = await openJournal({ now: () => now, retentionMs: 5_000, compactBytes: 2_000 });
      for (let i = 0; i < 20; i++) {
        await journal.started(`call_${i}`, 'f');
        await journal.finished(`call_${i}`, 'f', ok('x'.repeat(100)));
        now += 1_000; // the early ones expire as the later ones are written
      }
      const text = await journalText();
      expect(text.trim().split('\n').length).toBeLessThan(40); // 40 records were written
      expect(text).not.toContain('"call_0"'); // expired, and dropped by a compaction
      expect(journal.lookup('call_19')?.result).toEqual(ok('x'.repeat(100)));
      expect((await stat(journal.path)).mode & 0o777).toBe(0o600);
    });

    it('after a failed compaction, waits for as much growth again instead of rewriting the file at every record', async () => {
      const journal = await openJournal({ compactBytes: 1_000 });
      const dir = join(base, 'cfg');
      // The rename over the journal fails from now on (a folder in its place); appends still reach the open file.
      await rm(journal.path);
      await mkdir(journal.path);
      await writeFile(join(journal.path, 'keep'), '');
      const attempts = new Set<string>();
      let sentinelSeen = false;
      const watcher = watch(dir, (_event, name) => {
        if (name?.endsWith('.tmp')) attempts.add(name);
        if (name === 'sentinel') sentinelSeen = true;
      });
      try {
        await journal.finished('call_big', 'f', ok('x'.repeat(1_200))); // past the threshold: one attempt
        for (let i = 0; i < 5; i++) await journal.started(`call_${i}`, 'f'); // ~400 bytes more: none
        // inotify reports in order: once the sentinel is seen, every earlier attempt has been too.
        await writeFile(join(dir, 'sentinel'), '');
        await waitFor(() => sentinelSeen, 'the sentinel file event');
        expect(attempts.size).toBe(1);
      } finally {
        watcher.close();
      }
    });
  });
});

describe('boundResult', () => {
  it('keeps a result that fits unchanged', () => {
    const result = ok({ path: 'a.txt', bytesWritten: 3, created: true });
    expect(boundResult(result, 1024)).toBe(result);
  });

  it("cuts a command's long output to head and tail, says so, and sets truncated", () => {
    const output = 'H'.repeat(5_000) + 'M'.repeat(50_000) + 'T'.repeat(5_000);
    const bounded = boundResult(
      ok({ exitCode: 0, signal: null, output, truncated: false, durationMs: 5, timedOut: false }),
      16 * 1024,
    );
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThanOrEqual(16 * 1024);
    const value = (bounded as { value: { output: string; truncated: boolean; exitCode: number } }).value;
    expect(value.exitCode).toBe(0);
    expect(value.truncated).toBe(true);
    expect(value.output.startsWith('HHHH')).toBe(true);
    expect(value.output.endsWith('TTTT')).toBe(true);
    expect(value.output).toMatch(/characters not kept after the desktop restarted/);
  });

  it('cuts output made of escape characters (6 bytes each in JSON) to fit too', () => {
    const bounded = boundResult(ok({ output: '\u001b'.repeat(60_000), truncated: false }), 16 * 1024);
    expect(bounded.ok).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThanOrEqual(16 * 1024);
  });

  it('stores a large result with nothing to cut as an interrupted error that says why', () => {
    const bounded = boundResult(ok({ sessions: Array.from({ length: 2_000 }, (_, i) => ({ id: i })) }), 1024);
    expect(bounded).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'interrupted', message: expect.stringMatching(/too large to keep/) }),
    });
  });
});

describe('CallRunner with a CallJournal', () => {
  let workspaces: WorkspaceSet;
  let audit: AuditLog;
  let broker: ConfirmationBroker;
  let ws: WorkspaceRuntime;
  let runs: Record<string, number>;
  let parked: Array<{ ctx: ToolContext; release: () => void }>;
  const runners: CallRunner[] = [];

  /** The real fs tools counting runs, and a `run_command` parked until released or aborted. */
  function handlers(): ToolHandlers {
    const real = createFsTools();
    return {
      ...real,
      read_file: (args, ctx) => {
        runs.read_file = (runs.read_file ?? 0) + 1;
        return real.read_file!(args, ctx);
      },
      write_file: (args, ctx) => {
        runs.write_file = (runs.write_file ?? 0) + 1;
        return real.write_file!(args, ctx);
      },
      run_command: (args, ctx) => {
        runs.run_command = (runs.run_command ?? 0) + 1;
        return new Promise((resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(new TetherError('cancelled')), { once: true });
          parked.push({
            ctx,
            release: () =>
              resolve({ exitCode: 0, signal: null, output: 'done', truncated: false, durationMs: 1, timedOut: false }),
          });
        });
      },
    };
  }

  beforeEach(async () => {
    await mkdir(join(base, 'ws'));
    runs = {};
    parked = [];
    const config = await ConfigStore.open(join(base, 'cfg'));
    workspaces = await WorkspaceSet.open(config, { fileEvents: false, handlers: handlers() });
    ws = await workspaces.add({ root: join(base, 'ws'), policy: { read: 'allow', write: 'allow', shell: 'allow' } });
    audit = await AuditLog.open(join(base, 'cfg'));
    broker = new ConfirmationBroker({ timeoutMs: 5_000 });
  });
  afterEach(async () => {
    for (const p of parked) p.release();
    for (const r of runners.splice(0)) await r.dispose();
    broker.dispose();
    await workspaces.dispose();
    await audit.dispose();
  });

  /** A runner on a freshly opened journal of the config dir: what a host started again has. */
  async function restartedRunner(): Promise<CallRunner> {
    const runner = new CallRunner({
      journal: await openJournal(),
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
      onInternalError: () => undefined,
    });
    runners.push(runner);
    return runner;
  }
  const frame = (id: string, tool: CallFrame['tool'], args: unknown): CallFrame => ({
    type: 'call',
    id,
    runtimeId: 'rt_1',
    workspaceId: ws.config.id,
    tool,
    args,
    deadline: Date.now() + 60_000,
    caller: 'agent',
  });
  const sink: CallSink = { progress: () => true, whenDrained: () => Promise.resolve() };

  it('answers a write re-delivered after a restart with its recorded result, without writing again', async () => {
    const first = await restartedRunner();
    const call = frame('call_w', 'write_file', { path: 'a.txt', content: 'one' });
    const done = await first.run(call, sink);
    expect(done.ok).toBe(true);
    await writeFile(join(base, 'ws', 'a.txt'), 'changed since');

    const second = await restartedRunner(); // the first is never disposed: as after a crash
    expect(await second.run(call, sink)).toEqual(done);
    expect(runs.write_file).toBe(1);
    expect(await readFile(join(base, 'ws', 'a.txt'), 'utf8')).toBe('changed since');
  });

  it('answers interrupted for a command that was running when the host died, audits it once, and never runs it again', async () => {
    const first = await restartedRunner();
    const call = frame('call_c', 'run_command', { command: 'make deploy' });
    void first.run(call, sink);
    await waitFor(() => parked.length === 1, 'the command to run');

    const second = await restartedRunner();
    const answer = await second.run(call, sink);
    expect(answer).toEqual({ ok: false, error: errorValue('interrupted') });
    expect(await second.run(call, sink)).toEqual(answer);
    const third = await restartedRunner();
    expect(await third.run(call, sink)).toEqual(answer);
    expect(runs.run_command).toBe(1);
    const entries = await audit.list({ limit: 10 });
    expect(entries.filter((e) => e.callId === 'call_c' && e.errorCode === 'interrupted')).toHaveLength(1);
  });

  it('answers interrupted after a restart for a command the host was shut down in the middle of', async () => {
    const journal = await openJournal();
    const first = new CallRunner({
      journal,
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
    });
    const call = frame('call_s', 'run_command', { command: 'npm publish' });
    const running = first.run(call, sink);
    await waitFor(() => parked.length === 1, 'the command to run');
    await first.dispose();
    expect((await running).ok).toBe(false);
    await journal.dispose();

    const second = await restartedRunner();
    expect(await second.run(call, sink)).toEqual({ ok: false, error: errorValue('interrupted') });
    expect(runs.run_command).toBe(1);
  });

  it('refuses a known id with other arguments after a restart as a conflict, without running it', async () => {
    const first = await restartedRunner();
    await first.run(frame('call_x', 'write_file', { path: 'x.txt', content: 'one' }), sink);
    const second = await restartedRunner();
    const other = await second.run(frame('call_x', 'write_file', { path: 'x.txt', content: 'two' }), sink);
    expect(other).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(runs.write_file).toBe(1);
    expect(await readFile(join(base, 'ws', 'x.txt'), 'utf8')).toBe('one');
  });

  it('answers from the journal in the same process once memory has let the result go', async () => {
    const runner = new CallRunner({
      journal: await openJournal(),
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
      recentResultsMaxBytes: 0,
    });
    runners.push(runner);
    const call = frame('call_m', 'write_file', { path: 'm.txt', content: 'once' });
    const done = await runner.run(call, sink);
    await runner.run(frame('call_other', 'write_file', { path: 'o.txt', content: 'o' }), sink); // prunes call_m
    expect(await runner.run(call, sink)).toEqual(done);
    expect(runs.write_file).toBe(2);
  });

  it('does not journal reads: a read re-delivered after a restart runs again', async () => {
    await writeFile(join(base, 'ws', 'r.txt'), 'r');
    const first = await restartedRunner();
    const call = frame('call_r', 'read_file', { path: 'r.txt' });
    expect((await first.run(call, sink)).ok).toBe(true);
    expect(await journalText()).not.toContain('call_r');
    const second = await restartedRunner();
    expect((await second.run(call, sink)).ok).toBe(true);
    expect(runs.read_file).toBe(2);
  });

  it('refuses a write it cannot record first, without running it', async () => {
    const journal = await openJournal();
    const runner = new CallRunner({
      journal,
      workspaces,
      broker,
      audit,
      handlers: handlers(),
      preview: previewWrite,
      onInternalError: () => undefined,
    });
    runners.push(runner);
    await journal.dispose(); // its file is closed: `started` fails as a full disk would
    const result = await runner.run(frame('call_f', 'write_file', { path: 'f.txt', content: 'x' }), sink);
    expect(result).toMatchObject({ ok: false, error: { code: 'internal', message: expect.stringMatching(/not run/) } });
    expect(runs.write_file).toBeUndefined();
  });
  it('refuses with idempotency_expired, never running it, a write first sent before the window the journal covers', async () => {
    const runner = await restartedRunner();
    const day = 24 * 3600_000;
    const old = {
      ...frame('call_old', 'write_file', { path: 'old.txt', content: 'x' }),
      firstAt: Date.now() - day - 60_000,
    };
    expect(await runner.run(old, sink)).toMatchObject({ ok: false, error: { code: 'idempotency_expired' } });
    expect(await runner.run(old, sink)).toMatchObject({ ok: false, error: { code: 'idempotency_expired' } });
    expect(runs.write_file).toBeUndefined();
    // Within the window an unknown id is a call that never reached this desktop: it runs.
    const recent = {
      ...frame('call_new', 'write_file', { path: 'new.txt', content: 'x' }),
      firstAt: Date.now() - day / 2,
    };
    expect((await runner.run(recent, sink)).ok).toBe(true);
    // A read is safe to run again, however old.
    await writeFile(join(base, 'ws', 'r.txt'), 'r');
    const read = { ...frame('call_oldread', 'read_file', { path: 'r.txt' }), firstAt: 1 };
    expect((await runner.run(read, sink)).ok).toBe(true);
    expect(runs.write_file).toBe(1);
  });

  it('answers a write refused for a full config disk with that same no_space answer ever after, also after a restart', async (ctx) => {
    const disk = await mountSmallDisk('1m');
    if ('skip' in disk) return ctx.skip(disk.skip);
    try {
      const cfg = join(disk.dir, 'cfg');
      const open = () => CallJournal.open(cfg);
      const journal = await open();
      const runnerOn = (j: CallJournal) => {
        const r = new CallRunner({
          journal: j,
          workspaces,
          broker,
          audit,
          handlers: handlers(),
          preview: previewWrite,
          recentResultsMaxBytes: 0, // answers come from the journal, not from memory
          onInternalError: () => undefined,
        });
        runners.push(r);
        return r;
      };
      const runner = runnerOn(journal);
      const filler = await disk.fill();
      const call = frame('call_full', 'write_file', { path: 'full.txt', content: 'x' });
      const refused = await runner.run(call, sink);
      expect(refused).toMatchObject({
        ok: false,
        error: { code: 'no_space', message: expect.stringMatching(/not run/) },
      });
      expect(runs.write_file).toBeUndefined();
      await unlink(filler); // room again
      expect(await runner.run(call, sink)).toEqual(refused);
      expect((await runner.run(frame('call_next', 'write_file', { path: 'n.txt', content: 'n' }), sink)).ok).toBe(true);
      await journal.dispose();

      const again = runnerOn(await open());
      expect(await again.run(call, sink)).toEqual(refused);
      expect(runs.write_file).toBe(1);
    } finally {
      for (const r of runners.splice(0)) await r.dispose();
      await disk.dispose();
    }
  });
});
