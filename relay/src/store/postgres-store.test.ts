import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAvailable, startTestPostgres, type TestPostgres } from '../testing/postgres-server.js';
import { PG_MIGRATIONS } from './postgres-migrations.js';
import { PostgresStore } from './postgres-store.js';
import { storeConformance } from './store-conformance.js';

// A real PostgreSQL (Debian's, which .ci/run installs); without it these cannot run here.
const describePg = (await postgresAvailable()) ? describe : describe.skip;

describePg('PostgresStore', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startTestPostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.dispose();
  });

  /** A database of its own for one test. */
  async function freshDatabase(): Promise<string> {
    const name = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client(server.url);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return server.url.replace(/\/postgres$/, `/${name}`);
  }

  storeConformance('PostgresStore', async () => {
    const store = await PostgresStore.open(await freshDatabase());
    return { store, dispose: () => store.close() };
  });

  it('migrates once when several nodes start on one database at the same time', async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
    const check = new pg.Client(url);
    await check.connect();
    const { rows } = await check.query('SELECT version FROM tether_migrations ORDER BY version');
    await check.end();
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    await Promise.all(stores.map((s) => s.close()));
  });

  it('upgrades a database of the first release in place: its tokens read on, without an audience or authorization', async () => {
    const url = await freshDatabase();
    const old = new pg.Client(url);
    await old.connect();
    await old.query(PG_MIGRATIONS[0]!);
    await old.query(
      'CREATE TABLE tether_migrations (version INTEGER NOT NULL); INSERT INTO tether_migrations VALUES (1)',
    );
    await old.query("INSERT INTO orgs (id, slug, created_at) VALUES ('org_1', 'acme', '2026-01-01T00:00:00.000Z')");
    await old.query(
      "INSERT INTO tokens (id, org_id, kind, name, hash, created_at) VALUES ('tok_a', 'org_1', 'desktop', 'a', 'hash_a', '2026-01-01T00:00:00.000Z')",
    );
    await old.end();
    const store = await PostgresStore.open(url);
    expect(await store.findTokenByHash('hash_a')).toMatchObject({
      id: 'tok_a',
      revokedAt: null,
      audience: null,
      authorizationId: null,
    });
    expect(await store.onlyOrg()).toMatchObject({ id: 'org_1', slug: 'acme' });
    expect(await store.countPendingOAuthRequests(new Date().toISOString())).toBe(0);
    await store.close();
  });

  it('batches the call log: rows appear at the flush, and close writes what is queued', async () => {
    const url = await freshDatabase();
    const store = await PostgresStore.open(url, { callLogFlushMs: 600_000 });
    const reader = new pg.Client(url);
    await reader.connect();
    const rows = async () => (await reader.query('SELECT id, outcome FROM calls ORDER BY id')).rows;
    const call = (id: string) => ({
      id,
      orgId: 'o',
      runtimeId: 'r',
      tool: 'stat' as const,
      caller: 'c',
      tokenId: 't',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: null,
      outcome: null,
      durationMs: null,
    });
    await store.insertCall(call('call_a'));
    await store.finishCall('call_a', 'ok', '2026-01-01T00:00:01.000Z', 1000);
    await store.insertCall(call('call_b'));
    expect(await rows()).toEqual([]);
    await store.flushCalls();
    expect(await rows()).toEqual([
      { id: 'call_a', outcome: 'ok' },
      { id: 'call_b', outcome: null },
    ]);
    await store.finishCall('call_b', 'cancelled', '2026-01-01T00:00:02.000Z', 2000);
    await store.close();
    expect(await rows()).toEqual([
      { id: 'call_a', outcome: 'ok' },
      { id: 'call_b', outcome: 'cancelled' },
    ]);
    await reader.end();
  });

  it('answers ping false while PostgreSQL is down and true once it is back, keeping acknowledged data', async () => {
    const url = await freshDatabase();
    const store = await PostgresStore.open(url);
    const org = await store.createOrg('acme');
    await server.stop();
    expect(await store.ping()).toBe(false);
    await server.start();
    expect(await store.ping()).toBe(true);
    expect(await store.getOrgBySlug('acme')).toEqual(org);
    await store.close();
  }, 120_000);

  it('fails to open with a plain message when the database cannot be reached', async () => {
    await expect(PostgresStore.open('postgres://postgres@127.0.0.1:1/none')).rejects.toThrow(
      /Cannot use the PostgreSQL database/,
    );
  });
});
