import type pg from 'pg';
import type { Category, ToolName } from '@tether/shared';
import type {
  OAuthAuthorizationRecord,
  OAuthClientRecord,
  OAuthCodeRecord,
  OAuthRefreshRecord,
  OAuthRequestRecord,
  OAuthStore,
} from './store.js';

type Row = Record<string, unknown>;
type Transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

const toRequest = (r: Row): OAuthRequestRecord => ({
  id: r.id as string,
  browserHash: r.browser_hash as string,
  shortCode: r.short_code as string,
  orgId: r.org_id as string,
  clientId: r.client_id as string,
  clientName: r.client_name as string,
  redirectUri: r.redirect_uri as string,
  state: (r.state as string | null) ?? null,
  codeChallenge: r.code_challenge as string,
  resource: r.resource as string,
  runtimeId: (r.runtime_id as string | null) ?? null,
  requestedCategories: JSON.parse(r.requested_categories as string) as Category[],
  createdAt: r.created_at as string,
  expiresAt: r.expires_at as string,
  status: r.status as OAuthRequestRecord['status'],
  authorizationId: (r.authorization_id as string | null) ?? null,
});

const toAuthorization = (r: Row): OAuthAuthorizationRecord => ({
  id: r.id as string,
  orgId: r.org_id as string,
  clientId: r.client_id as string,
  clientName: r.client_name as string,
  redirectUri: r.redirect_uri as string,
  resource: r.resource as string,
  runtimeIds: JSON.parse(r.runtime_ids as string) as string[],
  categories: JSON.parse(r.categories as string) as Category[],
  tools: JSON.parse(r.tools as string) as ToolName[],
  approvedBy: r.approved_by as string,
  createdAt: r.created_at as string,
  expiresAt: r.expires_at as string,
  revokedAt: (r.revoked_at as string | null) ?? null,
});

const toCode = (r: Row): OAuthCodeRecord => ({
  hash: r.hash as string,
  authorizationId: r.authorization_id as string,
  clientId: r.client_id as string,
  redirectUri: r.redirect_uri as string,
  codeChallenge: r.code_challenge as string,
  resource: r.resource as string,
  expiresAt: r.expires_at as string,
  usedAt: (r.used_at as string | null) ?? null,
});

const toRefresh = (r: Row): OAuthRefreshRecord => ({
  hash: r.hash as string,
  id: r.id as string,
  authorizationId: r.authorization_id as string,
  createdAt: r.created_at as string,
  usedAt: (r.used_at as string | null) ?? null,
});

/**
 * The OAuth half of PostgresStore (same pool). SQLite makes each check-then-write one step by
 * being the only writer; here several nodes write at once, so those steps lock the row they
 * decide on (`FOR UPDATE`, which under READ COMMITTED waits for a concurrent writer and then
 * reads its committed row) or are a single conditional UPDATE.
 */
export class PostgresOAuthRecords implements OAuthStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly transaction: Transaction,
  ) {}

  private async rows(text: string, values: unknown[]): Promise<Row[]> {
    return (await this.pool.query(text, values)).rows as Row[];
  }

  async insertOAuthClient(c: OAuthClientRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO oauth_clients (client_id, client_name, redirect_uris, auth_method, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
      [c.clientId, c.clientName, JSON.stringify(c.redirectUris), c.authMethod, c.secretHash, c.createdAt],
    );
  }

  async getOAuthClient(clientId: string): Promise<OAuthClientRecord | null> {
    const [row] = await this.rows('SELECT * FROM oauth_clients WHERE client_id = $1', [clientId]);
    return row
      ? {
          clientId: row.client_id as string,
          clientName: row.client_name as string,
          redirectUris: JSON.parse(row.redirect_uris as string) as string[],
          authMethod: row.auth_method as OAuthClientRecord['authMethod'],
          secretHash: (row.secret_hash as string | null) ?? null,
          createdAt: row.created_at as string,
        }
      : null;
  }

  async insertOAuthRequest(r: OAuthRequestRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO oauth_requests (id, browser_hash, short_code, org_id, client_id, client_name, redirect_uri, state,
         code_challenge, resource, runtime_id, requested_categories, created_at, expires_at, status, authorization_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        r.id,
        r.browserHash,
        r.shortCode,
        r.orgId,
        r.clientId,
        r.clientName,
        r.redirectUri,
        r.state,
        r.codeChallenge,
        r.resource,
        r.runtimeId,
        JSON.stringify(r.requestedCategories),
        r.createdAt,
        r.expiresAt,
        r.status,
        r.authorizationId,
      ],
    );
  }

  async getOAuthRequest(id: string): Promise<OAuthRequestRecord | null> {
    const [row] = await this.rows('SELECT * FROM oauth_requests WHERE id = $1', [id]);
    return row ? toRequest(row) : null;
  }

  async listPendingOAuthRequests(orgId: string, now: string): Promise<OAuthRequestRecord[]> {
    const rows = await this.rows(
      "SELECT * FROM oauth_requests WHERE org_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at, id",
      [orgId, now],
    );
    return rows.map(toRequest);
  }

  async countPendingOAuthRequests(now: string): Promise<number> {
    const [row] = await this.rows(
      "SELECT COUNT(*)::int AS n FROM oauth_requests WHERE status = 'pending' AND expires_at > $1",
      [now],
    );
    return row!.n as number;
  }

  async settleOAuthRequest(
    id: string,
    now: string,
    outcome: { status: 'approved'; authorization: OAuthAuthorizationRecord } | { status: 'denied' },
  ): Promise<boolean> {
    return this.transaction(async (client) => {
      // Locked: a second settlement (another node, a second click) waits, then finds it settled.
      const pending = await client.query(
        "SELECT id FROM oauth_requests WHERE id = $1 AND status = 'pending' AND expires_at > $2 FOR UPDATE",
        [id, now],
      );
      if (pending.rowCount === 0) return false;
      if (outcome.status === 'denied') {
        await client.query("UPDATE oauth_requests SET status = 'denied' WHERE id = $1", [id]);
        return true;
      }
      const a = outcome.authorization;
      await client.query(
        `INSERT INTO oauth_authorizations (id, org_id, client_id, client_name, redirect_uri, resource, runtime_ids,
           categories, tools, approved_by, created_at, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL)`,
        [
          a.id,
          a.orgId,
          a.clientId,
          a.clientName,
          a.redirectUri,
          a.resource,
          JSON.stringify(a.runtimeIds),
          JSON.stringify(a.categories),
          JSON.stringify(a.tools),
          a.approvedBy,
          a.createdAt,
          a.expiresAt,
        ],
      );
      await client.query("UPDATE oauth_requests SET status = 'approved', authorization_id = $1 WHERE id = $2", [
        a.id,
        id,
      ]);
      return true;
    });
  }

  async collectOAuthRequest(id: string): Promise<boolean> {
    const done = await this.pool.query(
      "UPDATE oauth_requests SET status = 'collected' WHERE id = $1 AND status = 'approved'",
      [id],
    );
    return (done.rowCount ?? 0) > 0;
  }

  async getOAuthAuthorization(id: string): Promise<OAuthAuthorizationRecord | null> {
    const [row] = await this.rows('SELECT * FROM oauth_authorizations WHERE id = $1', [id]);
    return row ? toAuthorization(row) : null;
  }

  async listOAuthAuthorizations(orgId: string, now: string): Promise<OAuthAuthorizationRecord[]> {
    const rows = await this.rows(
      `SELECT * FROM oauth_authorizations WHERE org_id = $1 AND revoked_at IS NULL AND expires_at > $2
         ORDER BY created_at DESC, seq DESC`,
      [orgId, now],
    );
    return rows.map(toAuthorization);
  }

  async revokeOAuthAuthorization(id: string, at: string): Promise<string[] | null> {
    return this.transaction(async (client) => {
      const done = await client.query(
        'UPDATE oauth_authorizations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
        [at, id],
      );
      if (done.rowCount === 0) return null;
      const tokens = await client.query(
        'UPDATE tokens SET revoked_at = $1 WHERE authorization_id = $2 AND revoked_at IS NULL RETURNING id',
        [at, id],
      );
      await client.query(
        'UPDATE oauth_refresh_tokens SET used_at = COALESCE(used_at, $1) WHERE authorization_id = $2',
        [at, id],
      );
      return (tokens.rows as Row[]).map((t) => t.id as string);
    });
  }

  async insertOAuthCode(c: OAuthCodeRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO oauth_codes (hash, authorization_id, client_id, redirect_uri, code_challenge, resource, expires_at, used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
      [c.hash, c.authorizationId, c.clientId, c.redirectUri, c.codeChallenge, c.resource, c.expiresAt],
    );
  }

  async useOAuthCode(hash: string, at: string): Promise<OAuthCodeRecord | null> {
    return this.transaction(async (client) => {
      // Locked: of two nodes redeeming one code at once, the second reads the first's used_at.
      const [row] = (await client.query('SELECT * FROM oauth_codes WHERE hash = $1 FOR UPDATE', [hash])).rows as Row[];
      if (!row) return null;
      if (row.used_at == null) await client.query('UPDATE oauth_codes SET used_at = $1 WHERE hash = $2', [at, hash]);
      return toCode(row);
    });
  }

  async insertOAuthRefresh(r: OAuthRefreshRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO oauth_refresh_tokens (hash, id, authorization_id, created_at, used_at) VALUES ($1, $2, $3, $4, NULL)',
      [r.hash, r.id, r.authorizationId, r.createdAt],
    );
  }

  async useOAuthRefresh(hash: string, at: string): Promise<OAuthRefreshRecord | null> {
    return this.transaction(async (client) => {
      // Locked as useOAuthCode: one rotation per refresh token, a second use is seen as reuse.
      const [row] = (await client.query('SELECT * FROM oauth_refresh_tokens WHERE hash = $1 FOR UPDATE', [hash]))
        .rows as Row[];
      if (!row) return null;
      if (row.used_at == null)
        await client.query('UPDATE oauth_refresh_tokens SET used_at = $1 WHERE hash = $2', [at, hash]);
      return toRefresh(row);
    });
  }

  async pruneOAuth(now: string, before: string): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('DELETE FROM oauth_codes WHERE expires_at <= $1', [now]);
      await client.query("DELETE FROM oauth_requests WHERE expires_at <= $1 AND status <> 'approved'", [now]);
      // Approved but never collected (the browser went away): dropped a while after they expired.
      await client.query('DELETE FROM oauth_requests WHERE expires_at <= $1', [before]);
      const old = 'SELECT id FROM oauth_authorizations WHERE expires_at <= $1';
      await client.query(`DELETE FROM oauth_codes WHERE authorization_id IN (${old})`, [before]);
      await client.query(`DELETE FROM oauth_refresh_tokens WHERE authorization_id IN (${old})`, [before]);
      await client.query(`DELETE FROM tokens WHERE authorization_id IN (${old})`, [before]);
      await client.query(`DELETE FROM oauth_requests WHERE authorization_id IN (${old})`, [before]);
      await client.query('DELETE FROM oauth_authorizations WHERE expires_at <= $1', [before]);
    });
  }
}
