import pg from 'pg';
import { TetherError, capabilitiesSchema, type RuntimeState, type ToolName } from '@tether/shared';
import { CALL_LOG_FLUSH_MS } from '../relay-limits.js';
import { newId } from '../tokens.js';
import { PG_MIGRATIONS } from './postgres-migrations.js';
import { PostgresOAuthRecords } from './postgres-oauth.js';
import type {
  ArchivedBy,
  CallRecord,
  DeviceClaim,
  DeviceHello,
  DeviceRecord,
  OrgRecord,
  RuntimePosition,
  RuntimeRecord,
  RuntimeUpsert,
  Store,
  TokenRecord,
} from './store.js';

/** Connections one relay node keeps to PostgreSQL: enough for its request bursts, a few per node in a cluster. */
export const PG_POOL_SIZE = 10;

/** Longest wait for a connection from the pool or a new one, so an outage answers 503 instead of hanging. */
export const PG_CONNECT_TIMEOUT_MS = 5_000;

/** Any fixed number: the advisory lock that keeps two starting nodes from migrating at once. */
const MIGRATION_LOCK_KEY = 7_411_026;

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

type Row = Record<string, unknown>;
type Query = { text: string; values: unknown[] };

function toToken(row: Row): TokenRecord {
  return {
    id: row.id as string,
    orgId: row.org_id as string,
    kind: row.kind as TokenRecord['kind'],
    name: row.name as string,
    hash: row.hash as string,
    createdAt: row.created_at as string,
    revokedAt: (row.revoked_at as string | null) ?? null,
    expiresAt: (row.expires_at as string | null) ?? null,
    runtimeIds: row.runtime_ids == null ? null : (JSON.parse(row.runtime_ids as string) as string[]),
    tools: row.tools == null ? null : (JSON.parse(row.tools as string) as ToolName[]),
    parentId: (row.parent_id as string | null) ?? null,
    audience: (row.audience as string | null) ?? null,
    authorizationId: (row.authorization_id as string | null) ?? null,
  };
}

function toRuntime(row: Row): RuntimeRecord {
  return {
    id: row.id as string,
    orgId: row.org_id as string,
    deviceId: row.device_id as string,
    deviceName: row.device_name as string,
    deviceOs: row.device_os as string,
    workspaceId: row.workspace_id as string,
    name: row.name as string,
    description: row.description as string,
    // Written by us from a validated frame; parsed again so a hand-edited row cannot smuggle junk out.
    capabilities: capabilitiesSchema.parse(JSON.parse(row.capabilities as string)),
    state: row.state as RuntimeState,
    reason: (row.reason as string | null) ?? null,
    archivedBy: (row.archived_by as ArchivedBy | null) ?? null,
    lastSeenAt: row.last_seen_at as string,
    createdAt: row.created_at as string,
  };
}

function toCall(row: Row): CallRecord {
  return {
    id: row.id as string,
    orgId: row.org_id as string,
    runtimeId: row.runtime_id as string,
    tool: row.tool as ToolName,
    caller: row.caller as string,
    tokenId: row.token_id as string,
    startedAt: row.started_at as string,
    finishedAt: (row.finished_at as string | null) ?? null,
    outcome: (row.outcome as string | null) ?? null,
    durationMs: (row.duration_ms as number | null) ?? null,
  };
}

const INSERT_CALL = `INSERT INTO calls (id, org_id, runtime_id, tool, caller, token_id, started_at, finished_at, outcome, duration_ms)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, runtime_id = excluded.runtime_id, tool = excluded.tool,
    caller = excluded.caller, token_id = excluded.token_id, started_at = excluded.started_at,
    finished_at = excluded.finished_at, outcome = excluded.outcome, duration_ms = excluded.duration_ms`;

/**
 * The cluster Store: PostgreSQL, shared by every relay node (`--database-url`). The same
 * behaviour as SqliteStore, checked by the same conformance tests: tokens by hash, device
 * binding in one locked step, runtimes, the OAuth records (postgres-oauth.ts; single-use codes
 * and refresh tokens locked across nodes), and the call log written in batches (one
 * transaction per CALL_LOG_FLUSH_MS).
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  /** Call log writes (rows and results, in order) waiting for the next batch. */
  private callWrites: Array<() => Query> = [];
  /** Rows queued and not written yet, by call id: a result arriving first is folded into its row. */
  private unwrittenCalls = new Map<string, CallRecord>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly oauth: PostgresOAuthRecords;

  private constructor(
    pool: pg.Pool,
    private readonly onError: (err: unknown) => void,
    private readonly callLogFlushMs: number,
  ) {
    this.pool = pool;
    this.oauth = new PostgresOAuthRecords(pool, (fn) => this.transaction(fn));
  }

  insertOAuthClient: PostgresOAuthRecords['insertOAuthClient'] = (c) => this.oauth.insertOAuthClient(c);
  getOAuthClient: PostgresOAuthRecords['getOAuthClient'] = (id) => this.oauth.getOAuthClient(id);
  insertOAuthRequest: PostgresOAuthRecords['insertOAuthRequest'] = (r) => this.oauth.insertOAuthRequest(r);
  getOAuthRequest: PostgresOAuthRecords['getOAuthRequest'] = (id) => this.oauth.getOAuthRequest(id);
  listPendingOAuthRequests: PostgresOAuthRecords['listPendingOAuthRequests'] = (orgId, now) =>
    this.oauth.listPendingOAuthRequests(orgId, now);
  countPendingOAuthRequests: PostgresOAuthRecords['countPendingOAuthRequests'] = (now) =>
    this.oauth.countPendingOAuthRequests(now);
  settleOAuthRequest: PostgresOAuthRecords['settleOAuthRequest'] = (id, now, outcome) =>
    this.oauth.settleOAuthRequest(id, now, outcome);
  collectOAuthRequest: PostgresOAuthRecords['collectOAuthRequest'] = (id) => this.oauth.collectOAuthRequest(id);
  getOAuthAuthorization: PostgresOAuthRecords['getOAuthAuthorization'] = (id) => this.oauth.getOAuthAuthorization(id);
  listOAuthAuthorizations: PostgresOAuthRecords['listOAuthAuthorizations'] = (orgId, now) =>
    this.oauth.listOAuthAuthorizations(orgId, now);
  revokeOAuthAuthorization: PostgresOAuthRecords['revokeOAuthAuthorization'] = (id, at) =>
    this.oauth.revokeOAuthAuthorization(id, at);
  insertOAuthCode: PostgresOAuthRecords['insertOAuthCode'] = (c) => this.oauth.insertOAuthCode(c);
  useOAuthCode: PostgresOAuthRecords['useOAuthCode'] = (hash, at) => this.oauth.useOAuthCode(hash, at);
  insertOAuthRefresh: PostgresOAuthRecords['insertOAuthRefresh'] = (r) => this.oauth.insertOAuthRefresh(r);
  useOAuthRefresh: PostgresOAuthRecords['useOAuthRefresh'] = (hash, at) => this.oauth.useOAuthRefresh(hash, at);
  pruneOAuth: PostgresOAuthRecords['pruneOAuth'] = (now, before) => this.oauth.pruneOAuth(now, before);

  /** Connects, runs pending migrations (one node at a time) and answers the store. */
  static async open(
    url: string,
    options: { onError?: (err: unknown) => void; callLogFlushMs?: number } = {},
  ): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: PG_POOL_SIZE,
      connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    });
    // An idle connection dropped by the server (a restart) must not crash the relay: the pool
    // makes a new one for the next query.
    pool.on('error', (err) => options.onError?.(err));
    const store = new PostgresStore(
      pool,
      options.onError ?? (() => undefined),
      options.callLogFlushMs ?? CALL_LOG_FLUSH_MS,
    );
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`Cannot use the PostgreSQL database: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  /** True when the database answers (for /readyz). */
  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query('CREATE TABLE IF NOT EXISTS tether_migrations (version INTEGER NOT NULL)');
      const { rows } = await client.query('SELECT COALESCE(MAX(version), 0) AS v FROM tether_migrations');
      const version = Number(rows[0]?.v ?? 0);
      for (let i = version; i < PG_MIGRATIONS.length; i++) {
        await client.query(PG_MIGRATIONS[i] as string);
        await client.query('INSERT INTO tether_migrations (version) VALUES ($1)', [i + 1]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Runs `fn` in one transaction on one connection. */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async rows(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(text, values)).rows as Row[];
  }

  /** Queues a write; `make` runs when the batch goes out, so a result folded in meanwhile is written too. */
  private queueCallWrite(make: () => Query): void {
    this.callWrites.push(make);
    this.flushTimer ??= setTimeout(() => void this.flushCalls(), this.callLogFlushMs);
  }

  /** Writes the queued call log rows now (batches go out one after another, in order). */
  flushCalls(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.callWrites.length === 0) return this.flushing;
    const writes = this.callWrites;
    this.callWrites = [];
    this.unwrittenCalls = new Map();
    this.flushing = this.flushing.then(() =>
      this.transaction(async (client) => {
        for (const make of writes) {
          const w = make();
          await client.query(w.text, w.values);
        }
      }).catch((err: unknown) => this.onError(err)),
    );
    return this.flushing;
  }

  async createOrg(slug: string): Promise<OrgRecord> {
    const org: OrgRecord = { id: newId('org_'), slug, createdAt: new Date().toISOString() };
    try {
      await this.pool.query('INSERT INTO orgs (id, slug, created_at) VALUES ($1, $2, $3)', [
        org.id,
        org.slug,
        org.createdAt,
      ]);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION)
        throw new TetherError('already_exists', `org "${slug}" exists already`);
      throw new Error('could not create org', { cause: err });
    }
    return org;
  }

  async getOrgBySlug(slug: string): Promise<OrgRecord | null> {
    const [row] = await this.rows('SELECT id, slug, created_at FROM orgs WHERE slug = $1', [slug]);
    return row ? { id: row.id as string, slug: row.slug as string, createdAt: row.created_at as string } : null;
  }

  async onlyOrg(): Promise<OrgRecord | null> {
    const rows = await this.rows('SELECT id, slug, created_at FROM orgs LIMIT 2');
    const [row] = rows;
    return rows.length === 1 && row
      ? { id: row.id as string, slug: row.slug as string, createdAt: row.created_at as string }
      : null;
  }

  async insertToken(token: Omit<TokenRecord, 'revokedAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO tokens (id, org_id, kind, name, hash, created_at, revoked_at, expires_at, runtime_ids, tools, parent_id,
           audience, authorization_id)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11, $12)`,
      [
        token.id,
        token.orgId,
        token.kind,
        token.name,
        token.hash,
        token.createdAt,
        token.expiresAt,
        token.runtimeIds === null ? null : JSON.stringify(token.runtimeIds),
        token.tools === null ? null : JSON.stringify(token.tools),
        token.parentId,
        token.audience ?? null,
        token.authorizationId ?? null,
      ],
    );
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    // With its key's, or its OAuth authorization's, revocation (see SqliteStore.findTokenByHash).
    const [row] = await this.rows(
      `SELECT t.*, p.revoked_at AS parent_revoked_at, a.revoked_at AS authorization_revoked_at FROM tokens t
         LEFT JOIN tokens p ON p.id = t.parent_id LEFT JOIN oauth_authorizations a ON a.id = t.authorization_id
         WHERE t.hash = $1`,
      [hash],
    );
    if (!row) return null;
    const token = toToken(row);
    if (token.revokedAt === null)
      token.revokedAt = ((row.parent_revoked_at ?? row.authorization_revoked_at) as string | null) ?? null;
    return token;
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const [row] = await this.rows('SELECT * FROM tokens WHERE id = $1', [id]);
    return row ? toToken(row) : null;
  }

  async listTokens(orgId: string): Promise<TokenRecord[]> {
    const rows = await this.rows(
      "SELECT * FROM tokens WHERE org_id = $1 AND kind IN ('desktop', 'platform') ORDER BY created_at, seq",
      [orgId],
    );
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    return this.transaction(async (client) => {
      const revoked = await client.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
        at,
        id,
      ]);
      if (revoked.rowCount === 0) return false;
      await client.query(
        "UPDATE tokens SET revoked_at = $1 WHERE parent_id = $2 AND kind = 'grant' AND revoked_at IS NULL",
        [at, id],
      );
      return true;
    });
  }

  async claimDevice(hello: DeviceHello): Promise<DeviceClaim> {
    return this.transaction(async (client): Promise<DeviceClaim> => {
      // The row exists (unbound if new) and is locked: two nodes' hellos for one device id
      // take turns, as SQLite's IMMEDIATE transaction makes them.
      await client.query(
        `INSERT INTO devices (org_id, device_id, name, os, app_version, last_seen_at, token_id)
           VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT (org_id, device_id) DO NOTHING`,
        [hello.orgId, hello.deviceId, hello.name, hello.os, hello.appVersion, hello.lastSeenAt],
      );
      const { rows } = await client.query(
        `SELECT d.token_id, d.public_key, t.id AS found, t.revoked_at, t.expires_at FROM devices d LEFT JOIN tokens t ON t.id = d.token_id
           WHERE d.org_id = $1 AND d.device_id = $2 FOR UPDATE OF d`,
        [hello.orgId, hello.deviceId],
      );
      const row = rows[0] as Row | undefined;
      let tookOverFrom: string | null = null;
      if (row?.token_id != null && row.token_id !== hello.tokenId) {
        const valid =
          row.found != null &&
          row.revoked_at == null &&
          (row.expires_at == null || Date.parse(row.expires_at as string) > Date.now());
        if (valid) return { ok: false, boundTokenId: row.token_id as string };
        tookOverFrom = row.token_id as string;
      }
      const publicKey = hello.publicKey ?? null;
      if (row?.public_key != null && row.public_key !== publicKey) return { ok: false, keyRefused: true };
      const keyBound = publicKey !== null && row?.public_key == null;
      await client.query(
        `UPDATE devices SET name = $3, os = $4, app_version = $5, last_seen_at = $6, token_id = $7,
             public_key = coalesce(public_key, $8), key_bound_at = coalesce(key_bound_at, $9)
           WHERE org_id = $1 AND device_id = $2`,
        [
          hello.orgId,
          hello.deviceId,
          hello.name,
          hello.os,
          hello.appVersion,
          hello.lastSeenAt,
          hello.tokenId,
          publicKey,
          publicKey === null ? null : hello.lastSeenAt,
        ],
      );
      return keyBound ? { ok: true, tookOverFrom, keyBound: true } : { ok: true, tookOverFrom };
    });
  }

  async listDevices(orgId: string): Promise<DeviceRecord[]> {
    const rows = await this.rows(
      `SELECT org_id, device_id, name, os, app_version, last_seen_at, token_id, public_key, key_bound_at
         FROM devices WHERE org_id = $1 ORDER BY device_id`,
      [orgId],
    );
    return rows.map((r) => ({
      orgId: r.org_id as string,
      deviceId: r.device_id as string,
      name: r.name as string,
      os: r.os as string,
      appVersion: r.app_version as string,
      lastSeenAt: r.last_seen_at as string,
      tokenId: (r.token_id as string | null) ?? null,
      publicKey: (r.public_key as string | null) ?? null,
      keyBoundAt: (r.key_bound_at as string | null) ?? null,
    }));
  }

  async forgetDeviceKey(orgId: string, deviceId: string): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE devices SET public_key = NULL, key_bound_at = NULL WHERE org_id = $1 AND device_id = $2 AND public_key IS NOT NULL',
      [orgId, deviceId],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async deviceTokenId(orgId: string, deviceId: string): Promise<string | null> {
    const [row] = await this.rows('SELECT token_id FROM devices WHERE org_id = $1 AND device_id = $2', [
      orgId,
      deviceId,
    ]);
    return (row?.token_id as string | null | undefined) ?? null;
  }

  async boundDevices(orgId: string): Promise<Array<{ tokenId: string; deviceId: string; name: string }>> {
    const rows = await this.rows(
      'SELECT token_id, device_id, name FROM devices WHERE org_id = $1 AND token_id IS NOT NULL ORDER BY device_id',
      [orgId],
    );
    return rows.map((r) => ({
      tokenId: r.token_id as string,
      deviceId: r.device_id as string,
      name: r.name as string,
    }));
  }

  async touchDevices(devices: Array<{ orgId: string; deviceId: string }>, at: string): Promise<void> {
    if (devices.length === 0) return;
    const orgIds = devices.map((d) => d.orgId);
    const deviceIds = devices.map((d) => d.deviceId);
    // One statement each for every connection of the tick, whatever their number.
    await this.transaction(async (client) => {
      await client.query(
        `UPDATE devices d SET last_seen_at = $1 FROM unnest($2::text[], $3::text[]) AS x(org_id, device_id)
           WHERE d.org_id = x.org_id AND d.device_id = x.device_id`,
        [at, orgIds, deviceIds],
      );
      await client.query(
        `UPDATE runtimes r SET last_seen_at = $1 FROM unnest($2::text[], $3::text[]) AS x(org_id, device_id)
           WHERE r.org_id = x.org_id AND r.device_id = x.device_id AND r.state IN ('running', 'paused', 'error')`,
        [at, orgIds, deviceIds],
      );
    });
  }

  async revokedTokenIds(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.rows('SELECT id FROM tokens WHERE revoked_at IS NULL AND id = ANY($1::text[])', [ids]);
    const active = new Set(rows.map((r) => r.id as string));
    return ids.filter((id) => !active.has(id));
  }

  async upsertRuntime(r: RuntimeUpsert): Promise<RuntimeRecord> {
    const [row] = await this.rows(
      `INSERT INTO runtimes (id, org_id, device_id, device_name, device_os, workspace_id, name, description, capabilities, state, reason, archived_by, last_seen_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (id) DO UPDATE SET device_name = excluded.device_name, device_os = excluded.device_os, name = excluded.name,
           description = excluded.description, capabilities = excluded.capabilities, state = excluded.state, reason = excluded.reason,
           archived_by = excluded.archived_by, last_seen_at = excluded.last_seen_at
         RETURNING *`,
      [
        r.id,
        r.orgId,
        r.deviceId,
        r.deviceName,
        r.deviceOs,
        r.workspaceId,
        r.name,
        r.description,
        JSON.stringify(r.capabilities),
        r.state,
        r.reason,
        r.archivedBy,
        r.lastSeenAt,
      ],
    );
    return toRuntime(row as Row);
  }

  async getRuntime(id: string): Promise<RuntimeRecord | null> {
    const [row] = await this.rows('SELECT * FROM runtimes WHERE id = $1', [id]);
    return row ? toRuntime(row) : null;
  }

  async listRuntimes(
    orgId: string,
    filter: { state?: RuntimeState; deviceId?: string } = {},
  ): Promise<RuntimeRecord[]> {
    let sql = 'SELECT * FROM runtimes WHERE org_id = $1';
    const values: string[] = [orgId];
    if (filter.state !== undefined) {
      values.push(filter.state);
      sql += ` AND state = $${values.length}`;
    }
    if (filter.deviceId !== undefined) {
      values.push(filter.deviceId);
      sql += ` AND device_id = $${values.length}`;
    }
    const rows = await this.rows(sql + ' ORDER BY created_at, device_id, workspace_id', values);
    return rows.map(toRuntime);
  }

  async listRuntimesPage(
    orgId: string,
    page: { state?: RuntimeState; ids?: readonly string[]; after?: RuntimePosition; limit: number },
  ): Promise<RuntimeRecord[]> {
    let sql = 'SELECT * FROM runtimes WHERE org_id = $1';
    const values: unknown[] = [orgId];
    if (page.state !== undefined) {
      values.push(page.state);
      sql += ` AND state = $${values.length}`;
    }
    if (page.ids !== undefined) {
      if (page.ids.length === 0) return [];
      values.push([...page.ids]);
      sql += ` AND id = ANY($${values.length}::text[])`;
    }
    if (page.after !== undefined) {
      values.push(page.after.createdAt, page.after.deviceId, page.after.workspaceId);
      const n = values.length;
      sql += ` AND (created_at, device_id, workspace_id) > ($${n - 2}, $${n - 1}, $${n})`;
    }
    values.push(page.limit);
    const rows = await this.rows(sql + ` ORDER BY created_at, device_id, workspace_id LIMIT $${values.length}`, values);
    return rows.map(toRuntime);
  }

  async setRuntimeState(
    id: string,
    state: RuntimeState,
    reason: string | null,
    archivedBy: ArchivedBy | null,
    lastSeenAt: string,
  ): Promise<RuntimeRecord | null> {
    const [row] = await this.rows(
      'UPDATE runtimes SET state = $1, reason = $2, archived_by = $3, last_seen_at = $4 WHERE id = $5 RETURNING *',
      [state, reason, archivedBy, lastSeenAt, id],
    );
    return row ? toRuntime(row) : null;
  }

  async stopAllLiveRuntimes(at: string): Promise<number> {
    const result = await this.pool.query(
      "UPDATE runtimes SET state = 'stopped', reason = NULL, last_seen_at = $1 WHERE state IN ('running', 'paused', 'error')",
      [at],
    );
    return result.rowCount ?? 0;
  }

  async staleRuntimes(seenBefore: string, limit: number): Promise<string[]> {
    const rows = await this.rows(
      `SELECT id FROM runtimes WHERE state IN ('running', 'paused', 'error') AND last_seen_at < $1
         ORDER BY last_seen_at LIMIT $2`,
      [seenBefore, limit],
    );
    return rows.map((r) => r.id as string);
  }

  async stopStaleRuntimes(ids: string[], seenBefore: string, at: string): Promise<RuntimeRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.rows(
      `UPDATE runtimes SET state = 'stopped', reason = NULL, last_seen_at = $3
         WHERE id = ANY($1::text[]) AND state IN ('running', 'paused', 'error') AND last_seen_at < $2 RETURNING *`,
      [ids, seenBefore, at],
    );
    return rows.map(toRuntime);
  }

  async countActiveRuntimes(orgId: string): Promise<number> {
    const rows = await this.rows("SELECT COUNT(*)::int AS n FROM runtimes WHERE org_id = $1 AND state != 'archived'", [
      orgId,
    ]);
    return rows[0]!.n as number;
  }

  async countRuntimesByState(): Promise<Record<RuntimeState, number>> {
    const counts: Record<RuntimeState, number> = { running: 0, paused: 0, stopped: 0, error: 0, archived: 0 };
    for (const row of await this.rows('SELECT state, COUNT(*)::int AS n FROM runtimes GROUP BY state'))
      counts[row.state as RuntimeState] = row.n as number;
    return counts;
  }

  async insertCall(c: CallRecord): Promise<void> {
    // An idempotency key gives a repeated call the same id: the newest attempt replaces the row.
    // A copy, completed by finishCall while queued, so a quick call costs one row write.
    const row = { ...c };
    this.unwrittenCalls.set(c.id, row);
    this.queueCallWrite(() => ({
      text: INSERT_CALL,
      values: [
        row.id,
        row.orgId,
        row.runtimeId,
        row.tool,
        row.caller,
        row.tokenId,
        row.startedAt,
        row.finishedAt,
        row.outcome,
        row.durationMs,
      ],
    }));
  }

  async finishCall(id: string, outcome: string, finishedAt: string, durationMs: number): Promise<void> {
    const unwritten = this.unwrittenCalls.get(id);
    if (unwritten && unwritten.outcome === null) {
      Object.assign(unwritten, { outcome, finishedAt, durationMs });
      return;
    }
    this.queueCallWrite(() => ({
      text: 'UPDATE calls SET outcome = $1, finished_at = $2, duration_ms = $3 WHERE id = $4',
      values: [outcome, finishedAt, durationMs, id],
    }));
  }

  async getCall(id: string): Promise<CallRecord | null> {
    await this.flushCalls();
    const [row] = await this.rows('SELECT * FROM calls WHERE id = $1', [id]);
    return row ? toCall(row) : null;
  }

  async finishOrphanedCalls(at: string): Promise<number> {
    await this.flushCalls();
    const done = await this.pool.query("UPDATE calls SET outcome = 'unknown', finished_at = $1 WHERE outcome IS NULL", [
      at,
    ]);
    return done.rowCount ?? 0;
  }

  async callLogSpan(): Promise<{ rows: number; oldestStartedAt: string | null }> {
    await this.flushCalls();
    const [row] = await this.rows('SELECT COUNT(*) AS n, MIN(started_at) AS oldest FROM calls', []);
    const oldest = row?.oldest as string | Date | null | undefined;
    return {
      rows: Number(row?.n ?? 0),
      oldestStartedAt: oldest === null || oldest === undefined ? null : new Date(oldest).toISOString(),
    };
  }

  async pruneCalls(maxRows: number, olderThan: string): Promise<number> {
    await this.flushCalls();
    const byAge = await this.pool.query('DELETE FROM calls WHERE started_at < $1', [olderThan]);
    const byCount = await this.pool.query(
      'DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY started_at DESC, id DESC OFFSET $1)',
      [maxRows],
    );
    return (byAge.rowCount ?? 0) + (byCount.rowCount ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushCalls();
    await this.pool.end();
  }
}
