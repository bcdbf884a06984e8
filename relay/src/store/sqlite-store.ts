import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TetherError, capabilitiesSchema, type RuntimeState, type ToolName } from '@tether/shared';
import { CALL_LOG_FLUSH_MS } from '../relay-limits.js';
import { newId } from '../tokens.js';
import { MIGRATIONS } from './sqlite-migrations.js';
import { SqliteOAuthRecords } from './sqlite-oauth.js';
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

/** File name of the database inside the data dir. */
export const DATABASE_FILE = 'relay.sqlite';

interface TokenRow {
  id: string;
  org_id: string;
  kind: TokenRecord['kind'];
  name: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  runtime_ids: string | null;
  tools: string | null;
  parent_id: string | null;
  audience: string | null;
  authorization_id: string | null;
}

interface RuntimeRow {
  id: string;
  org_id: string;
  device_id: string;
  device_name: string;
  device_os: string;
  workspace_id: string;
  name: string;
  description: string;
  capabilities: string;
  state: RuntimeState;
  reason: string | null;
  archived_by: ArchivedBy | null;
  last_seen_at: string;
  created_at: string;
}

interface CallRow {
  id: string;
  org_id: string;
  runtime_id: string;
  tool: ToolName;
  caller: string;
  token_id: string;
  started_at: string;
  finished_at: string | null;
  outcome: string | null;
  duration_ms: number | null;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    kind: row.kind,
    name: row.name,
    hash: row.hash,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    runtimeIds: row.runtime_ids === null ? null : (JSON.parse(row.runtime_ids) as string[]),
    tools: row.tools === null ? null : (JSON.parse(row.tools) as ToolName[]),
    parentId: row.parent_id,
    audience: row.audience,
    authorizationId: row.authorization_id,
  };
}

function toRuntime(row: RuntimeRow): RuntimeRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    deviceId: row.device_id,
    deviceName: row.device_name,
    deviceOs: row.device_os,
    workspaceId: row.workspace_id,
    name: row.name,
    description: row.description,
    // Written by us from a validated frame; parsed again so a hand-edited file cannot smuggle junk out.
    capabilities: capabilitiesSchema.parse(JSON.parse(row.capabilities)),
    state: row.state,
    reason: row.reason,
    archivedBy: row.archived_by,
    lastSeenAt: row.last_seen_at,
    createdAt: row.created_at,
  };
}

function toCall(row: CallRow): CallRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    runtimeId: row.runtime_id,
    tool: row.tool,
    caller: row.caller,
    tokenId: row.token_id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    durationMs: row.duration_ms,
  };
}

/**
 * The embedded Store: one SQLite file in WAL mode (readers never block the writer).
 * better-sqlite3 is synchronous by design; each statement is short and indexed, so the
 * event loop is held for microseconds, and the async interface keeps PostgreSQL possible.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  /** Prepared once, reused: preparing on every call was a tenth of the relay's CPU under load. */
  private readonly statements = new Map<string, Database.Statement>();
  /** Call log writes (rows and results, in order) waiting for the next batch: one transaction per `callLogFlushMs`. */
  private callWrites: Array<() => void> = [];
  /** Rows queued in `callWrites` and not written yet, by call id: a result arriving first is folded into its row. */
  private unwrittenCalls = new Map<string, CallRecord>();
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly oauth: SqliteOAuthRecords;

  /**
   * Opens (creating if needed) the database in `dataDir` and runs pending migrations.
   * `onError` hears about failed background writes (the batched call log); `callLogFlushMs`
   * is how long call log writes wait to be batched (tests lengthen it to hold rows unflushed).
   */
  constructor(
    dataDir: string,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly callLogFlushMs = CALL_LOG_FLUSH_MS,
  ) {
    // Start-up only, never on a request path.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.db = new Database(join(dataDir, DATABASE_FILE));
    this.db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Another relay process (a CLI `token create` while serving) may hold the write lock briefly.
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.oauth = new SqliteOAuthRecords(this.db, (sql) => this.stmt(sql));
  }

  // ---- OAuth records (sqlite-oauth.ts) ----
  insertOAuthClient: SqliteOAuthRecords['insertOAuthClient'] = (c) => this.oauth.insertOAuthClient(c);
  getOAuthClient: SqliteOAuthRecords['getOAuthClient'] = (id) => this.oauth.getOAuthClient(id);
  insertOAuthRequest: SqliteOAuthRecords['insertOAuthRequest'] = (r) => this.oauth.insertOAuthRequest(r);
  getOAuthRequest: SqliteOAuthRecords['getOAuthRequest'] = (id) => this.oauth.getOAuthRequest(id);
  listPendingOAuthRequests: SqliteOAuthRecords['listPendingOAuthRequests'] = (org, now) =>
    this.oauth.listPendingOAuthRequests(org, now);
  countPendingOAuthRequests: SqliteOAuthRecords['countPendingOAuthRequests'] = (now) =>
    this.oauth.countPendingOAuthRequests(now);
  settleOAuthRequest: SqliteOAuthRecords['settleOAuthRequest'] = (id, now, outcome) =>
    this.oauth.settleOAuthRequest(id, now, outcome);
  collectOAuthRequest: SqliteOAuthRecords['collectOAuthRequest'] = (id) => this.oauth.collectOAuthRequest(id);
  getOAuthAuthorization: SqliteOAuthRecords['getOAuthAuthorization'] = (id) => this.oauth.getOAuthAuthorization(id);
  listOAuthAuthorizations: SqliteOAuthRecords['listOAuthAuthorizations'] = (org, now) =>
    this.oauth.listOAuthAuthorizations(org, now);
  revokeOAuthAuthorization: SqliteOAuthRecords['revokeOAuthAuthorization'] = (id, at) =>
    this.oauth.revokeOAuthAuthorization(id, at);
  insertOAuthCode: SqliteOAuthRecords['insertOAuthCode'] = (c) => this.oauth.insertOAuthCode(c);
  useOAuthCode: SqliteOAuthRecords['useOAuthCode'] = (hash, at) => this.oauth.useOAuthCode(hash, at);
  insertOAuthRefresh: SqliteOAuthRecords['insertOAuthRefresh'] = (r) => this.oauth.insertOAuthRefresh(r);
  useOAuthRefresh: SqliteOAuthRecords['useOAuthRefresh'] = (hash, at) => this.oauth.useOAuthRefresh(hash, at);
  pruneOAuth: SqliteOAuthRecords['pruneOAuth'] = (now, before) => this.oauth.pruneOAuth(now, before);

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  /**
   * Call rows and results are written to the log in batches: a transaction per call was the
   * largest single item of the relay's CPU under load. One queue keeps them in order (a
   * repeated id's new row is never overwritten by an old result); readers of the log and
   * `close()` flush first, so nothing queued is lost or unseen by this process.
   */
  private queueCallWrite(write: () => void): void {
    this.callWrites.push(write);
    this.flushTimer ??= setTimeout(() => this.flushCalls(), this.callLogFlushMs);
  }

  /** Writes the queued call log rows now. */
  flushCalls(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.callWrites.length === 0 || !this.db.open) return;
    const writes = this.callWrites;
    this.callWrites = [];
    this.unwrittenCalls = new Map();
    try {
      this.db.transaction(() => writes.forEach((write) => write()))();
    } catch (err) {
      this.onError(err);
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.db
        .transaction(() => {
          this.db.exec(MIGRATIONS[i]!);
          this.db.pragma(`user_version = ${i + 1}`);
        })
        .immediate();
    }
  }

  async createOrg(slug: string): Promise<OrgRecord> {
    const org: OrgRecord = { id: newId('org_'), slug, createdAt: new Date().toISOString() };
    try {
      this.stmt('INSERT INTO orgs (id, slug, created_at) VALUES (?, ?, ?)').run(org.id, org.slug, org.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new TetherError('already_exists', `org "${slug}" exists already`);
      throw new Error('could not create org', { cause: err });
    }
    return org;
  }

  async getOrgBySlug(slug: string): Promise<OrgRecord | null> {
    const row = this.stmt('SELECT id, slug, created_at FROM orgs WHERE slug = ?').get(slug) as
      { id: string; slug: string; created_at: string } | undefined;
    return row ? { id: row.id, slug: row.slug, createdAt: row.created_at } : null;
  }

  async onlyOrg(): Promise<OrgRecord | null> {
    const rows = this.stmt('SELECT id, slug, created_at FROM orgs LIMIT 2').all() as Array<{
      id: string;
      slug: string;
      created_at: string;
    }>;
    return rows.length === 1 ? { id: rows[0]!.id, slug: rows[0]!.slug, createdAt: rows[0]!.created_at } : null;
  }

  async insertToken(token: Omit<TokenRecord, 'revokedAt'>): Promise<void> {
    this.stmt(
      'INSERT INTO tokens (id, org_id, kind, name, hash, created_at, revoked_at, expires_at, runtime_ids, tools, parent_id, audience, authorization_id) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)',
    ).run(
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
    );
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    // With its key's revocation: revokeToken revokes the grants that exist then, but a grant can be
    // minted just after it, by a request that authenticated the key before (or from a token cache
    // that trusts the key a few seconds more when another process revoked it).
    // An OAuth access token reads as revoked with its authorization, for the same reason.
    const row = this.stmt(
      `SELECT t.*, p.revoked_at AS parent_revoked_at, a.revoked_at AS authorization_revoked_at FROM tokens t
         LEFT JOIN tokens p ON p.id = t.parent_id LEFT JOIN oauth_authorizations a ON a.id = t.authorization_id
         WHERE t.hash = ?`,
    ).get(hash) as
      (TokenRow & { parent_revoked_at: string | null; authorization_revoked_at: string | null }) | undefined;
    if (!row) return null;
    const token = toToken(row);
    if (token.revokedAt === null) token.revokedAt = row.parent_revoked_at ?? row.authorization_revoked_at;
    return token;
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const row = this.stmt('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row ? toToken(row) : null;
  }

  async listTokens(orgId: string): Promise<TokenRecord[]> {
    const rows = this.stmt(
      "SELECT * FROM tokens WHERE org_id = ? AND kind IN ('desktop', 'platform') ORDER BY created_at, rowid",
    ).all(orgId) as TokenRow[];
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    return this.db.transaction(() => {
      const revoked = this.stmt('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
      if (revoked.changes === 0) return false;
      this.stmt("UPDATE tokens SET revoked_at = ? WHERE parent_id = ? AND kind = 'grant' AND revoked_at IS NULL").run(
        at,
        id,
      );
      return true;
    })();
  }

  async claimDevice(hello: DeviceHello): Promise<DeviceClaim> {
    const bound = this.stmt(
      `SELECT d.token_id, d.public_key, t.id AS found, t.revoked_at, t.expires_at FROM devices d LEFT JOIN tokens t ON t.id = d.token_id
         WHERE d.org_id = ? AND d.device_id = ?`,
    );
    const write = this.stmt(
      `INSERT INTO devices (org_id, device_id, name, os, app_version, last_seen_at, token_id, public_key, key_bound_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (org_id, device_id) DO UPDATE SET name = excluded.name, os = excluded.os, app_version = excluded.app_version,
           last_seen_at = excluded.last_seen_at, token_id = excluded.token_id,
           public_key = coalesce(devices.public_key, excluded.public_key),
           key_bound_at = coalesce(devices.key_bound_at, excluded.key_bound_at)`,
    );
    const publicKey = hello.publicKey ?? null;
    // IMMEDIATE: the check and the write are one step even against another process (two relays, the CLI).
    return this.db
      .transaction((): DeviceClaim => {
        const row = bound.get(hello.orgId, hello.deviceId) as
          | {
              token_id: string | null;
              public_key: string | null;
              found: string | null;
              revoked_at: string | null;
              expires_at: string | null;
            }
          | undefined;
        let tookOverFrom: string | null = null;
        if (row?.token_id != null && row.token_id !== hello.tokenId) {
          const valid =
            row.found !== null &&
            row.revoked_at === null &&
            (row.expires_at === null || Date.parse(row.expires_at) > Date.now());
          if (valid) return { ok: false, boundTokenId: row.token_id };
          tookOverFrom = row.token_id;
        }
        if (row?.public_key != null && row.public_key !== publicKey) return { ok: false, keyRefused: true };
        const keyBound = publicKey !== null && row?.public_key == null;
        write.run(
          hello.orgId,
          hello.deviceId,
          hello.name,
          hello.os,
          hello.appVersion,
          hello.lastSeenAt,
          hello.tokenId,
          publicKey,
          publicKey === null ? null : hello.lastSeenAt,
        );
        return keyBound ? { ok: true, tookOverFrom, keyBound: true } : { ok: true, tookOverFrom };
      })
      .immediate();
  }

  async listDevices(orgId: string): Promise<DeviceRecord[]> {
    const rows = this.stmt(
      `SELECT org_id, device_id, name, os, app_version, last_seen_at, token_id, public_key, key_bound_at
         FROM devices WHERE org_id = ? ORDER BY device_id`,
    ).all(orgId) as Array<{
      org_id: string;
      device_id: string;
      name: string;
      os: string;
      app_version: string;
      last_seen_at: string;
      token_id: string | null;
      public_key: string | null;
      key_bound_at: string | null;
    }>;
    return rows.map((r) => ({
      orgId: r.org_id,
      deviceId: r.device_id,
      name: r.name,
      os: r.os,
      appVersion: r.app_version,
      lastSeenAt: r.last_seen_at,
      tokenId: r.token_id,
      publicKey: r.public_key,
      keyBoundAt: r.key_bound_at,
    }));
  }

  async forgetDeviceKey(orgId: string, deviceId: string): Promise<boolean> {
    const result = this.stmt(
      'UPDATE devices SET public_key = NULL, key_bound_at = NULL WHERE org_id = ? AND device_id = ? AND public_key IS NOT NULL',
    ).run(orgId, deviceId);
    return result.changes > 0;
  }

  async deviceTokenId(orgId: string, deviceId: string): Promise<string | null> {
    const row = this.stmt('SELECT token_id FROM devices WHERE org_id = ? AND device_id = ?').get(orgId, deviceId) as
      { token_id: string | null } | undefined;
    return row?.token_id ?? null;
  }

  async boundDevices(orgId: string): Promise<Array<{ tokenId: string; deviceId: string; name: string }>> {
    const rows = this.stmt(
      'SELECT token_id, device_id, name FROM devices WHERE org_id = ? AND token_id IS NOT NULL ORDER BY device_id',
    ).all(orgId) as Array<{ token_id: string; device_id: string; name: string }>;
    return rows.map((r) => ({ tokenId: r.token_id, deviceId: r.device_id, name: r.name }));
  }

  async touchDevices(devices: Array<{ orgId: string; deviceId: string }>, at: string): Promise<void> {
    if (devices.length === 0) return;
    const device = this.stmt('UPDATE devices SET last_seen_at = ? WHERE org_id = ? AND device_id = ?');
    const runtimes = this.stmt(
      "UPDATE runtimes SET last_seen_at = ? WHERE org_id = ? AND device_id = ? AND state IN ('running', 'paused', 'error')",
    );
    this.db.transaction(() => {
      for (const d of devices) {
        device.run(at, d.orgId, d.deviceId);
        runtimes.run(at, d.orgId, d.deviceId);
      }
    })();
  }

  async revokedTokenIds(ids: string[]): Promise<string[]> {
    const active = new Set<string>();
    // Chunked: SQLite bounds the number of bound parameters.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db
        .prepare(`SELECT id FROM tokens WHERE revoked_at IS NULL AND id IN (${chunk.map(() => '?').join(', ')})`)
        .all(...chunk) as Array<{ id: string }>;
      for (const row of rows) active.add(row.id);
    }
    return ids.filter((id) => !active.has(id));
  }

  async upsertRuntime(r: RuntimeUpsert): Promise<RuntimeRecord> {
    this.stmt(
      `INSERT INTO runtimes (id, org_id, device_id, device_name, device_os, workspace_id, name, description, capabilities, state, reason, archived_by, last_seen_at, created_at)
         VALUES (@id, @orgId, @deviceId, @deviceName, @deviceOs, @workspaceId, @name, @description, @capabilities, @state, @reason, @archivedBy, @lastSeenAt, @lastSeenAt)
         ON CONFLICT (id) DO UPDATE SET device_name = excluded.device_name, device_os = excluded.device_os, name = excluded.name,
           description = excluded.description, capabilities = excluded.capabilities, state = excluded.state, reason = excluded.reason,
           archived_by = excluded.archived_by, last_seen_at = excluded.last_seen_at`,
    ).run({ ...r, capabilities: JSON.stringify(r.capabilities) });
    return (await this.getRuntime(r.id))!;
  }

  async getRuntime(id: string): Promise<RuntimeRecord | null> {
    const row = this.stmt('SELECT * FROM runtimes WHERE id = ?').get(id) as RuntimeRow | undefined;
    return row ? toRuntime(row) : null;
  }

  async listRuntimes(
    orgId: string,
    filter: { state?: RuntimeState; deviceId?: string } = {},
  ): Promise<RuntimeRecord[]> {
    let sql = 'SELECT * FROM runtimes WHERE org_id = ?';
    const params: string[] = [orgId];
    if (filter.state !== undefined) {
      sql += ' AND state = ?';
      params.push(filter.state);
    }
    if (filter.deviceId !== undefined) {
      sql += ' AND device_id = ?';
      params.push(filter.deviceId);
    }
    const rows = this.stmt(sql + ' ORDER BY created_at, device_id, workspace_id').all(...params) as RuntimeRow[];
    return rows.map(toRuntime);
  }

  async listRuntimesPage(
    orgId: string,
    page: { state?: RuntimeState; ids?: readonly string[]; after?: RuntimePosition; limit: number },
  ): Promise<RuntimeRecord[]> {
    let sql = 'SELECT * FROM runtimes WHERE org_id = ?';
    const params: Array<string | number> = [orgId];
    if (page.state !== undefined) {
      sql += ' AND state = ?';
      params.push(page.state);
    }
    if (page.ids !== undefined) {
      if (page.ids.length === 0) return [];
      sql += ` AND id IN (${page.ids.map(() => '?').join(', ')})`;
      params.push(...page.ids);
    }
    if (page.after !== undefined) {
      sql += ' AND (created_at, device_id, workspace_id) > (?, ?, ?)';
      params.push(page.after.createdAt, page.after.deviceId, page.after.workspaceId);
    }
    params.push(page.limit);
    const rows = this.stmt(sql + ' ORDER BY created_at, device_id, workspace_id LIMIT ?').all(
      ...params,
    ) as RuntimeRow[];
    return rows.map(toRuntime);
  }

  async setRuntimeState(
    id: string,
    state: RuntimeState,
    reason: string | null,
    archivedBy: ArchivedBy | null,
    lastSeenAt: string,
  ): Promise<RuntimeRecord | null> {
    this.stmt('UPDATE runtimes SET state = ?, reason = ?, archived_by = ?, last_seen_at = ? WHERE id = ?').run(
      state,
      reason,
      archivedBy,
      lastSeenAt,
      id,
    );
    return this.getRuntime(id);
  }

  async stopAllLiveRuntimes(at: string): Promise<number> {
    return this.stmt(
      "UPDATE runtimes SET state = 'stopped', reason = NULL, last_seen_at = ? WHERE state IN ('running', 'paused', 'error')",
    ).run(at).changes;
  }

  async countActiveRuntimes(orgId: string): Promise<number> {
    const row = this.stmt("SELECT COUNT(*) AS n FROM runtimes WHERE org_id = ? AND state != 'archived'").get(orgId) as {
      n: number;
    };
    return row.n;
  }

  async staleRuntimes(seenBefore: string, limit: number): Promise<string[]> {
    const rows = this.stmt(
      "SELECT id FROM runtimes WHERE state IN ('running', 'paused', 'error') AND last_seen_at < ? ORDER BY last_seen_at LIMIT ?",
    ).all(seenBefore, limit) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async stopStaleRuntimes(ids: string[], seenBefore: string, at: string): Promise<RuntimeRecord[]> {
    const stop = this.stmt(
      `UPDATE runtimes SET state = 'stopped', reason = NULL, last_seen_at = ?
         WHERE id = ? AND state IN ('running', 'paused', 'error') AND last_seen_at < ? RETURNING *`,
    );
    return this.db.transaction(() =>
      ids.flatMap((id) => (stop.all(at, id, seenBefore) as RuntimeRow[]).map(toRuntime)),
    )();
  }

  async countRuntimesByState(): Promise<Record<RuntimeState, number>> {
    const counts: Record<RuntimeState, number> = { running: 0, paused: 0, stopped: 0, error: 0, archived: 0 };
    for (const row of this.stmt('SELECT state, COUNT(*) AS n FROM runtimes GROUP BY state').all() as Array<{
      state: RuntimeState;
      n: number;
    }>) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  async insertCall(c: CallRecord): Promise<void> {
    // An idempotency key gives a repeated call the same id: the newest attempt replaces the row.
    const insert = this.stmt(
      `INSERT OR REPLACE INTO calls (id, org_id, runtime_id, tool, caller, token_id, started_at, finished_at, outcome, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Batched: a cancel for a call whose row is not written yet is found in its node's memory (RelayCore.cancelCall).
    // A copy, completed by finishCall while queued, so a quick call costs one row write instead of two.
    const row = { ...c };
    this.unwrittenCalls.set(c.id, row);
    this.queueCallWrite(() =>
      insert.run(
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
      ),
    );
  }

  async finishCall(id: string, outcome: string, finishedAt: string, durationMs: number): Promise<void> {
    const unwritten = this.unwrittenCalls.get(id);
    if (unwritten && unwritten.outcome === null) {
      Object.assign(unwritten, { outcome, finishedAt, durationMs });
      return;
    }
    const update = this.stmt('UPDATE calls SET outcome = ?, finished_at = ?, duration_ms = ? WHERE id = ?');
    this.queueCallWrite(() => update.run(outcome, finishedAt, durationMs, id));
  }

  async getCall(id: string): Promise<CallRecord | null> {
    this.flushCalls();
    const row = this.stmt('SELECT * FROM calls WHERE id = ?').get(id) as CallRow | undefined;
    return row ? toCall(row) : null;
  }

  async finishOrphanedCalls(at: string): Promise<number> {
    this.flushCalls();
    return this.stmt("UPDATE calls SET outcome = 'unknown', finished_at = ? WHERE outcome IS NULL").run(at).changes;
  }

  async callLogSpan(): Promise<{ rows: number; oldestStartedAt: string | null }> {
    this.flushCalls();
    const row = this.stmt('SELECT COUNT(*) AS n, MIN(started_at) AS oldest FROM calls').get() as {
      n: number;
      oldest: string | null;
    };
    return { rows: row.n, oldestStartedAt: row.oldest };
  }

  async pruneCalls(maxRows: number, olderThan: string): Promise<number> {
    this.flushCalls();
    const byAge = this.stmt('DELETE FROM calls WHERE started_at < ?').run(olderThan).changes;
    const byCount = this.stmt(
      'DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?)',
    ).run(maxRows).changes;
    return byAge + byCount;
  }

  close(): void {
    this.flushCalls();
    if (this.db.open) this.db.close();
  }
}
