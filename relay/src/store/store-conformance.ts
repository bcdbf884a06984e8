import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@tether/shared';
import type { CallRecord, DeviceHello, RuntimeUpsert, Store } from './store.js';

/** A fresh, empty store per test (`dispose` closes and removes it). */
export type StoreFactory = () => Promise<{ store: Store; dispose(): Promise<void> }>;

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

function call(id: string, startedAt: string): CallRecord {
  return {
    id,
    orgId: 'o',
    runtimeId: 'r',
    tool: 'stat',
    caller: 'c',
    tokenId: 't',
    startedAt,
    finishedAt: null,
    outcome: null,
    durationMs: null,
  };
}

/** What every Store must do, run against each implementation (SQLite, PostgreSQL). */
export function storeConformance(name: string, factory: StoreFactory): void {
  describe(`${name} (Store conformance)`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await factory());
    });
    afterEach(async () => {
      await dispose();
    });

    async function desktopTokens(orgId: string, ...ids: string[]): Promise<void> {
      for (const id of ids)
        await store.insertToken({
          id,
          orgId,
          kind: 'desktop',
          name: id,
          hash: `hash_${id}`,
          createdAt: new Date().toISOString(),
          expiresAt: null,
          runtimeIds: null,
          tools: null,
          parentId: null,
        });
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

    it('creates orgs with unique slugs (already_exists) and finds them by slug', async () => {
      const org = await store.createOrg('acme');
      expect(await store.getOrgBySlug('acme')).toEqual(org);
      expect(await store.getOrgBySlug('nope')).toBeNull();
      await expect(store.createOrg('acme')).rejects.toMatchObject({ code: 'already_exists' });
    });

    it('finds tokens by hash and id, lists keys and desktop tokens in creation order, never grants', async () => {
      const org = await store.createOrg('acme');
      await desktopTokens(org.id, 'tok_b', 'tok_a');
      await store.insertToken({
        id: 'grt_1',
        orgId: org.id,
        kind: 'grant',
        name: 'stage',
        hash: 'hash_grt_1',
        createdAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
        runtimeIds: ['rt_1'],
        tools: ['stat', 'read_file'],
        parentId: null,
      });
      expect(await store.findTokenByHash('hash_grt_1')).toMatchObject({
        id: 'grt_1',
        kind: 'grant',
        runtimeIds: ['rt_1'],
        tools: ['stat', 'read_file'],
        revokedAt: null,
      });
      expect((await store.getToken('tok_a'))?.hash).toBe('hash_tok_a');
      expect(await store.findTokenByHash('hash_none')).toBeNull();
      expect((await store.listTokens(org.id)).map((t) => t.id)).toEqual(['tok_b', 'tok_a']);
    });

    it("revokes a platform key's grants with it in one go, a grant minted after it reads as revoked", async () => {
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
      await insert('grt_b1', 'grant', 'key_b');
      expect(await store.revokeToken('key_a', '2026-01-02T00:00:00.000Z')).toBe(true);
      expect((await store.getToken('grt_a1'))?.revokedAt).toBe('2026-01-02T00:00:00.000Z');
      expect((await store.getToken('grt_b1'))?.revokedAt).toBeNull();
      expect(await store.revokeToken('key_a', '2026-01-03T00:00:00.000Z')).toBe(false);
      await insert('grt_a2', 'grant', 'key_a');
      expect((await store.findTokenByHash('hash_grt_a2'))?.revokedAt).toBe('2026-01-02T00:00:00.000Z');
      expect(await store.revokedTokenIds(['key_a', 'key_b', 'grt_b1', 'gone'])).toEqual(['key_a', 'gone']);
    });

    it('binds a device to its first token, refuses another valid one, and moves it off a revoked one', async () => {
      const org = await store.createOrg('acme');
      await desktopTokens(org.id, 'tok_a', 'tok_b', 'tok_c');
      expect(await store.claimDevice(hello(org.id, 'tok_a'))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(hello(org.id, 'tok_a'))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(hello(org.id, 'tok_b'))).toEqual({ ok: false, boundTokenId: 'tok_a' });
      expect(await store.deviceTokenId(org.id, 'dev')).toBe('tok_a');
      expect(await store.claimDevice(hello(org.id, 'tok_b', 'other'))).toEqual({ ok: true, tookOverFrom: null });
      await store.revokeToken('tok_a', new Date().toISOString());
      expect(await store.claimDevice(hello(org.id, 'tok_c'))).toEqual({ ok: true, tookOverFrom: 'tok_a' });
      expect(await store.boundDevices(org.id)).toEqual([
        { tokenId: 'tok_c', deviceId: 'dev', name: 'Laptop' },
        { tokenId: 'tok_b', deviceId: 'other', name: 'Laptop' },
      ]);
    });

    it('lets exactly one of many concurrent hellos with different tokens bind a new device', async () => {
      const org = await store.createOrg('acme');
      const ids = Array.from({ length: 8 }, (_, i) => `tok_${i}`);
      await desktopTokens(org.id, ...ids);
      const claims = await Promise.all(ids.map((id) => store.claimDevice(hello(org.id, id, 'raced'))));
      expect(claims.filter((c) => c.ok)).toHaveLength(1);
    });

    it('upserts, lists and updates runtimes; a touch refreshes only live ones', async () => {
      const org = await store.createOrg('acme');
      const old = '2026-01-01T00:00:00.000Z';
      await store.upsertRuntime(runtime(org.id, 'rt_a', { lastSeenAt: old }));
      await store.upsertRuntime(runtime(org.id, 'rt_b', { state: 'stopped', lastSeenAt: old }));
      const renamed = await store.upsertRuntime(runtime(org.id, 'rt_a', { name: 'Renamed', lastSeenAt: old }));
      expect(renamed).toMatchObject({ id: 'rt_a', name: 'Renamed', createdAt: old });
      expect((await store.listRuntimes(org.id, { state: 'running' })).map((r) => r.id)).toEqual(['rt_a']);
      expect((await store.listRuntimes(org.id, { deviceId: 'nope' })).length).toBe(0);
      const now = new Date().toISOString();
      await store.touchDevices([{ orgId: org.id, deviceId: 'dev' }], now);
      expect((await store.getRuntime('rt_a'))?.lastSeenAt).toBe(now);
      expect((await store.getRuntime('rt_b'))?.lastSeenAt).toBe(old);
      expect(await store.setRuntimeState('rt_a', 'paused', 'by you', null, now)).toMatchObject({
        state: 'paused',
        reason: 'by you',
      });
      expect(await store.setRuntimeState('rt_none', 'paused', null, null, now)).toBeNull();
      expect(await store.countRuntimesByState()).toEqual({ running: 0, paused: 1, stopped: 1, error: 0, archived: 0 });
    });

    it('stops live runtimes not seen since a time (a dead node), and only those', async () => {
      const org = await store.createOrg('acme');
      const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      await store.upsertRuntime(runtime(org.id, 'rt_stale', { lastSeenAt: t(0) }));
      await store.upsertRuntime(runtime(org.id, 'rt_fresh', { lastSeenAt: t(30) }));
      await store.upsertRuntime(runtime(org.id, 'rt_archived', { state: 'archived', lastSeenAt: t(0) }));
      await store.upsertRuntime(runtime(org.id, 'rt_back', { lastSeenAt: t(1) }));
      const stale = await store.staleRuntimes(t(20), 100);
      expect(stale).toEqual(['rt_stale', 'rt_back']);
      expect(await store.staleRuntimes(t(20), 1)).toEqual(['rt_stale']);
      // Announced again (on another node) between the look and the stop: left running.
      await store.upsertRuntime(runtime(org.id, 'rt_back', { lastSeenAt: t(35) }));
      const stopped = await store.stopStaleRuntimes(stale, t(20), t(40));
      expect(stopped.map((r) => [r.id, r.state, r.lastSeenAt])).toEqual([['rt_stale', 'stopped', t(40)]]);
      expect((await store.getRuntime('rt_back'))?.state).toBe('running');
      expect((await store.getRuntime('rt_fresh'))?.state).toBe('running');
      expect((await store.getRuntime('rt_archived'))?.state).toBe('archived');
    });

    it('stops every live runtime at a single-node start, leaving archived ones', async () => {
      const org = await store.createOrg('acme');
      await store.upsertRuntime(runtime(org.id, 'rt_a'));
      await store.upsertRuntime(runtime(org.id, 'rt_b', { state: 'error', reason: 'gone' }));
      await store.upsertRuntime(runtime(org.id, 'rt_c', { state: 'archived', archivedBy: 'platform' }));
      expect(await store.stopAllLiveRuntimes(new Date().toISOString())).toBe(2);
      expect((await store.listRuntimes(org.id)).map((r) => r.state)).toEqual(['stopped', 'stopped', 'archived']);
    });

    it('logs calls with their outcome, a repeated id keeping its newest attempt, and prunes by age and count', async () => {
      await store.insertCall(call('call_a', '2026-01-01T00:00:00.000Z'));
      await store.finishCall('call_a', 'ok', '2026-01-01T00:00:01.000Z', 1000);
      expect(await store.getCall('call_a')).toMatchObject({ outcome: 'ok', durationMs: 1000 });
      await store.insertCall(call('call_a', '2026-01-01T00:01:00.000Z'));
      await store.finishCall('call_a', 'timeout', '2026-01-01T00:01:05.000Z', 5000);
      expect(await store.getCall('call_a')).toMatchObject({
        startedAt: '2026-01-01T00:01:00.000Z',
        outcome: 'timeout',
      });
      const now = Date.now();
      for (let i = 0; i < 10; i++)
        await store.insertCall(call(`call_${i}`, new Date(now - (10 - i) * 60_000).toISOString()));
      expect(await store.pruneCalls(100, new Date(now - 5.5 * 60_000).toISOString())).toBe(6); // call_0..4 and call_a
      expect(await store.pruneCalls(3, new Date(0).toISOString())).toBe(2);
      expect(await store.getCall('call_6')).toBeNull();
      expect(await store.getCall('call_7')).not.toBeNull();
    });
  });
}
