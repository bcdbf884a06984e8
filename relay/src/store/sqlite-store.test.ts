import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@tether/shared';
import { MIGRATIONS } from './sqlite-migrations.js';
import { DATABASE_FILE, SqliteStore } from './sqlite-store.js';
import type { DeviceHello, RuntimeUpsert } from './store.js';
import { storeConformance } from './store-conformance.js';

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
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      db.close();
    });
  });

  describe('createOrg', () => {
    it('refuses a second org with the same slug with already_exists', async () => {
      await store.createOrg('acme');
      await expect(store.createOrg('acme')).rejects.toMatchObject({ code: 'already_exists' });
    });
  });

  describe('revokeToken', () => {
    it("revokes a platform key's grants with it in one go, and nothing else", async () => {
      const org = await store.createOrg('acme');
      const insert = (id: string, kind: 'platform' | 'grant', parentId: string | null) =>
        store.insertToken({
          id,
          orgId: org.id,
          kind,
          name: id,
          hash: `hash_${id}`,
          createdAt: new Date().toISOString(),
          expiresAt: kind === 'grant' ? new Date(Date.now() + 60_000).toISOString() : null,
          runtimeIds: kind === 'grant' ? ['rt_1'] : null,
          tools: null,
          parentId,
        });
      await insert('key_a', 'platform', null);
      await insert('key_b', 'platform', null);
      await insert('grt_a1', 'grant', 'key_a');
      await insert('grt_a2', 'grant', 'key_a');
      await insert('grt_b1', 'grant', 'key_b');
      expect((await store.getToken('grt_a1'))?.parentId).toBe('key_a');

      // Revoking a grant leaves its key alone.
      expect(await store.revokeToken('grt_a2', '2026-01-01T00:00:00.000Z')).toBe(true);
      expect((await store.getToken('key_a'))?.revokedAt).toBeNull();

      expect(await store.revokeToken('key_a', '2026-01-02T00:00:00.000Z')).toBe(true);
      expect((await store.getToken('key_a'))?.revokedAt).toBe('2026-01-02T00:00:00.000Z');
      expect((await store.getToken('grt_a1'))?.revokedAt).toBe('2026-01-02T00:00:00.000Z');
      expect((await store.getToken('grt_a2'))?.revokedAt).toBe('2026-01-01T00:00:00.000Z');
      expect((await store.getToken('key_b'))?.revokedAt).toBeNull();
      expect((await store.getToken('grt_b1'))?.revokedAt).toBeNull();
      expect(await store.revokeToken('key_a', '2026-01-03T00:00:00.000Z')).toBe(false);
    });
  });

  describe('claimDevice', () => {
    async function orgWithTokens(...names: string[]): Promise<{ orgId: string; ids: string[] }> {
      const org = await store.createOrg('acme');
      const ids = names.map((name) => `tok_${name}`);
      for (const id of ids)
        await store.insertToken({
          id,
          orgId: org.id,
          kind: 'desktop',
          name: id,
          hash: `hash_${id}`,
          createdAt: new Date().toISOString(),
          expiresAt: null,
          runtimeIds: null,
          tools: null,
          parentId: null,
        });
      return { orgId: org.id, ids };
    }
    const hello = (orgId: string, tokenId: string, deviceId = 'dev'): DeviceHello => ({
      orgId,
      deviceId,
      name: 'Laptop',
      os: 'linux',
      appVersion: '1.0.0',
      lastSeenAt: new Date().toISOString(),
      tokenId,
    });

    it('binds a new device to the first token and refuses another valid token, for that device only', async () => {
      const { orgId, ids } = await orgWithTokens('a', 'b');
      expect(await store.claimDevice(hello(orgId, ids[0]!))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(hello(orgId, ids[0]!))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(hello(orgId, ids[1]!))).toEqual({ ok: false, boundTokenId: ids[0] });
      expect(await store.deviceTokenId(orgId, 'dev')).toBe(ids[0]);
      expect(await store.claimDevice(hello(orgId, ids[1]!, 'other'))).toEqual({ ok: true, tookOverFrom: null });
    });

    it('moves a device whose token was revoked, has expired or is gone', async () => {
      const { orgId, ids } = await orgWithTokens('a', 'b', 'c', 'd');
      await store.claimDevice(hello(orgId, ids[0]!));
      await store.revokeToken(ids[0]!, new Date().toISOString());
      expect(await store.claimDevice(hello(orgId, ids[1]!))).toEqual({ ok: true, tookOverFrom: ids[0] });
      expect(await store.deviceTokenId(orgId, 'dev')).toBe(ids[1]);
      // Raw writes: desktop tokens are never made with an expiry nor deleted, but a binding must not outlive either.
      const db = new Database(join(dir, DATABASE_FILE));
      db.prepare('UPDATE tokens SET expires_at = ? WHERE id = ?').run(
        new Date(Date.now() - 1000).toISOString(),
        ids[1],
      );
      expect(await store.claimDevice(hello(orgId, ids[2]!))).toEqual({ ok: true, tookOverFrom: ids[1] });
      db.pragma('foreign_keys = OFF');
      db.prepare('DELETE FROM tokens WHERE id = ?').run(ids[2]);
      db.close();
      expect(await store.claimDevice(hello(orgId, ids[3]!))).toEqual({ ok: true, tookOverFrom: ids[2] });
    });

    it('binds a device recorded before the binding existed to the first token that says hello after the upgrade', async () => {
      store.close();
      await rm(dir, { recursive: true, force: true });
      // A database as the first release left it: one migration, a device row without a token.
      dir = await mkdtemp(join(tmpdir(), 'tether-store-'));
      const db = new Database(join(dir, DATABASE_FILE));
      db.exec(MIGRATIONS[0]!);
      db.pragma('user_version = 1');
      db.prepare("INSERT INTO orgs (id, slug, created_at) VALUES ('org_1', 'acme', '2026-01-01T00:00:00.000Z')").run();
      for (const id of ['tok_a', 'tok_b'])
        db.prepare(
          "INSERT INTO tokens (id, org_id, kind, name, hash, created_at) VALUES (?, 'org_1', 'desktop', ?, ?, '2026-01-01T00:00:00.000Z')",
        ).run(id, id, `hash_${id}`);
      db.prepare(
        "INSERT INTO devices (org_id, device_id, name, os, app_version, last_seen_at) VALUES ('org_1', 'dev', 'Laptop', 'linux', '0.9.0', '2026-01-01T00:00:00.000Z')",
      ).run();
      db.close();

      store = new SqliteStore(dir);
      expect(await store.deviceTokenId('org_1', 'dev')).toBeNull();
      expect(await store.claimDevice(hello('org_1', 'tok_b'))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(hello('org_1', 'tok_a'))).toEqual({ ok: false, boundTokenId: 'tok_b' });
    });
  });

  describe('stopAllLiveRuntimes', () => {
    it('stops running, paused and error runtimes left by a crashed process, and leaves archived ones', async () => {
      const org = await store.createOrg('acme');
      await store.upsertRuntime(runtime(org.id, 'rt_a'));
      await store.upsertRuntime(runtime(org.id, 'rt_b', { state: 'error', reason: 'gone' }));
      await store.upsertRuntime(
        runtime(org.id, 'rt_c', { state: 'archived', archivedBy: 'platform', reason: 'archived by the platform' }),
      );
      expect(await store.stopAllLiveRuntimes(new Date().toISOString())).toBe(2);
      expect((await store.listRuntimes(org.id)).map((r) => [r.id, r.state, r.reason])).toEqual([
        ['rt_a', 'stopped', null],
        ['rt_b', 'stopped', null],
        ['rt_c', 'archived', 'archived by the platform'],
      ]);
    });
  });

  describe('insertCall and finishCall', () => {
    it('queues rows and outcomes in order until a flush, a read or close, and a repeated id keeps its newest attempt', async () => {
      const call = (id: string, startedAt: string) => ({
        id,
        orgId: 'o',
        runtimeId: 'r',
        tool: 'stat' as const,
        caller: 'c',
        tokenId: 't',
        startedAt,
        finishedAt: null,
        outcome: null,
        durationMs: null,
      });
      const batching = new SqliteStore(dir, () => undefined, 600_000);
      const reader = new Database(join(dir, DATABASE_FILE), { readonly: true });
      try {
        const rows = () => reader.prepare('SELECT id, outcome, started_at AS startedAt FROM calls ORDER BY id').all();
        await batching.insertCall(call('call_a', '2026-01-01T00:00:00.000Z'));
        await batching.finishCall('call_a', 'ok', '2026-01-01T00:00:01.000Z', 1000);
        await batching.insertCall(call('call_b', '2026-01-01T00:00:00.000Z'));
        expect(rows()).toEqual([]);
        batching.flushCalls();
        expect(rows()).toEqual([
          { id: 'call_a', outcome: 'ok', startedAt: '2026-01-01T00:00:00.000Z' },
          { id: 'call_b', outcome: null, startedAt: '2026-01-01T00:00:00.000Z' },
        ]);
        // A result for a written row, then a second attempt of call_a (idempotency key): the newest row wins.
        await batching.finishCall('call_b', 'cancelled', '2026-01-01T00:00:02.000Z', 2000);
        await batching.insertCall(call('call_a', '2026-01-01T00:01:00.000Z'));
        expect((await batching.getCall('call_b'))?.outcome).toBe('cancelled');
        await batching.finishCall('call_a', 'timeout', '2026-01-01T00:01:05.000Z', 5000);
        expect(rows()).toEqual([
          { id: 'call_a', outcome: null, startedAt: '2026-01-01T00:01:00.000Z' },
          { id: 'call_b', outcome: 'cancelled', startedAt: '2026-01-01T00:00:00.000Z' },
        ]);
        batching.close();
        expect(rows()[0]).toEqual({ id: 'call_a', outcome: 'timeout', startedAt: '2026-01-01T00:01:00.000Z' });
      } finally {
        reader.close();
        batching.close();
      }
    });
  });

  describe('pruneCalls', () => {
    it('keeps the call log bounded by count and by age, newest first', async () => {
      const now = Date.now();
      for (let i = 0; i < 10; i++) {
        await store.insertCall({
          id: `call_${i}`,
          orgId: 'o',
          runtimeId: 'r',
          tool: 'stat',
          caller: 'c',
          tokenId: 't',
          startedAt: new Date(now - (10 - i) * 60_000).toISOString(),
          finishedAt: null,
          outcome: null,
          durationMs: null,
        });
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

  describe('device keys', () => {
    const KEY_A = 'A'.repeat(43);
    const KEY_B = 'B'.repeat(43);
    async function orgAndToken(): Promise<{ orgId: string; tokenId: string }> {
      const org = await store.createOrg('acme');
      await store.insertToken({
        id: 'tok_a',
        orgId: org.id,
        kind: 'desktop',
        name: 'a',
        hash: 'hash_a',
        createdAt: new Date().toISOString(),
        expiresAt: null,
        runtimeIds: null,
        tools: null,
        parentId: null,
      });
      return { orgId: org.id, tokenId: 'tok_a' };
    }
    const keyed = (orgId: string, tokenId: string, publicKey: string | null): DeviceHello => ({
      orgId,
      deviceId: 'dev',
      name: 'Laptop',
      os: 'linux',
      appVersion: '1.0.0',
      lastSeenAt: new Date().toISOString(),
      tokenId,
      publicKey,
    });

    it('binds the first key, accepts it again, refuses another key or none, and leaves the row untouched when refusing', async () => {
      const { orgId, tokenId } = await orgAndToken();
      expect(await store.claimDevice(keyed(orgId, tokenId, KEY_A))).toEqual({
        ok: true,
        tookOverFrom: null,
        keyBound: true,
      });
      expect(await store.claimDevice(keyed(orgId, tokenId, KEY_A))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice({ ...keyed(orgId, tokenId, KEY_B), name: 'Impostor' })).toEqual({
        ok: false,
        keyRefused: true,
      });
      expect(await store.claimDevice(keyed(orgId, tokenId, null))).toEqual({ ok: false, keyRefused: true });
      const [device] = await store.listDevices(orgId);
      expect(device).toMatchObject({ deviceId: 'dev', name: 'Laptop', publicKey: KEY_A, tokenId });
      expect(device!.keyBoundAt).not.toBeNull();
    });

    it('forgets a key so that the next keyed hello binds a new one', async () => {
      const { orgId, tokenId } = await orgAndToken();
      await store.claimDevice(keyed(orgId, tokenId, KEY_A));
      expect(await store.forgetDeviceKey(orgId, 'dev')).toBe(true);
      expect(await store.forgetDeviceKey(orgId, 'dev')).toBe(false);
      expect(await store.forgetDeviceKey(orgId, 'other')).toBe(false);
      expect((await store.listDevices(orgId))[0]).toMatchObject({ publicKey: null, keyBoundAt: null });
      expect(await store.claimDevice(keyed(orgId, tokenId, KEY_B))).toMatchObject({ ok: true, keyBound: true });
      expect(await store.claimDevice(keyed(orgId, tokenId, KEY_A))).toEqual({ ok: false, keyRefused: true });
    });

    it('binds a device recorded before device keys (migration 5) at its first keyed hello', async () => {
      store.close();
      await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(tmpdir(), 'tether-store-'));
      const db = new Database(join(dir, DATABASE_FILE));
      for (const migration of MIGRATIONS.slice(0, 3)) db.exec(migration);
      db.pragma('user_version = 3');
      db.prepare("INSERT INTO orgs (id, slug, created_at) VALUES ('org_1', 'acme', '2026-01-01T00:00:00.000Z')").run();
      db.prepare(
        "INSERT INTO tokens (id, org_id, kind, name, hash, created_at) VALUES ('tok_a', 'org_1', 'desktop', 'a', 'hash_a', '2026-01-01T00:00:00.000Z')",
      ).run();
      db.prepare(
        "INSERT INTO devices (org_id, device_id, name, os, app_version, last_seen_at, token_id) VALUES ('org_1', 'dev', 'Laptop', 'linux', '0.9.0', '2026-01-01T00:00:00.000Z', 'tok_a')",
      ).run();
      db.close();

      store = new SqliteStore(dir);
      expect((await store.listDevices('org_1'))[0]).toMatchObject({ publicKey: null, tokenId: 'tok_a' });
      // A desktop still without keys keeps working until the device has one.
      expect(await store.claimDevice(keyed('org_1', 'tok_a', null))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(keyed('org_1', 'tok_a', KEY_A))).toMatchObject({ ok: true, keyBound: true });
      expect(await store.claimDevice(keyed('org_1', 'tok_a', KEY_B))).toEqual({ ok: false, keyRefused: true });
    });
  });
});

storeConformance('SqliteStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tether-store-'));
  const store = new SqliteStore(dir);
  return {
    store,
    dispose: async () => {
      store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
