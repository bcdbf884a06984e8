import type { Capabilities, RuntimeState, ToolName } from '@tether/shared';
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
}

/** Who archived a runtime: the desktop (workspace removed; announcing it again revives it) or the platform (sticky). */
export type ArchivedBy = 'desktop' | 'platform';

/** A runtime: one device's workspace, as the relay records it. */
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
 * The relay's records. SQLite now (sqlite-store.ts); PostgreSQL later behind the same
 * interface, hence every method is async even where SQLite answers synchronously.
 * Expected failures throw TetherError (e.g. `already_exists`).
 */
export interface Store {
  createOrg(slug: string): Promise<OrgRecord>;
  getOrgBySlug(slug: string): Promise<OrgRecord | null>;

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
  setRuntimeState(
    id: string,
    state: RuntimeState,
    reason: string | null,
    archivedBy: ArchivedBy | null,
    lastSeenAt: string,
  ): Promise<RuntimeRecord | null>;
  /** Every running, paused or error runtime becomes stopped (start-up of a single-process relay: nothing is connected yet). */
  stopAllLiveRuntimes(at: string): Promise<number>;
  countRuntimesByState(): Promise<Record<RuntimeState, number>>;

  insertCall(call: CallRecord): Promise<void>;
  finishCall(id: string, outcome: string, finishedAt: string, durationMs: number): Promise<void>;
  getCall(id: string): Promise<CallRecord | null>;
  /** Deletes rows past the count or age bound; returns how many went. */
  pruneCalls(maxRows: number, olderThan: string): Promise<number>;

  /** Closes the database; later calls fail. */
  close(): void;
}
