import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '@tether/shared';
import { AUDIT_FILE, AuditLog } from './audit-log.js';
import { summarizeArgs } from './audit-summary.js';

let dir: string;
let log: AuditLog | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-audit-'));
});
afterEach(async () => {
  await log?.dispose();
  log = undefined;
  await rm(dir, { recursive: true, force: true });
});

function entry(n: number, extra: Partial<Omit<AuditEntry, 'id' | 'time'>> = {}): Omit<AuditEntry, 'id' | 'time'> {
  return {
    workspaceId: 'ws_a',
    workspaceName: 'A',
    callId: `call_${n}`,
    caller: 'agent',
    tool: 'read_file',
    summary: `file-${n}.txt`,
    decision: 'allowed',
    outcome: 'ok',
    durationMs: 3,
    ...extra,
  };
}

describe('AuditLog', () => {
  describe('append', () => {
    it('writes one JSON line per call with an id and time, and emits appended', async () => {
      log = await AuditLog.open(dir);
      const seen: AuditEntry[] = [];
      log.on('appended', (e) => seen.push(e));
      const written = await log.append(entry(1));
      expect(written.id).toMatch(/^aud_/);
      expect(Date.parse(written.time)).not.toBeNaN();
      expect(seen).toEqual([written]);
      const lines = (await readFile(join(dir, AUDIT_FILE), 'utf8')).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual([written]);
    });

    it('writes appends made at once in call order, each file under maxBytes, and answers each', async () => {
      log = await AuditLog.open(dir, { maxBytes: 4096, maxFiles: 50 });
      const seen: string[] = [];
      log.on('appended', (e) => seen.push(e.callId));
      const written = await Promise.all(Array.from({ length: 300 }, (_, i) => log!.append(entry(i))));
      expect(written.map((e) => e.callId)).toEqual(Array.from({ length: 300 }, (_, i) => `call_${i}`));
      expect(seen).toEqual(written.map((e) => e.callId));
      const files = await readdir(dir);
      for (const f of files) expect((await readFile(join(dir, f))).length).toBeLessThanOrEqual(4096);
      const all = await log.list({ limit: 1000 });
      expect(all.map((e) => e.callId)).toEqual(written.map((e) => e.callId).reverse());
    });

    it('refuses appends after dispose but writes the ones made before it', async () => {
      log = await AuditLog.open(dir);
      const before = log.append(entry(1));
      const closing = log.dispose();
      await expect(log.append(entry(2))).rejects.toThrow(/closed/);
      await closing;
      await before;
      const lines = (await readFile(join(dir, AUDIT_FILE), 'utf8')).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).callId)).toEqual(['call_1']);
      log = undefined;
    });

    it('rotates by size and keeps at most maxFiles files', async () => {
      log = await AuditLog.open(dir, { maxBytes: 2048, maxFiles: 3 });
      for (let i = 0; i < 60; i++) await log.append(entry(i));
      const files = (await readdir(dir)).sort();
      expect(files).toEqual(['audit.1.jsonl', 'audit.2.jsonl', 'audit.jsonl']);
      for (const f of files) expect((await readFile(join(dir, f))).length).toBeLessThanOrEqual(2048);
      const all = await log.list({ limit: 1000 });
      // Newest first, contiguous: the oldest entries were rotated away, never the newest.
      expect(all[0]!.callId).toBe('call_59');
      const numbers = all.map((e) => Number(e.callId.slice(5)));
      expect(numbers).toEqual(numbers.map((_, i) => 59 - i));
      expect(numbers.length).toBeLessThan(60);
    });
  });

  describe('list', () => {
    it('filters by workspace, tool and outcome, newest first, across rotated files, up to the limit', async () => {
      log = await AuditLog.open(dir, { maxBytes: 1500, maxFiles: 10 });
      for (let i = 0; i < 30; i++) {
        await log.append(
          entry(i, {
            workspaceId: i % 2 === 0 ? 'ws_a' : 'ws_b',
            tool: i % 3 === 0 ? 'write_file' : 'read_file',
            outcome: i % 5 === 0 ? 'error' : 'ok',
            ...(i % 5 === 0 ? { errorCode: 'confirmation_denied' as const } : {}),
          }),
        );
      }
      expect((await readdir(dir)).length).toBeGreaterThan(2);
      const a = await log.list({ workspaceId: 'ws_a', limit: 100 });
      expect(a.map((e) => e.callId)).toEqual(
        [28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0].map((n) => `call_${n}`),
      );
      const writesFailed = await log.list({ tool: 'write_file', outcome: 'error', limit: 100 });
      expect(writesFailed.map((e) => e.callId)).toEqual(['call_15', 'call_0']);
      expect(writesFailed[0]!.errorCode).toBe('confirmation_denied');
      expect((await log.list({ limit: 4 })).map((e) => e.callId)).toEqual(['call_29', 'call_28', 'call_27', 'call_26']);
    });

    it('reads entries written by an earlier run and skips a torn last line', async () => {
      log = await AuditLog.open(dir);
      await log.append(entry(1));
      await log.dispose();
      const { appendFile } = await import('node:fs/promises');
      await appendFile(join(dir, AUDIT_FILE), '{"id":"aud_torn","ti');
      log = await AuditLog.open(dir);
      await log.append(entry(2));
      expect((await log.list({ limit: 10 })).map((e) => e.callId)).toEqual(['call_2', 'call_1']);
    });
  });
});

describe('summarizeArgs', () => {
  it('names paths and commands but never contents, edit texts or input', () => {
    expect(summarizeArgs('write_file', { path: 'a.txt', content: 'SECRET' })).toBe('a.txt (6 chars)');
    expect(summarizeArgs('edit_file', { path: 'b.ts', edits: [{ oldText: 'SECRET', newText: 'x' }] })).toBe(
      'b.ts (1 edit)',
    );
    expect(summarizeArgs('shell_write', { sessionId: 's1', input: 'password\n' })).toBe('session s1, 9 chars of input');
    expect(summarizeArgs('run_command', { command: 'npm test', cwd: 'pkg', env: { TOKEN: 'SECRET' } })).toBe(
      'npm test (in pkg)',
    );
    expect(summarizeArgs('move', { from: 'a', to: 'b' })).toBe('a → b');
    expect(summarizeArgs('list_dir', {})).toBe('.');
    expect(summarizeArgs('run_command', { command: 'x'.repeat(1000) }).length).toBeLessThanOrEqual(300);
    expect(summarizeArgs('read_file', 'garbage')).toBe('');
  });
});
