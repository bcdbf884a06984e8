import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@tether/shared';
import type {
  CallRecord,
  DeviceHello,
  OAuthAuthorizationRecord,
  OAuthRequestRecord,
  RuntimePosition,
  RuntimeUpsert,
  Store,
} from './store.js';

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

function oauthRequest(orgId: string, id: string, overrides: Partial<OAuthRequestRecord> = {}): OAuthRequestRecord {
  return {
    id,
    browserHash: `browser_${id}`,
    shortCode: 'ABCD-EFGH',
    orgId,
    clientId: 'cli_1',
    clientName: 'Agent',
    redirectUri: 'http://127.0.0.1:9/cb',
    state: 'xyz',
    codeChallenge: 'challenge',
    resource: 'https://relay.example/v1/mcp',
    runtimeId: null,
    requestedCategories: ['read'],
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T00:10:00.000Z',
    status: 'pending',
    authorizationId: null,
    ...overrides,
  };
}

function authorization(
  orgId: string,
  id: string,
  overrides: Partial<OAuthAuthorizationRecord> = {},
): OAuthAuthorizationRecord {
  return {
    id,
    orgId,
    clientId: 'cli_1',
    clientName: 'Agent',
    redirectUri: 'http://127.0.0.1:9/cb',
    resource: 'https://relay.example/v1/mcp',
    runtimeIds: ['rt_1', 'rt_2'],
    categories: ['read', 'write'],
    tools: ['stat', 'read_file'],
    approvedBy: 'Laptop',
    createdAt: '2026-01-01T00:01:00.000Z',
    expiresAt: '2026-02-01T00:00:00.000Z',
    revokedAt: null,
    ...overrides,
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

    it('binds a device to its first key, refuses another key or none, forgets it on request, and lets one of many racing keys bind', async () => {
      const org = await store.createOrg('acme');
      await desktopTokens(org.id, 'tok_a');
      const [keyA, keyB] = ['A'.repeat(43), 'B'.repeat(43)];
      const keyed = (publicKey: string | null, deviceId = 'dev') => ({
        ...hello(org.id, 'tok_a', deviceId),
        publicKey,
      });
      expect(await store.claimDevice(keyed(keyA))).toEqual({ ok: true, tookOverFrom: null, keyBound: true });
      expect(await store.claimDevice(keyed(keyA))).toEqual({ ok: true, tookOverFrom: null });
      expect(await store.claimDevice(keyed(keyB))).toEqual({ ok: false, keyRefused: true });
      expect(await store.claimDevice(keyed(null))).toEqual({ ok: false, keyRefused: true });
      expect((await store.listDevices(org.id))[0]).toMatchObject({
        deviceId: 'dev',
        publicKey: keyA,
        tokenId: 'tok_a',
      });
      expect(await store.forgetDeviceKey(org.id, 'dev')).toBe(true);
      expect(await store.forgetDeviceKey(org.id, 'dev')).toBe(false);
      expect((await store.listDevices(org.id))[0]).toMatchObject({ publicKey: null, keyBoundAt: null });
      expect(await store.claimDevice(keyed(keyB))).toMatchObject({ ok: true, keyBound: true });
      const keys = Array.from({ length: 6 }, (_, i) => String(i).repeat(43));
      const claims = await Promise.all(keys.map((k) => store.claimDevice(keyed(k, 'raced'))));
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

    it('lists runtimes in keyset pages in listRuntimes order, narrowed by state and ids; counts active ones', async () => {
      const org = await store.createOrg('acme');
      const other = await store.createOrg('other');
      for (const id of ['rt_c', 'rt_a', 'rt_e', 'rt_b', 'rt_d'])
        await store.upsertRuntime(runtime(org.id, id, id === 'rt_e' ? { state: 'archived' } : {}));
      await store.upsertRuntime(runtime(other.id, 'rt_x'));
      const all = (await store.listRuntimes(org.id)).map((r) => r.id);
      const walked: string[] = [];
      let after: RuntimePosition | undefined;
      for (;;) {
        const page = await store.listRuntimesPage(org.id, { limit: 2, ...(after ? { after } : {}) });
        walked.push(...page.map((r) => r.id));
        if (page.length < 2) break;
        const last = page.at(-1)!;
        after = { createdAt: last.createdAt, deviceId: last.deviceId, workspaceId: last.workspaceId };
      }
      expect(walked).toEqual(all);
      expect((await store.listRuntimesPage(org.id, { limit: 10, state: 'archived' })).map((r) => r.id)).toEqual([
        'rt_e',
      ]);
      expect(
        (await store.listRuntimesPage(org.id, { limit: 10, ids: ['rt_b', 'rt_x', 'rt_d'] })).map((r) => r.id).sort(),
      ).toEqual(['rt_b', 'rt_d']);
      expect(await store.listRuntimesPage(org.id, { limit: 10, ids: [] })).toEqual([]);
      expect(await store.countActiveRuntimes(org.id)).toBe(4);
      expect(await store.countActiveRuntimes(other.id)).toBe(1);
    });

    it('stops every live runtime at a single-node start, leaving archived ones', async () => {
      const org = await store.createOrg('acme');
      await store.upsertRuntime(runtime(org.id, 'rt_a'));
      await store.upsertRuntime(runtime(org.id, 'rt_b', { state: 'error', reason: 'gone' }));
      await store.upsertRuntime(runtime(org.id, 'rt_c', { state: 'archived', archivedBy: 'platform' }));
      expect(await store.stopAllLiveRuntimes(new Date().toISOString())).toBe(2);
      expect((await store.listRuntimes(org.id)).map((r) => r.state)).toEqual(['stopped', 'stopped', 'archived']);
    });

    it('answers the only org of a single-tenant relay, and none when there are none or several', async () => {
      expect(await store.onlyOrg()).toBeNull();
      const org = await store.createOrg('acme');
      expect(await store.onlyOrg()).toEqual(org);
      await store.createOrg('other');
      expect(await store.onlyOrg()).toBeNull();
    });

    describe('OAuth records', () => {
      const MINUTE = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();

      /** An org with an approved authorization `auth_1` (through a settled request). */
      async function approved(): Promise<{ orgId: string }> {
        const org = await store.createOrg('acme');
        await store.insertOAuthRequest(oauthRequest(org.id, 'req_1'));
        expect(
          await store.settleOAuthRequest('req_1', MINUTE(1), {
            status: 'approved',
            authorization: authorization(org.id, 'auth_1'),
          }),
        ).toBe(true);
        return { orgId: org.id };
      }

      const accessToken = (orgId: string, id: string, authorizationId: string) =>
        store.insertToken({
          id,
          orgId,
          kind: 'grant',
          name: 'Agent',
          hash: `hash_${id}`,
          createdAt: MINUTE(2),
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          runtimeIds: ['rt_1'],
          tools: ['stat'],
          parentId: null,
          audience: 'https://relay.example/v1/mcp',
          authorizationId,
        });

      it('registers clients and reads them back as given', async () => {
        const client = {
          clientId: 'cli_1',
          clientName: 'Agent',
          redirectUris: ['http://127.0.0.1/cb', 'myapp:/cb'],
          authMethod: 'client_secret_basic' as const,
          secretHash: 'secret_hash',
          createdAt: MINUTE(0),
        };
        await store.insertOAuthClient(client);
        await store.insertOAuthClient({ ...client, clientId: 'cli_2', authMethod: 'none', secretHash: null });
        expect(await store.getOAuthClient('cli_1')).toEqual(client);
        expect((await store.getOAuthClient('cli_2'))?.secretHash).toBeNull();
        expect(await store.getOAuthClient('cli_none')).toBeNull();
      });

      it('lists and counts consent requests still pending, and settles each once while pending and not expired', async () => {
        const org = await store.createOrg('acme');
        const other = await store.createOrg('other');
        await store.insertOAuthRequest(oauthRequest(org.id, 'req_a', { runtimeId: 'rt_1', state: null }));
        await store.insertOAuthRequest(oauthRequest(org.id, 'req_b', { createdAt: MINUTE(1) }));
        await store.insertOAuthRequest(oauthRequest(org.id, 'req_old', { expiresAt: MINUTE(5) }));
        await store.insertOAuthRequest(oauthRequest(other.id, 'req_c'));
        expect(await store.getOAuthRequest('req_a')).toEqual(
          oauthRequest(org.id, 'req_a', { runtimeId: 'rt_1', state: null }),
        );
        expect(await store.getOAuthRequest('req_none')).toBeNull();
        expect((await store.listPendingOAuthRequests(org.id, MINUTE(6))).map((r) => r.id)).toEqual(['req_a', 'req_b']);
        expect(await store.countPendingOAuthRequests(MINUTE(6))).toBe(3);
        expect(await store.countPendingOAuthRequests(MINUTE(4))).toBe(4);

        // Expired: neither approved nor denied.
        expect(await store.settleOAuthRequest('req_old', MINUTE(6), { status: 'denied' })).toBe(false);
        expect(await store.settleOAuthRequest('req_none', MINUTE(6), { status: 'denied' })).toBe(false);
        expect(await store.settleOAuthRequest('req_b', MINUTE(6), { status: 'denied' })).toBe(true);
        expect(
          await store.settleOAuthRequest('req_b', MINUTE(6), {
            status: 'approved',
            authorization: authorization(org.id, 'auth_b'),
          }),
        ).toBe(false);
        expect(await store.getOAuthAuthorization('auth_b')).toBeNull();
        expect(await store.getOAuthRequest('req_b')).toMatchObject({ status: 'denied', authorizationId: null });

        const auth = authorization(org.id, 'auth_a');
        expect(await store.settleOAuthRequest('req_a', MINUTE(6), { status: 'approved', authorization: auth })).toBe(
          true,
        );
        expect(await store.settleOAuthRequest('req_a', MINUTE(6), { status: 'denied' })).toBe(false);
        expect(await store.getOAuthRequest('req_a')).toMatchObject({ status: 'approved', authorizationId: 'auth_a' });
        expect(await store.getOAuthAuthorization('auth_a')).toEqual(auth);
        expect(await store.listPendingOAuthRequests(org.id, MINUTE(6))).toEqual([]);
        expect(await store.countPendingOAuthRequests(MINUTE(6))).toBe(1);

        // The code is collected once, and only from an approved request.
        expect(await store.collectOAuthRequest('req_b')).toBe(false);
        expect(await store.collectOAuthRequest('req_a')).toBe(true);
        expect(await store.collectOAuthRequest('req_a')).toBe(false);
        expect((await store.getOAuthRequest('req_a'))?.status).toBe('collected');
      });

      it('settles a request once when it is approved and denied at the same time', async () => {
        const org = await store.createOrg('acme');
        await store.insertOAuthRequest(oauthRequest(org.id, 'req_1'));
        const outcomes = await Promise.all([
          ...Array.from({ length: 4 }, (_, i) =>
            store.settleOAuthRequest('req_1', MINUTE(1), {
              status: 'approved' as const,
              authorization: authorization(org.id, `auth_${i}`),
            }),
          ),
          store.settleOAuthRequest('req_1', MINUTE(1), { status: 'denied' }),
        ]);
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        const settled = await store.getOAuthRequest('req_1');
        const winner = outcomes.indexOf(true);
        if (winner === 4) expect(settled).toMatchObject({ status: 'denied', authorizationId: null });
        else expect(settled).toMatchObject({ status: 'approved', authorizationId: `auth_${winner}` });
        expect(await store.listOAuthAuthorizations(org.id, MINUTE(2))).toHaveLength(winner === 4 ? 0 : 1);
      });

      it('lists live authorizations newest first, and revokes one with its access and refresh tokens', async () => {
        const { orgId } = await approved();
        await store.insertOAuthRequest(oauthRequest(orgId, 'req_2'));
        await store.settleOAuthRequest('req_2', MINUTE(1), {
          status: 'approved',
          // Same creation time as auth_1: the later one is still listed first.
          authorization: authorization(orgId, 'auth_2'),
        });
        await store.insertOAuthRequest(oauthRequest(orgId, 'req_3'));
        await store.settleOAuthRequest('req_3', MINUTE(1), {
          status: 'approved',
          authorization: authorization(orgId, 'auth_old', { expiresAt: MINUTE(30) }),
        });
        expect((await store.listOAuthAuthorizations(orgId, MINUTE(20))).map((a) => a.id)).toEqual([
          'auth_old',
          'auth_2',
          'auth_1',
        ]);
        expect((await store.listOAuthAuthorizations(orgId, MINUTE(40))).map((a) => a.id)).toEqual(['auth_2', 'auth_1']);

        await accessToken(orgId, 'oat_1', 'auth_1');
        await accessToken(orgId, 'oat_2', 'auth_1');
        await accessToken(orgId, 'oat_3', 'auth_2');
        expect(await store.findTokenByHash('hash_oat_1')).toMatchObject({
          id: 'oat_1',
          kind: 'grant',
          audience: 'https://relay.example/v1/mcp',
          authorizationId: 'auth_1',
          revokedAt: null,
        });
        await store.revokeToken('oat_2', MINUTE(3));
        await store.insertOAuthRefresh({
          hash: 'rt_hash_1',
          id: 'ort_1',
          authorizationId: 'auth_1',
          createdAt: MINUTE(2),
          usedAt: null,
        });
        await store.insertOAuthRefresh({
          hash: 'rt_hash_2',
          id: 'ort_2',
          authorizationId: 'auth_2',
          createdAt: MINUTE(2),
          usedAt: null,
        });

        expect(await store.revokeOAuthAuthorization('auth_1', MINUTE(4))).toEqual(['oat_1']);
        expect(await store.revokeOAuthAuthorization('auth_1', MINUTE(5))).toBeNull();
        expect(await store.revokeOAuthAuthorization('auth_none', MINUTE(5))).toBeNull();
        expect((await store.getOAuthAuthorization('auth_1'))?.revokedAt).toBe(MINUTE(4));
        expect((await store.getToken('oat_1'))?.revokedAt).toBe(MINUTE(4));
        expect((await store.getToken('oat_2'))?.revokedAt).toBe(MINUTE(3));
        expect((await store.getToken('oat_3'))?.revokedAt).toBeNull();
        expect((await store.listOAuthAuthorizations(orgId, MINUTE(40))).map((a) => a.id)).toEqual(['auth_2']);
        // Its refresh token reads as used (by the revocation), another authorization's does not.
        expect((await store.useOAuthRefresh('rt_hash_1', MINUTE(6)))?.usedAt).toBe(MINUTE(4));
        expect((await store.useOAuthRefresh('rt_hash_2', MINUTE(6)))?.usedAt).toBeNull();
        // An access token minted after the revocation (by a request that read the authorization before) reads as revoked.
        await accessToken(orgId, 'oat_late', 'auth_1');
        expect((await store.findTokenByHash('hash_oat_late'))?.revokedAt).toBe(MINUTE(4));
        expect(await store.revokedTokenIds(['oat_1', 'oat_3'])).toEqual(['oat_1']);
      });

      it('uses a code once: the first use returns it unused, a later one returns it with the first use time', async () => {
        await approved();
        const code = {
          hash: 'code_hash',
          authorizationId: 'auth_1',
          clientId: 'cli_1',
          redirectUri: 'http://127.0.0.1:9/cb',
          codeChallenge: 'challenge',
          resource: 'https://relay.example/v1/mcp',
          expiresAt: MINUTE(3),
          usedAt: null,
        };
        await store.insertOAuthCode(code);
        expect(await store.useOAuthCode('code_hash', MINUTE(2))).toEqual(code);
        expect(await store.useOAuthCode('code_hash', MINUTE(2.5))).toEqual({ ...code, usedAt: MINUTE(2) });
        expect(await store.useOAuthCode('code_none', MINUTE(2))).toBeNull();
      });

      it('rotates a refresh token once: the first use returns it unused, a later one as used', async () => {
        await approved();
        const refresh = { hash: 'rt_hash', id: 'ort_1', authorizationId: 'auth_1', createdAt: MINUTE(2), usedAt: null };
        await store.insertOAuthRefresh(refresh);
        expect(await store.useOAuthRefresh('rt_hash', MINUTE(3))).toEqual(refresh);
        expect(await store.useOAuthRefresh('rt_hash', MINUTE(4))).toEqual({ ...refresh, usedAt: MINUTE(3) });
        expect(await store.useOAuthRefresh('rt_none', MINUTE(4))).toBeNull();
      });

      it('accepts a code, and a refresh token, used many times at once exactly once', async () => {
        await approved();
        await store.insertOAuthCode({
          hash: 'code_hash',
          authorizationId: 'auth_1',
          clientId: 'cli_1',
          redirectUri: 'http://127.0.0.1:9/cb',
          codeChallenge: 'challenge',
          resource: 'https://relay.example/v1/mcp',
          expiresAt: MINUTE(3),
          usedAt: null,
        });
        await store.insertOAuthRefresh({
          hash: 'rt_hash',
          id: 'ort_1',
          authorizationId: 'auth_1',
          createdAt: MINUTE(2),
          usedAt: null,
        });
        const tries = Array.from({ length: 8 }, (_, i) => MINUTE(2 + i / 100));
        const codes = await Promise.all(tries.map((at) => store.useOAuthCode('code_hash', at)));
        const refreshes = await Promise.all(tries.map((at) => store.useOAuthRefresh('rt_hash', at)));
        expect(codes.filter((c) => c?.usedAt === null)).toHaveLength(1);
        expect(refreshes.filter((r) => r?.usedAt === null)).toHaveLength(1);
        // Every later use sees the one accepted use's time.
        expect(new Set(codes.map((c) => c?.usedAt).filter((t) => t !== null)).size).toBe(1);
        expect(new Set(refreshes.map((r) => r?.usedAt).filter((t) => t !== null)).size).toBe(1);
      });

      it('prunes expired requests and codes now, and expired authorizations with their tokens a while after', async () => {
        const org = await store.createOrg('acme');
        const orgId = org.id;
        const settle = async (req: string, auth: string, expiresAt: string, requestExpiresAt = MINUTE(10)) => {
          await store.insertOAuthRequest(oauthRequest(orgId, req, { expiresAt: requestExpiresAt }));
          await store.settleOAuthRequest(req, MINUTE(1), {
            status: 'approved',
            authorization: authorization(orgId, auth, { expiresAt }),
          });
        };
        await settle('req_gone', 'auth_gone', MINUTE(20)); // expired before `before`
        // Expired, but within the keep window (and so is its request, approved and never collected).
        await settle('req_kept', 'auth_kept', MINUTE(50), MINUTE(40));
        await store.insertOAuthRequest(oauthRequest(orgId, 'req_denied', { expiresAt: MINUTE(5) }));
        await store.settleOAuthRequest('req_denied', MINUTE(1), { status: 'denied' });
        await store.insertOAuthRequest(oauthRequest(orgId, 'req_live', { expiresAt: MINUTE(90) }));
        const code = (hash: string, authorizationId: string, expiresAt: string) =>
          store.insertOAuthCode({
            hash,
            authorizationId,
            clientId: 'cli_1',
            redirectUri: 'http://127.0.0.1:9/cb',
            codeChallenge: 'challenge',
            resource: 'https://relay.example/v1/mcp',
            expiresAt,
            usedAt: null,
          });
        await code('code_expired', 'auth_kept', MINUTE(5));
        await code('code_live', 'auth_kept', MINUTE(90));
        await code('code_gone', 'auth_gone', MINUTE(90));
        await accessToken(orgId, 'oat_gone', 'auth_gone');
        await accessToken(orgId, 'oat_kept', 'auth_kept');
        for (const [hash, auth] of [
          ['rt_gone', 'auth_gone'],
          ['rt_kept', 'auth_kept'],
        ] as const)
          await store.insertOAuthRefresh({ hash, id: hash, authorizationId: auth, createdAt: MINUTE(2), usedAt: null });

        await store.pruneOAuth(MINUTE(60), MINUTE(30));

        expect(await store.getOAuthAuthorization('auth_gone')).toBeNull();
        expect(await store.getOAuthAuthorization('auth_kept')).not.toBeNull();
        expect(await store.getToken('oat_gone')).toBeNull();
        expect(await store.getToken('oat_kept')).not.toBeNull();
        expect(await store.useOAuthRefresh('rt_gone', MINUTE(60))).toBeNull();
        expect(await store.useOAuthRefresh('rt_kept', MINUTE(60))).not.toBeNull();
        expect(await store.useOAuthCode('code_expired', MINUTE(60))).toBeNull();
        expect(await store.useOAuthCode('code_gone', MINUTE(60))).toBeNull();
        expect(await store.useOAuthCode('code_live', MINUTE(60))).not.toBeNull();
        expect(await store.getOAuthRequest('req_denied')).toBeNull();
        expect(await store.getOAuthRequest('req_gone')).toBeNull();
        // Approved and never collected: kept until `before` passes its expiry.
        expect(await store.getOAuthRequest('req_kept')).not.toBeNull();
        expect(await store.getOAuthRequest('req_live')).not.toBeNull();
      });
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
