import type Database from 'better-sqlite3';
import type { Category, ToolName } from '@tether/shared';
import type {
  OAuthAuthorizationRecord,
  OAuthClientRecord,
  OAuthCodeRecord,
  OAuthRefreshRecord,
  OAuthRequestRecord,
  OAuthStore,
} from './store.js';

interface RequestRow {
  id: string;
  browser_hash: string;
  short_code: string;
  org_id: string;
  client_id: string;
  client_name: string;
  redirect_uri: string;
  state: string | null;
  code_challenge: string;
  resource: string;
  runtime_id: string | null;
  requested_categories: string;
  created_at: string;
  expires_at: string;
  status: OAuthRequestRecord['status'];
  authorization_id: string | null;
}

interface AuthorizationRow {
  id: string;
  org_id: string;
  client_id: string;
  client_name: string;
  redirect_uri: string;
  resource: string;
  runtime_ids: string;
  categories: string;
  tools: string;
  approved_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

interface CodeRow {
  hash: string;
  authorization_id: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  resource: string;
  expires_at: string;
  used_at: string | null;
}

const toRequest = (r: RequestRow): OAuthRequestRecord => ({
  id: r.id,
  browserHash: r.browser_hash,
  shortCode: r.short_code,
  orgId: r.org_id,
  clientId: r.client_id,
  clientName: r.client_name,
  redirectUri: r.redirect_uri,
  state: r.state,
  codeChallenge: r.code_challenge,
  resource: r.resource,
  runtimeId: r.runtime_id,
  requestedCategories: JSON.parse(r.requested_categories) as Category[],
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  status: r.status,
  authorizationId: r.authorization_id,
});

const toAuthorization = (r: AuthorizationRow): OAuthAuthorizationRecord => ({
  id: r.id,
  orgId: r.org_id,
  clientId: r.client_id,
  clientName: r.client_name,
  redirectUri: r.redirect_uri,
  resource: r.resource,
  runtimeIds: JSON.parse(r.runtime_ids) as string[],
  categories: JSON.parse(r.categories) as Category[],
  tools: JSON.parse(r.tools) as ToolName[],
  approvedBy: r.approved_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

const toCode = (r: CodeRow): OAuthCodeRecord => ({
  hash: r.hash,
  authorizationId: r.authorization_id,
  clientId: r.client_id,
  redirectUri: r.redirect_uri,
  codeChallenge: r.code_challenge,
  resource: r.resource,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
});

/** The OAuth half of SqliteStore (same database, same prepared-statement cache). */
export class SqliteOAuthRecords implements OAuthStore {
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: (sql: string) => Database.Statement,
  ) {}

  async insertOAuthClient(c: OAuthClientRecord): Promise<void> {
    this.stmt(
      'INSERT INTO oauth_clients (client_id, client_name, redirect_uris, auth_method, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(c.clientId, c.clientName, JSON.stringify(c.redirectUris), c.authMethod, c.secretHash, c.createdAt);
  }

  async getOAuthClient(clientId: string): Promise<OAuthClientRecord | null> {
    const row = this.stmt('SELECT * FROM oauth_clients WHERE client_id = ?').get(clientId) as
      | {
          client_id: string;
          client_name: string;
          redirect_uris: string;
          auth_method: OAuthClientRecord['authMethod'];
          secret_hash: string | null;
          created_at: string;
        }
      | undefined;
    return row
      ? {
          clientId: row.client_id,
          clientName: row.client_name,
          redirectUris: JSON.parse(row.redirect_uris) as string[],
          authMethod: row.auth_method,
          secretHash: row.secret_hash,
          createdAt: row.created_at,
        }
      : null;
  }

  async insertOAuthRequest(r: OAuthRequestRecord): Promise<void> {
    this.stmt(
      `INSERT INTO oauth_requests (id, browser_hash, short_code, org_id, client_id, client_name, redirect_uri, state,
         code_challenge, resource, runtime_id, requested_categories, created_at, expires_at, status, authorization_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
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
    );
  }

  async getOAuthRequest(id: string): Promise<OAuthRequestRecord | null> {
    const row = this.stmt('SELECT * FROM oauth_requests WHERE id = ?').get(id) as RequestRow | undefined;
    return row ? toRequest(row) : null;
  }

  async listPendingOAuthRequests(orgId: string, now: string): Promise<OAuthRequestRecord[]> {
    const rows = this.stmt(
      "SELECT * FROM oauth_requests WHERE org_id = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at",
    ).all(orgId, now) as RequestRow[];
    return rows.map(toRequest);
  }

  async countPendingOAuthRequests(now: string): Promise<number> {
    const row = this.stmt("SELECT COUNT(*) AS n FROM oauth_requests WHERE status = 'pending' AND expires_at > ?").get(
      now,
    ) as { n: number };
    return row.n;
  }

  async settleOAuthRequest(
    id: string,
    now: string,
    outcome: { status: 'approved'; authorization: OAuthAuthorizationRecord } | { status: 'denied' },
  ): Promise<boolean> {
    return this.db
      .transaction(() => {
        const pending = this.stmt(
          "SELECT id FROM oauth_requests WHERE id = ? AND status = 'pending' AND expires_at > ?",
        ).get(id, now);
        if (!pending) return false;
        if (outcome.status === 'denied') {
          this.stmt("UPDATE oauth_requests SET status = 'denied' WHERE id = ?").run(id);
          return true;
        }
        const a = outcome.authorization;
        this.stmt(
          `INSERT INTO oauth_authorizations (id, org_id, client_id, client_name, redirect_uri, resource, runtime_ids,
             categories, tools, approved_by, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        ).run(
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
        );
        this.stmt("UPDATE oauth_requests SET status = 'approved', authorization_id = ? WHERE id = ?").run(a.id, id);
        return true;
      })
      .immediate();
  }

  async collectOAuthRequest(id: string): Promise<boolean> {
    return (
      this.stmt("UPDATE oauth_requests SET status = 'collected' WHERE id = ? AND status = 'approved'").run(id).changes >
      0
    );
  }

  async getOAuthAuthorization(id: string): Promise<OAuthAuthorizationRecord | null> {
    const row = this.stmt('SELECT * FROM oauth_authorizations WHERE id = ?').get(id) as AuthorizationRow | undefined;
    return row ? toAuthorization(row) : null;
  }

  async listOAuthAuthorizations(orgId: string, now: string): Promise<OAuthAuthorizationRecord[]> {
    const rows = this.stmt(
      'SELECT * FROM oauth_authorizations WHERE org_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, rowid DESC',
    ).all(orgId, now) as AuthorizationRow[];
    return rows.map(toAuthorization);
  }

  async revokeOAuthAuthorization(id: string, at: string): Promise<string[] | null> {
    return this.db
      .transaction(() => {
        const done = this.stmt(
          'UPDATE oauth_authorizations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
        ).run(at, id);
        if (done.changes === 0) return null;
        const tokens = this.stmt('SELECT id FROM tokens WHERE authorization_id = ? AND revoked_at IS NULL').all(
          id,
        ) as Array<{ id: string }>;
        this.stmt('UPDATE tokens SET revoked_at = ? WHERE authorization_id = ? AND revoked_at IS NULL').run(at, id);
        this.stmt('UPDATE oauth_refresh_tokens SET used_at = COALESCE(used_at, ?) WHERE authorization_id = ?').run(
          at,
          id,
        );
        return tokens.map((t) => t.id);
      })
      .immediate();
  }

  async insertOAuthCode(c: OAuthCodeRecord): Promise<void> {
    this.stmt(
      `INSERT INTO oauth_codes (hash, authorization_id, client_id, redirect_uri, code_challenge, resource, expires_at, used_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
    ).run(c.hash, c.authorizationId, c.clientId, c.redirectUri, c.codeChallenge, c.resource, c.expiresAt);
  }

  async useOAuthCode(hash: string, at: string): Promise<OAuthCodeRecord | null> {
    return this.db
      .transaction(() => {
        const row = this.stmt('SELECT * FROM oauth_codes WHERE hash = ?').get(hash) as CodeRow | undefined;
        if (!row) return null;
        if (row.used_at === null) this.stmt('UPDATE oauth_codes SET used_at = ? WHERE hash = ?').run(at, hash);
        return toCode(row);
      })
      .immediate();
  }

  async insertOAuthRefresh(r: OAuthRefreshRecord): Promise<void> {
    this.stmt(
      'INSERT INTO oauth_refresh_tokens (hash, id, authorization_id, created_at, used_at) VALUES (?, ?, ?, ?, NULL)',
    ).run(r.hash, r.id, r.authorizationId, r.createdAt);
  }

  async useOAuthRefresh(hash: string, at: string): Promise<OAuthRefreshRecord | null> {
    return this.db
      .transaction(() => {
        const row = this.stmt('SELECT * FROM oauth_refresh_tokens WHERE hash = ?').get(hash) as
          | { hash: string; id: string; authorization_id: string; created_at: string; used_at: string | null }
          | undefined;
        if (!row) return null;
        if (row.used_at === null) this.stmt('UPDATE oauth_refresh_tokens SET used_at = ? WHERE hash = ?').run(at, hash);
        return {
          hash: row.hash,
          id: row.id,
          authorizationId: row.authorization_id,
          createdAt: row.created_at,
          usedAt: row.used_at,
        };
      })
      .immediate();
  }

  async pruneOAuth(now: string, before: string): Promise<void> {
    this.db.transaction(() => {
      this.stmt('DELETE FROM oauth_codes WHERE expires_at <= ?').run(now);
      this.stmt("DELETE FROM oauth_requests WHERE expires_at <= ? AND status <> 'approved'").run(now);
      // Approved but never collected (the browser went away): dropped a while after they expired.
      this.stmt('DELETE FROM oauth_requests WHERE expires_at <= ?').run(before);
      const old = 'SELECT id FROM oauth_authorizations WHERE expires_at <= ?';
      this.stmt(`DELETE FROM oauth_codes WHERE authorization_id IN (${old})`).run(before);
      this.stmt(`DELETE FROM oauth_refresh_tokens WHERE authorization_id IN (${old})`).run(before);
      this.stmt(`DELETE FROM tokens WHERE authorization_id IN (${old})`).run(before);
      this.stmt(`DELETE FROM oauth_requests WHERE authorization_id IN (${old})`).run(before);
      this.stmt('DELETE FROM oauth_authorizations WHERE expires_at <= ?').run(before);
    })();
  }
}
