import type { Store, TokenRecord } from './store/store.js';
import type { TokenCache } from './token-cache.js';
import { bearerToken, hashToken, tokenKindOf, type TokenKind } from './tokens.js';

/**
 * Checks an `Authorization` header against the stored hashes. null for anything wrong:
 * missing, malformed, unknown, revoked, expired, or of a kind not accepted here. The
 * caller answers 401 without saying which, so a token cannot be probed. With a `cache`,
 * a token verified within its TTL is not looked up again (its expiry is still checked).
 */
export async function authenticateToken(
  store: Store,
  authorization: string | undefined,
  kinds: readonly TokenKind[],
  now = Date.now(),
  cache?: TokenCache,
): Promise<TokenRecord | null> {
  const token = bearerToken(authorization);
  if (token === null) return null;
  const claimed = tokenKindOf(token);
  if (claimed === null || !kinds.includes(claimed)) return null;
  const hash = hashToken(token);
  let record = cache?.get(hash, now) ?? null;
  if (!record) {
    record = await store.findTokenByHash(hash);
    if (!record || record.kind !== claimed || record.revokedAt !== null) return null;
    cache?.set(hash, record, now);
  }
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now) return null;
  return record;
}
