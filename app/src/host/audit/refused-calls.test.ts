import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_REFUSED_NOTICES_PER_MINUTE, REFUSED_NOTICE_WINDOW_MS, type RefusedFrame } from '@tether/shared';
import { AuditLog } from './audit-log.js';
import { RefusedCallRecorder } from './refused-calls.js';

let dir: string;
let audit: AuditLog;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-refused-'));
  audit = await AuditLog.open(dir);
});
afterEach(async () => {
  await audit.dispose();
  await rm(dir, { recursive: true, force: true });
});

function notice(n: number, extra: Partial<RefusedFrame> = {}): RefusedFrame {
  return {
    type: 'refused',
    id: `call_${n}`,
    runtimeId: 'rt_1',
    workspaceId: 'ws_1',
    tool: 'write_file',
    caller: 'agent',
    code: 'runtime_paused',
    at: 1,
    dropped: 0,
    ...extra,
  };
}

describe('RefusedCallRecorder', () => {
  it("records a refusal in the activity log under this desktop's workspace name", async () => {
    const recorder = new RefusedCallRecorder(audit, (id) => (id === 'ws_1' ? 'site' : undefined));
    expect(recorder.record(notice(1))).toBe(true);
    expect(recorder.record(notice(2, { code: 'tool_disabled', tool: 'delete' }))).toBe(true);
    expect(recorder.record(notice(3, { workspaceId: 'ws_other' }))).toBe(false);
    const entries = await audit.list({ limit: 10 });
    expect(entries).toHaveLength(2);
    expect(entries[1]).toMatchObject({
      workspaceName: 'site',
      callId: 'call_1',
      decision: 'paused',
      outcome: 'error',
      errorCode: 'runtime_paused',
      refusedAt: 'relay',
    });
    expect(entries[0]).toMatchObject({ decision: 'disabled', errorCode: 'tool_disabled', tool: 'delete' });
  });

  it('records no more than the limit per window whatever the relay sends, and says how many it left out', async () => {
    let now = 1_000_000;
    const recorder = new RefusedCallRecorder(
      audit,
      () => 'site',
      () => now,
    );
    let recorded = 0;
    for (let i = 0; i < MAX_REFUSED_NOTICES_PER_MINUTE + 40; i++) if (recorder.record(notice(i))) recorded++;
    expect(recorded).toBe(MAX_REFUSED_NOTICES_PER_MINUTE);
    now += REFUSED_NOTICE_WINDOW_MS;
    expect(recorder.record(notice(999, { dropped: 2 }))).toBe(true);
    const [latest] = await audit.list({ limit: 1 });
    expect(latest?.summary).toMatch(/and 42 more refused/);
  });
});
