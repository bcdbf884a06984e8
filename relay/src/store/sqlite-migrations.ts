/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append only: a shipped migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE orgs (
     id TEXT PRIMARY KEY,
     slug TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     org_id TEXT NOT NULL REFERENCES orgs(id),
     kind TEXT NOT NULL CHECK (kind IN ('desktop', 'platform', 'grant')),
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     revoked_at TEXT,
     expires_at TEXT,
     runtime_ids TEXT,
     tools TEXT
   );
   CREATE INDEX tokens_org ON tokens(org_id, kind);
   CREATE TABLE devices (
     org_id TEXT NOT NULL REFERENCES orgs(id),
     device_id TEXT NOT NULL,
     name TEXT NOT NULL,
     os TEXT NOT NULL,
     app_version TEXT NOT NULL,
     last_seen_at TEXT NOT NULL,
     PRIMARY KEY (org_id, device_id)
   );
   CREATE TABLE runtimes (
     id TEXT PRIMARY KEY,
     org_id TEXT NOT NULL REFERENCES orgs(id),
     device_id TEXT NOT NULL,
     device_name TEXT NOT NULL,
     device_os TEXT NOT NULL,
     workspace_id TEXT NOT NULL,
     name TEXT NOT NULL,
     description TEXT NOT NULL,
     capabilities TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT,
     archived_by TEXT,
     last_seen_at TEXT NOT NULL,
     created_at TEXT NOT NULL,
     UNIQUE (org_id, device_id, workspace_id)
   );
   CREATE INDEX runtimes_org_state ON runtimes(org_id, state);
   CREATE TABLE calls (
     id TEXT PRIMARY KEY,
     org_id TEXT NOT NULL,
     runtime_id TEXT NOT NULL,
     tool TEXT NOT NULL,
     caller TEXT NOT NULL,
     token_id TEXT NOT NULL,
     started_at TEXT NOT NULL,
     finished_at TEXT,
     outcome TEXT,
     duration_ms INTEGER
   );
   CREATE INDEX calls_started ON calls(started_at);`,
  // A device id belongs to the desktop token that first said hello with it (another token of the
  // org could otherwise replace its connection and take its runtimes). Rows from before this
  // migration have none and are bound by their next hello.
  `ALTER TABLE devices ADD COLUMN token_id TEXT REFERENCES tokens(id);`,
  // A grant records the platform key that minted it, so revoking a (leaked) key revokes its
  // grants too. Grants from before this migration have none and live out their TTL (at most 7 days).
  `ALTER TABLE tokens ADD COLUMN parent_id TEXT REFERENCES tokens(id);
   CREATE INDEX tokens_parent ON tokens(parent_id) WHERE parent_id IS NOT NULL;`,
  // OAuth 2.1 for MCP clients (relay/src/oauth): an access token is a grant bound to one resource and
  // to the authorization the person gave; codes, refresh tokens and consent requests are stored hashed.
  `ALTER TABLE tokens ADD COLUMN audience TEXT;
   ALTER TABLE tokens ADD COLUMN authorization_id TEXT;
   CREATE INDEX tokens_authorization ON tokens(authorization_id) WHERE authorization_id IS NOT NULL;
   CREATE TABLE oauth_clients (
     client_id TEXT PRIMARY KEY,
     client_name TEXT NOT NULL,
     redirect_uris TEXT NOT NULL,
     auth_method TEXT NOT NULL CHECK (auth_method IN ('none', 'client_secret_post', 'client_secret_basic')),
     secret_hash TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE oauth_authorizations (
     id TEXT PRIMARY KEY,
     org_id TEXT NOT NULL REFERENCES orgs(id),
     client_id TEXT NOT NULL,
     client_name TEXT NOT NULL,
     redirect_uri TEXT NOT NULL,
     resource TEXT NOT NULL,
     runtime_ids TEXT NOT NULL,
     categories TEXT NOT NULL,
     tools TEXT NOT NULL,
     approved_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     revoked_at TEXT
   );
   CREATE INDEX oauth_authorizations_org ON oauth_authorizations(org_id);
   CREATE TABLE oauth_requests (
     id TEXT PRIMARY KEY,
     browser_hash TEXT NOT NULL,
     short_code TEXT NOT NULL,
     org_id TEXT NOT NULL REFERENCES orgs(id),
     client_id TEXT NOT NULL,
     client_name TEXT NOT NULL,
     redirect_uri TEXT NOT NULL,
     state TEXT,
     code_challenge TEXT NOT NULL,
     resource TEXT NOT NULL,
     runtime_id TEXT,
     requested_categories TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'collected')),
     authorization_id TEXT REFERENCES oauth_authorizations(id)
   );
   CREATE INDEX oauth_requests_org ON oauth_requests(org_id, status);
   CREATE TABLE oauth_codes (
     hash TEXT PRIMARY KEY,
     authorization_id TEXT NOT NULL REFERENCES oauth_authorizations(id),
     client_id TEXT NOT NULL,
     redirect_uri TEXT NOT NULL,
     code_challenge TEXT NOT NULL,
     resource TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     used_at TEXT
   );
   CREATE TABLE oauth_refresh_tokens (
     hash TEXT PRIMARY KEY,
     id TEXT NOT NULL,
     authorization_id TEXT NOT NULL REFERENCES oauth_authorizations(id),
     created_at TEXT NOT NULL,
     used_at TEXT
   );
   CREATE INDEX oauth_refresh_authorization ON oauth_refresh_tokens(authorization_id);`,
  // A device is bound at its first keyed hello to the Ed25519 public key it made; later hellos must
  // prove they hold the private key. Rows from before this migration have none and are bound by
  // their next keyed hello.
  `ALTER TABLE devices ADD COLUMN public_key TEXT;
   ALTER TABLE devices ADD COLUMN key_bound_at TEXT;`,
];
