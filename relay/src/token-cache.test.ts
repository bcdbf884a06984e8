import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authenticateToken } from './auth.js';
import { TOKEN_CACHE_TTL_MS } from './relay-limits.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { TokenRecord } from './store/store.js';
import { TokenCache } from './token-cache.js';
import { generateToken, hashToken } from './tokens.js';

function record(id: string): TokenRecord {
  return {
    id,
    orgId: 'org_1',
    kind: 'platform',
    name: id,
    hash: `hash-${id}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    revokedAt: null,
    expiresAt: null,
    runtimeIds: null,
    tools: null,
    parentId: null,
  };
}

describe('TokenCache', () => {
  describe('get', () => {
    it('answers a verified token within its TTL and forgets it after', () => {
      const cache = new TokenCache(1_000);
      cache.set('h1', record('tok_1'), 10_000);
      expect(cache.get('h1', 10_999)?.id).toBe('tok_1');
      expect(cache.get('h1', 11_000)).toBeNull();
      expect(cache.size).toBe(0);
    });
  });

  describe('forgetToken', () => {
    it('drops the revoked token and keeps the others', () => {
      const cache = new TokenCache(1_000);
      cache.set('h1', record('tok_1'), 0);
      cache.set('h2', record('tok_2'), 0);
      cache.forgetToken('tok_1');
      expect(cache.get('h1', 1)).toBeNull();
      expect(cache.get('h2', 1)?.id).toBe('tok_2');
    });
  });

  describe('set', () => {
    it('stays within its bound, dropping expired entries first, then the oldest', () => {
      const cache = new TokenCache(1_000, 2);
      cache.set('old', record('tok_old'), 0);
      cache.set('a', record('tok_a'), 500);
      cache.set('b', record('tok_b'), 1_200); // 'old' has expired: it goes
      expect([cache.size, cache.get('a', 1_200)?.id, cache.get('b', 1_200)?.id]).toEqual([2, 'tok_a', 'tok_b']);
      cache.set('c', record('tok_c'), 1_300); // none expired: the oldest ('a') goes
      expect([cache.size, cache.get('a', 1_300), cache.get('c', 1_300)?.id]).toEqual([2, null, 'tok_c']);
    });
  });
});

describe('authenticateToken', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-token-cache-'));
    store = new SqliteStore(dir);
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function platformKey(id: string, expiresAt: string | null = null): Promise<string> {
    const org = (await store.getOrgBySlug('acme')) ?? (await store.createOrg('acme'));
    const token = generateToken('platform');
    await store.insertToken({
      id,
      orgId: org.id,
      kind: 'platform',
      name: id,
      hash: hashToken(token),
      createdAt: new Date().toISOString(),
      expiresAt,
      runtimeIds: null,
      tools: null,
      parentId: null,
    });
    return token;
  }

  describe('with a cache', () => {
    it('accepts a token revoked by another process (the CLI) until the TTL has passed, then refuses it', async () => {
      const cache = new TokenCache();
      const token = await platformKey('tok_1');
      const t0 = Date.now();
      expect((await authenticateToken(store, `Bearer ${token}`, ['platform'], t0, cache))?.id).toBe('tok_1');
      await store.revokeToken('tok_1', new Date().toISOString());
      expect(
        (await authenticateToken(store, `Bearer ${token}`, ['platform'], t0 + TOKEN_CACHE_TTL_MS - 1, cache))?.id,
      ).toBe('tok_1');
      expect(
        await authenticateToken(store, `Bearer ${token}`, ['platform'], t0 + TOKEN_CACHE_TTL_MS, cache),
      ).toBeNull();
      // Once refused, it stays refused: failures are never cached as successes.
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], t0 + 1, cache)).toBeNull();
    });

    it('refuses a revoked token at once after forgetToken', async () => {
      const cache = new TokenCache();
      const token = await platformKey('tok_1');
      const now = Date.now();
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], now, cache)).not.toBeNull();
      await store.revokeToken('tok_1', new Date().toISOString());
      cache.forgetToken('tok_1');
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], now, cache)).toBeNull();
    });

    it('does not cache a failure: a token unknown a moment ago is accepted once it exists', async () => {
      const cache = new TokenCache();
      const token = generateToken('platform');
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], Date.now(), cache)).toBeNull();
      const org = await store.createOrg('acme');
      await store.insertToken({
        id: 'tok_late',
        orgId: org.id,
        kind: 'platform',
        name: 'late',
        hash: hashToken(token),
        createdAt: new Date().toISOString(),
        expiresAt: null,
        runtimeIds: null,
        tools: null,
        parentId: null,
      });
      expect((await authenticateToken(store, `Bearer ${token}`, ['platform'], Date.now(), cache))?.id).toBe('tok_late');
      expect(cache.size).toBe(1);
    });

    it('refuses a cached token once it has expired, and a cached token of a kind not accepted here', async () => {
      const cache = new TokenCache();
      const now = Date.now();
      const token = await platformKey('tok_short', new Date(now + 1_000).toISOString());
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], now, cache)).not.toBeNull();
      expect(await authenticateToken(store, `Bearer ${token}`, ['platform'], now + 1_000, cache)).toBeNull();
      expect(await authenticateToken(store, `Bearer ${token}`, ['desktop'], now, cache)).toBeNull();
    });
  });
});
