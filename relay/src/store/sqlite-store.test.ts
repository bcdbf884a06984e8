import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@tether/shared';
import { DATABASE_FILE, SqliteStore } from './sqlite-store.js';
import type { RuntimeUpsert } from './store.js';

let dir: string;
let store: SqliteStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-store-'));
  store = new SqliteStore(dir);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function runtime(orgId: string, id: string, overrides: Partial<RuntimeUpsert> = {}): RuntimeUpsert {
  return {
    id,
    orgId,
    deviceId: 'dev',
    deviceName: 'Laptop',
    deviceOs: 'linux',
    workspaceId: id,
    name: id,
    description: '',
    capabilities: { policy: { ...DEFAULT_POLICY }, tools: ['stat'] },
    state: 'running',
    reason: null,
    archivedBy: null,
    lastSeenAt: new Date().toISOString(),
    ...overrides,
  };
}

describe('SqliteStore', () => {
  describe('constructor', () => {
    it('uses WAL and runs its migrations once, keeping data across reopening', async () => {
      const org = await store.createOrg('acme');
      store.close();
      store = new SqliteStore(dir);
      expect(await store.getOrgBySlug('acme')).toEqual(org);
      const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(1);
      db.close();
    });
  });

  describe('createOrg', () => {
    it('refuses a second org with the same slug with already_exists', async () => {
      await store.createOrg('acme');
      await expect(store.createOrg('acme')).rejects.toMatchObject({ code: 'already_exists' });
    });
  });

  describe('stopAllLiveRuntimes', () => {
    it('stops running, paused and error runtimes left by a crashed process, and leaves archived ones', async () => {
      const org = await store.createOrg('acme');
      await store.upsertRuntime(runtime(org.id, 'rt_a'));
      await store.upsertRuntime(runtime(org.id, 'rt_b', { state: 'error', reason: 'gone' }));
      await store.upsertRuntime(runtime(org.id, 'rt_c', { state: 'archived', archivedBy: 'platform', reason: 'archived by the platform' }));
      expect(await store.stopAllLiveRuntimes(new Date().toISOString())).toBe(2);
      expect((await store.listRuntimes(org.id)).map((r) => [r.id, r.state, r.reason])).toEqual([
        ['rt_a', 'stopped', null],
        ['rt_b', 'stopped', null],
        ['rt_c', 'archived', 'archived by the platform'],
      ]);
    });
  });

  describe('pruneCalls', () => {
    it('keeps the call log bounded by count and by age, newest first', async () => {
      const now = Date.now();
      for (let i = 0; i < 10; i++) {
        await store.insertCall({ id: `call_${i}`, orgId: 'o', runtimeId: 'r', tool: 'stat', caller: 'c', tokenId: 't', startedAt: new Date(now - (10 - i) * 60_000).toISOString(), finishedAt: null, outcome: null, durationMs: null });
      }
      // Older than 5.5 minutes: calls 0..4 go.
      expect(await store.pruneCalls(100, new Date(now - 5.5 * 60_000).toISOString())).toBe(5);
      // At most 3 rows: the newest three stay.
      expect(await store.pruneCalls(3, new Date(0).toISOString())).toBe(2);
      expect(await store.getCall('call_6')).toBeNull();
      expect(await store.getCall('call_7')).not.toBeNull();
      expect(await store.getCall('call_9')).not.toBeNull();
    });
  });
});
