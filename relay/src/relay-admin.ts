import { deviceKeyFingerprint, TetherError, type OAuthAuthorization } from '@tether/shared';
import type { NodeBroadcast } from './bus/bus.js';
import { RedisBus } from './bus/redis-bus.js';
import { authorizationView } from './oauth/oauth-service.js';
import type { Store } from './store/store.js';
import { PostgresStore } from './store/postgres-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { generateToken, hashToken, newId } from './tokens.js';

/** Org slugs: lowercase, URL- and shell-friendly. */
const ORG_SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Administration without HTTP: used by the CLI, `npm start` and tests. */
export interface RelayAdmin {
  createOrg(slug: string): Promise<{ id: string; slug: string }>;
  createToken(input: {
    org: string;
    kind: 'desktop' | 'platform';
    name?: string;
  }): Promise<{ id: string; token: string }>;
  /** Desktop tokens and platform keys; a desktop token with the devices bound to it (the 4403 rule). */
  listTokens(org: string): Promise<
    Array<{
      id: string;
      kind: string;
      name: string;
      createdAt: string;
      revokedAt: string | null;
      devices: Array<{ deviceId: string; name: string }>;
    }>
  >;
  revokeToken(id: string): Promise<boolean>;
  /** The devices of an org with their token and device key (`device list`). */
  listDevices(org: string): Promise<
    Array<{
      deviceId: string;
      name: string;
      os: string;
      appVersion: string;
      lastSeenAt: string;
      tokenId: string | null;
      /** The bound key's fingerprint (`deviceKeyFingerprint`), or null: no key bound. */
      keyFingerprint: string | null;
      keyBoundAt: string | null;
    }>
  >;
  /**
   * Forgets a device's key, so the next keyed hello of the device id binds a new one (a
   * re-installed desktop); false when the org has no such device or it has no key.
   */
  forgetDeviceKey(org: string, deviceId: string): Promise<boolean>;
  /** The org's approved MCP clients (OAuth), neither revoked nor expired. */
  listOAuthClients(org: string): Promise<OAuthAuthorization[]>;
  /** Revokes an approved MCP client with its tokens; false when there is no such active one. */
  revokeOAuthClient(id: string): Promise<boolean>;
}

/**
 * RelayAdmin over a Store. Failures are TetherErrors with stable codes (`already_exists`,
 * `not_found`, `invalid_args`). `notify`, when given, tells the relay nodes of a revocation at
 * once (a cluster's bus); without it they notice by themselves: platform calls within
 * TOKEN_CACHE_TTL_MS, desktop sockets at their node's next bookkeeping round.
 */
export function createRelayAdmin(store: Store, notify?: (message: NodeBroadcast) => Promise<void>): RelayAdmin {
  const orgBySlug = async (slug: string) => {
    const org = await store.getOrgBySlug(slug);
    if (!org) throw new TetherError('not_found', `no org "${slug}"`);
    return org;
  };
  return {
    async createOrg(slug) {
      if (!ORG_SLUG.test(slug))
        throw new TetherError(
          'invalid_args',
          'an org slug is 1-63 lowercase letters, digits or dashes, starting with a letter or digit',
        );
      const org = await store.createOrg(slug);
      return { id: org.id, slug: org.slug };
    },
    async createToken({ org: slug, kind, name }) {
      if (kind !== 'desktop' && kind !== 'platform')
        throw new TetherError('invalid_args', 'kind must be desktop or platform');
      const org = await orgBySlug(slug);
      const token = generateToken(kind);
      const id = newId('tok_');
      await store.insertToken({
        id,
        orgId: org.id,
        kind,
        name: (name ?? `${kind} token`).slice(0, 200),
        hash: hashToken(token),
        createdAt: new Date().toISOString(),
        expiresAt: null,
        runtimeIds: null,
        tools: null,
        parentId: null,
      });
      return { id, token };
    },
    async listTokens(slug) {
      const org = await orgBySlug(slug);
      const bound = await store.boundDevices(org.id);
      return (await store.listTokens(org.id)).map((t) => ({
        id: t.id,
        kind: t.kind,
        name: t.name,
        createdAt: t.createdAt,
        revokedAt: t.revokedAt,
        devices: bound.filter((d) => d.tokenId === t.id).map(({ deviceId, name }) => ({ deviceId, name })),
      }));
    },
    async revokeToken(id) {
      const revoked = await store.revokeToken(id, new Date().toISOString());
      if (revoked) await notify?.({ kind: 'token-revoked', tokenId: id });
      return revoked;
    },
    async listDevices(slug) {
      const org = await orgBySlug(slug);
      return (await store.listDevices(org.id)).map((d) => ({
        deviceId: d.deviceId,
        name: d.name,
        os: d.os,
        appVersion: d.appVersion,
        lastSeenAt: d.lastSeenAt,
        tokenId: d.tokenId,
        keyFingerprint: d.publicKey === null ? null : deviceKeyFingerprint(d.publicKey),
        keyBoundAt: d.keyBoundAt,
      }));
    },
    async forgetDeviceKey(slug, deviceId) {
      const org = await orgBySlug(slug);
      return store.forgetDeviceKey(org.id, deviceId);
    },
    async listOAuthClients(slug) {
      const org = await orgBySlug(slug);
      return (await store.listOAuthAuthorizations(org.id, new Date().toISOString())).map(authorizationView);
    },
    async revokeOAuthClient(id) {
      const tokenIds = await store.revokeOAuthAuthorization(id, new Date().toISOString());
      if (tokenIds === null) return false;
      if (notify) {
        for (const tokenId of tokenIds) await notify({ kind: 'token-revoked', tokenId });
        const authorization = await store.getOAuthAuthorization(id);
        if (authorization) await notify({ kind: 'oauth-changed', orgId: authorization.orgId });
      }
      return true;
    },
  };
}

/** Opens the data dir's store for administration without a server (CLI, `npm start` bootstrap). */
export function openAdmin(dataDir: string): RelayAdmin & { close(): void } {
  const store = new SqliteStore(dataDir);
  return { ...createRelayAdmin(store), close: () => store.close() };
}

/** Options of `openClusterAdmin`. */
export interface ClusterAdminOptions {
  /**
   * The cluster's Redis: revocations are broadcast on it, so every node drops the token from its
   * caches and closes its desktop sockets at once (without it, within TOKEN_CACHE_TTL_MS and the
   * next bookkeeping round).
   */
  redisUrl?: string | undefined;
  /** Told when a revocation, done in the database, could not be broadcast (Redis unreachable). */
  onNotifyFailed?: (err: Error) => void;
}

/** The same for a cluster's PostgreSQL database (`tether-relay … --database-url [--redis-url]`). */
export async function openClusterAdmin(
  databaseUrl: string,
  options: ClusterAdminOptions = {},
): Promise<RelayAdmin & { close(): Promise<void> }> {
  const store = await PostgresStore.open(databaseUrl);
  let bus: Promise<RedisBus> | null = null;
  const { redisUrl } = options;
  const notify =
    redisUrl === undefined
      ? undefined
      : async (message: NodeBroadcast) => {
          try {
            await (await (bus ??= RedisBus.connect({ url: redisUrl }))).broadcast(message);
          } catch (err) {
            options.onNotifyFailed?.(err as Error);
          }
        };
  return {
    ...createRelayAdmin(store, notify),
    close: async () => {
      const connected = await bus?.catch(() => null);
      await connected?.dispose();
      await store.close();
    },
  };
}
