import type { Capabilities, Category, RuntimeState, ToolName } from '@tether/shared';
import type { TokenKind } from '../tokens.js';

/** An organization: the tenant every token, runtime and call belongs to. */
export interface OrgRecord {
  id: string;
  slug: string;
  createdAt: string;
}

/** A token as stored: its hash, never the token itself. Grants carry their scope and expiry. */
export interface TokenRecord {
  id: string;
  orgId: string;
  kind: TokenKind;
  /** A platform key's or desktop token's name; a grant's label. */
  name: string;
  hash: string;
  createdAt: string;
  revokedAt: string | null;
  expiresAt: string | null;
  runtimeIds: string[] | null;
  tools: ToolName[] | null;
  /** A grant's platform key (revoking the key revokes the grant); null for keys and desktop tokens. */
  parentId: string | null;
  /** An OAuth access token's resource (the MCP URL it was issued for); it is refused at any other. */
  audience?: string | null;
  /** An OAuth access token's authorization (revoking the authorization revokes the token). */
  authorizationId?: string | null;
}

/** How a registered client authenticates at the token endpoint (PKCE is required of every client besides). */
export type OAuthClientAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

/** A client registered with Dynamic Client Registration (RFC 7591). */
export interface OAuthClientRecord {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  authMethod: OAuthClientAuthMethod;
  /** Hash of a confidential client's secret; null for a public client. */
  secretHash: string | null;
  createdAt: string;
}

/** Where a consent request stands. `collected`: approved and its code handed to the browser. */
export type OAuthRequestStatus = 'pending' | 'approved' | 'denied' | 'collected';

/** One authorize request waiting for (or settled by) the person's consent. */
export interface OAuthRequestRecord {
  id: string;
  /** Hash of the secret cookie of the browser that opened the authorize page: only it collects the code. */
  browserHash: string;
  shortCode: string;
  orgId: string;
  clientId: string;
  clientName: string;
  redirectUri: string;
  state: string | null;
  codeChallenge: string;
  /** The resource (MCP URL) the client asked for; '' when it named none. */
  resource: string;
  /** The runtime of a per-runtime resource; null for the org-wide `/v1/mcp`. */
  runtimeId: string | null;
  requestedCategories: Category[];
  createdAt: string;
  expiresAt: string;
  status: OAuthRequestStatus;
  authorizationId: string | null;
}

/** An approved client: what the person chose (runtimes, tools, until when), the root of its tokens. */
export interface OAuthAuthorizationRecord {
  id: string;
  orgId: string;
  clientId: string;
  clientName: string;
  redirectUri: string;
  resource: string;
  runtimeIds: string[];
  categories: Category[];
  tools: ToolName[];
  approvedBy: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

/** An authorization code, stored hashed; single use. */
export interface OAuthCodeRecord {
  hash: string;
  authorizationId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  expiresAt: string;
  usedAt: string | null;
}

/** A refresh token, stored hashed. Using it retires it (rotation); using a retired one revokes its authorization. */
export interface OAuthRefreshRecord {
  hash: string;
  id: string;
  authorizationId: string;
  createdAt: string;
  usedAt: string | null;
}

/** The OAuth records of the Store (relay/src/oauth). */
export interface OAuthStore {
  insertOAuthClient(client: OAuthClientRecord): Promise<void>;
  getOAuthClient(clientId: string): Promise<OAuthClientRecord | null>;

  insertOAuthRequest(request: OAuthRequestRecord): Promise<void>;
  getOAuthRequest(id: string): Promise<OAuthRequestRecord | null>;
  /** Requests of an org still waiting for consent at `now`. */
  listPendingOAuthRequests(orgId: string, now: string): Promise<OAuthRequestRecord[]>;
  /** Pending requests of every org at `now` (count-bounded by the caller's limit). */
  countPendingOAuthRequests(now: string): Promise<number>;
  /**
   * Settles a request that is still pending and not expired at `now` (approved with its
   * authorization, in one transaction with inserting it; or denied). False when it was not.
   */
  settleOAuthRequest(
    id: string,
    now: string,
    outcome: { status: 'approved'; authorization: OAuthAuthorizationRecord } | { status: 'denied' },
  ): Promise<boolean>;
  /** Marks an approved request collected (its code was handed out); false when it was not `approved`. */
  collectOAuthRequest(id: string): Promise<boolean>;

  getOAuthAuthorization(id: string): Promise<OAuthAuthorizationRecord | null>;
  /** Authorizations of an org neither revoked nor expired at `now`, newest first. */
  listOAuthAuthorizations(orgId: string, now: string): Promise<OAuthAuthorizationRecord[]>;
  /** Revokes an authorization with its access and refresh tokens; returns the access token ids revoked (null: nothing to revoke). */
  revokeOAuthAuthorization(id: string, at: string): Promise<string[] | null>;

  insertOAuthCode(code: OAuthCodeRecord): Promise<void>;
  /** Marks the code used at `at` and returns it as it was before (so a second use is seen: `usedAt` set). */
  useOAuthCode(hash: string, at: string): Promise<OAuthCodeRecord | null>;

  insertOAuthRefresh(refresh: OAuthRefreshRecord): Promise<void>;
  /** Marks the refresh token used at `at` and returns it as it was before, with its authorization's state. */
  useOAuthRefresh(hash: string, at: string): Promise<OAuthRefreshRecord | null>;

  /** Deletes expired consent requests and codes, and authorizations (with their tokens) expired before `before`. */
  pruneOAuth(now: string, before: string): Promise<void>;
}

/** Who archived a runtime: the desktop (workspace removed; announcing it again revives it) or the platform (sticky). */
export type ArchivedBy = 'desktop' | 'platform';

/** A runtime: one device's workspace, as the relay records it. */
/** Where a page of runtimes ends: the creation time, device id and workspace id of its last runtime (unique in an org). */
export interface RuntimePosition {
  createdAt: string;
  deviceId: string;
  workspaceId: string;
}

export interface RuntimeRecord {
  id: string;
  orgId: string;
  deviceId: string;
  deviceName: string;
  deviceOs: string;
  workspaceId: string;
  name: string;
  description: string;
  capabilities: Capabilities;
  state: RuntimeState;
  reason: string | null;
  archivedBy: ArchivedBy | null;
  lastSeenAt: string;
  createdAt: string;
}

/** What a desktop says about one of its workspaces; the store turns it into a runtime row. */
export interface RuntimeUpsert {
  id: string;
  orgId: string;
  deviceId: string;
  deviceName: string;
  deviceOs: string;
  workspaceId: string;
  name: string;
  description: string;
  capabilities: Capabilities;
  state: RuntimeState;
  reason: string | null;
  archivedBy: ArchivedBy | null;
  lastSeenAt: string;
}

/** What a desktop says about itself in its hello, and the token it connected with. */
export interface DeviceHello {
  orgId: string;
  deviceId: string;
  name: string;
  os: string;
  appVersion: string;
  lastSeenAt: string;
  tokenId: string;
  /** The device key the hello proved it holds (verified by the session); null or absent: a desktop older than device keys. */
  publicKey?: string | null;
}

/** A device as `tether-relay device list` shows it. */
export interface DeviceRecord {
  orgId: string;
  deviceId: string;
  name: string;
  os: string;
  appVersion: string;
  lastSeenAt: string;
  tokenId: string | null;
  /** The bound Ed25519 public key (base64url), or null: not bound to a key yet (or forgotten). */
  publicKey: string | null;
  keyBoundAt: string | null;
}

/**
 * The outcome of a hello's claim on its device id. Refused when the device is bound to another
 * token that is still valid, or to another device key (`keyRefused`; also when the device has a
 * key and the hello none); `tookOverFrom` names the revoked (or expired, or gone) token the
 * device was bound to before this claim moved it, `keyBound` says this claim bound the key.
 */
export type DeviceClaim =
  | { ok: true; tookOverFrom: string | null; keyBound?: true }
  | { ok: false; boundTokenId: string }
  | { ok: false; keyRefused: true };

/** One row of the bounded call log. */
export interface CallRecord {
  id: string;
  orgId: string;
  runtimeId: string;
  tool: ToolName;
  caller: string;
  tokenId: string;
  startedAt: string;
  finishedAt: string | null;
  /** `ok`, an error code, or null while running. */
  outcome: string | null;
  durationMs: number | null;
}

/**
 * The relay's records: SQLite embedded (sqlite-store.ts), PostgreSQL for a cluster
 * (postgres-store.ts), hence every method is async even where SQLite answers synchronously.
 * Expected failures throw TetherError (e.g. `already_exists`).
 */
export interface Store extends OAuthStore {
  createOrg(slug: string): Promise<OrgRecord>;
  getOrgBySlug(slug: string): Promise<OrgRecord | null>;
  /** The org when the relay has exactly one (a single-tenant relay: nobody need name it), else null. */
  onlyOrg(): Promise<OrgRecord | null>;

  insertToken(token: Omit<TokenRecord, 'revokedAt'>): Promise<void>;
  /** The token with this hash; a grant whose platform key is revoked reads as revoked (at the key's time). */
  findTokenByHash(hash: string): Promise<TokenRecord | null>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Desktop tokens and platform keys of an org (grants are short-lived and not listed). */
  listTokens(orgId: string): Promise<TokenRecord[]>;
  /**
   * Revokes the token and, for a platform key, the grants it minted (one transaction); false when
   * there is no such token or it was revoked already.
   */
  revokeToken(id: string, at: string): Promise<boolean>;

  /** Marks connected devices and their live runtimes as seen now (one heartbeat tick, one transaction). */
  touchDevices(devices: Array<{ orgId: string; deviceId: string }>, at: string): Promise<void>;
  /** Of these token ids, those revoked or gone (checked once per heartbeat tick for all connections). */
  revokedTokenIds(ids: string[]): Promise<string[]>;

  /**
   * Records a hello's device, atomically binding the device id to the hello's token: a device
   * never seen, or not bound yet (rows from before the binding), is bound to it; a device bound
   * to a token no longer valid (revoked, expired, gone) moves to it; a device bound to another
   * valid token is refused and left untouched. Then the key, in the same transaction: a device
   * with no key yet is bound to the hello's key; one with a key is refused (untouched) unless
   * the hello's key is that one.
   */
  claimDevice(hello: DeviceHello): Promise<DeviceClaim>;
  /** The token a device id is bound to, or null (unknown device, or not bound yet). */
  deviceTokenId(orgId: string, deviceId: string): Promise<string | null>;
  /** Every device of an org, by id (for `device list`). */
  listDevices(orgId: string): Promise<DeviceRecord[]>;
  /**
   * Forgets a device's key (an admin letting a re-installed desktop bind a new one); false when
   * there is no such device or it has no key.
   */
  forgetDeviceKey(orgId: string, deviceId: string): Promise<boolean>;
  /** The devices of an org bound to a token, with the token's id (for `token list`). */
  boundDevices(orgId: string): Promise<Array<{ tokenId: string; deviceId: string; name: string }>>;

  upsertRuntime(runtime: RuntimeUpsert): Promise<RuntimeRecord>;
  getRuntime(id: string): Promise<RuntimeRecord | null>;
  listRuntimes(orgId: string, filter?: { state?: RuntimeState; deviceId?: string }): Promise<RuntimeRecord[]>;
  /**
   * One page of an org's runtimes in listRuntimes' order (creation time, device, workspace), those after
   * `after` (the last one of the previous page), at most `limit`; `ids` narrows to those
   * runtimes (a grant's).
   */
  listRuntimesPage(
    orgId: string,
    page: { state?: RuntimeState; ids?: readonly string[]; after?: RuntimePosition; limit: number },
  ): Promise<RuntimeRecord[]>;
  setRuntimeState(
    id: string,
    state: RuntimeState,
    reason: string | null,
    archivedBy: ArchivedBy | null,
    lastSeenAt: string,
  ): Promise<RuntimeRecord | null>;
  /** Every running, paused or error runtime becomes stopped (start-up of a single-process relay: nothing is connected yet). */
  stopAllLiveRuntimes(at: string): Promise<number>;
  /**
   * Ids of running, paused or error runtimes not seen since `seenBefore`, at most `limit` (a
   * cluster's sweep: a node that died no longer refreshes its desktops' lastSeenAt).
   */
  staleRuntimes(seenBefore: string, limit: number): Promise<string[]>;
  /**
   * Of these runtimes, those still live and still not seen since `seenBefore` become stopped (in
   * one step, so a runtime a desktop announced again meanwhile stays as it is); returns them.
   */
  stopStaleRuntimes(ids: string[], seenBefore: string, at: string): Promise<RuntimeRecord[]>;
  /** True while the database answers (readiness); the embedded store always does. */
  ping?(): Promise<boolean>;
  countRuntimesByState(): Promise<Record<RuntimeState, number>>;
  /** Runtimes of an org that are not archived (maxRuntimesPerOrg). */
  countActiveRuntimes(orgId: string): Promise<number>;

  /** Rows are written in batches; this writes the queued ones now (and waits for that). */
  flushCalls(): void | Promise<void>;
  insertCall(call: CallRecord): Promise<void>;
  finishCall(id: string, outcome: string, finishedAt: string, durationMs: number): Promise<void>;
  getCall(id: string): Promise<CallRecord | null>;
  /** Rows still unfinished get the outcome `unknown` (start-up of a single-process relay: they were cut off by a crash); returns how many. */
  finishOrphanedCalls(at: string): Promise<number>;
  /** How many rows the call log holds, and the start of its oldest (null when empty). */
  callLogSpan(): Promise<{ rows: number; oldestStartedAt: string | null }>;
  /** Deletes rows past the count or age bound; returns how many went. */
  pruneCalls(maxRows: number, olderThan: string): Promise<number>;

  /** Closes the database (writing what is queued first); later calls fail. */
  close(): void | Promise<void>;
}
