import { TOKEN_CACHE_MAX_ENTRIES, TOKEN_CACHE_TTL_MS } from './relay-limits.js';
import type { TokenRecord } from './store/store.js';

interface Entry {
  record: TokenRecord;
  /** Epoch ms after which the store is asked again. */
  until: number;
}

/**
 * Verified tokens by the SHA-256 of the token (never the token itself), each for a short
 * TTL. Only tokens that passed are kept: a failure always asks the store again, so a token
 * that becomes valid (created by the CLI) is accepted at once. Owns no timers: expired
 * entries go when looked up, or when the cache is full.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = TOKEN_CACHE_TTL_MS,
    private readonly maxEntries = TOKEN_CACHE_MAX_ENTRIES,
  ) {}

  /** The record verified under this hash within the TTL, or null. */
  get(hash: string, now: number): TokenRecord | null {
    const entry = this.entries.get(hash);
    if (!entry) return null;
    if (entry.until > now) return entry.record;
    this.entries.delete(hash);
    return null;
  }

  /** Keeps a record that just passed verification. */
  set(hash: string, record: TokenRecord, now: number): void {
    this.entries.delete(hash);
    if (this.entries.size >= this.maxEntries) this.makeRoom(now);
    this.entries.set(hash, { record, until: now + this.ttlMs });
  }

  /** Drops every entry of this token id (it was revoked), and of the grants it minted (revoked with it). */
  forgetToken(tokenId: string): void {
    for (const [hash, entry] of this.entries)
      if (entry.record.id === tokenId || entry.record.parentId === tokenId) this.entries.delete(hash);
  }

  /** Entries held now (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  private makeRoom(now: number): void {
    for (const [hash, entry] of this.entries) if (entry.until <= now) this.entries.delete(hash);
    // Still full: drop the oldest (a Map iterates in insertion order); they are asked for again.
    for (const hash of this.entries.keys()) {
      if (this.entries.size < this.maxEntries) break;
      this.entries.delete(hash);
    }
  }
}
