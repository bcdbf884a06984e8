import type { Store, TokenRecord } from './store/store.js';
import { bearerToken, hashToken, tokenKindOf, type TokenKind } from './tokens.js';

/**
 * Checks an `Authorization` header against the stored hashes. null for anything wrong:
 * missing, malformed, unknown, revoked, expired, or of a kind not accepted here. The
 * caller answers 401 without saying which, so a token cannot be probed.
 */
export async function authenticateToken(store: Store, authorization: string | undefined, kinds: readonly TokenKind[], now = Date.now()): Promise<TokenRecord | null> {
  const token = bearerToken(authorization);
  if (token === null) return null;
  const claimed = tokenKindOf(token);
  if (claimed === null || !kinds.includes(claimed)) return null;
  const record = await store.findTokenByHash(hashToken(token));
  if (!record || record.kind !== claimed || record.revokedAt !== null) return null;
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now) return null;
  return record;
}
