import { isIPv6 } from 'node:net';
import { RATE_LIMIT_MAX_KEYS } from '../relay-limits.js';

interface Window {
  count: number;
  /** Epoch ms at which this window ends and the count starts again from zero. */
  resetAt: number;
}

/**
 * Fixed-window counters by key (a credential id, a client address): at most `limit` hits per
 * `windowMs` each. A fixed window, not a sliding log: one number and one timestamp per key, so
 * the check is a Map lookup on every request. Owns no timers: a finished window is replaced
 * when its key comes back, and when `maxKeys` keys are held the finished ones go first, then
 * the oldest (so memory stays bounded however many addresses an attacker uses).
 * A `limit` of 0 switches the limiter off.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly maxKeys = RATE_LIMIT_MAX_KEYS,
  ) {}

  /** Counts one hit of `key`; 0 when it is within the limit, else the ms until its window ends. */
  hit(key: string, now = Date.now()): number {
    if (this.limit === 0) return 0;
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.makeRoom(now);
      window = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.count++;
    return window.count > this.limit ? window.resetAt - now : 0;
  }

  /** Without counting: 0 when `key` has hits left in its window, else the ms until the window ends. */
  blockedFor(key: string, now = Date.now()): number {
    if (this.limit === 0) return 0;
    const window = this.windows.get(key);
    if (!window) return 0;
    if (window.resetAt <= now) {
      // Finished: forget it, so an idle limiter is empty again.
      this.windows.delete(key);
      return 0;
    }
    return window.count < this.limit ? 0 : window.resetAt - now;
  }

  /** Keys held now (tests). */
  get size(): number {
    return this.windows.size;
  }

  private makeRoom(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
    // Still full: drop the oldest windows (a Map iterates in insertion order).
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(key);
    }
  }
}

/**
 * The key a client address is counted under. IPv4 (also IPv4-mapped IPv6) by address; IPv6 by
 * its /64 prefix, since one host (one ISP customer) usually holds a whole /64 and could
 * otherwise take a fresh address for every attempt.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const zoneless = address.split('%')[0]!.toLowerCase();
  const [head = '', tail] = zoneless.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::1.2.3.4) counts as two groups; it is past the /64 in any case.
  const tailLength = tailGroups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailLength).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Whole seconds for a `Retry-After` header: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
