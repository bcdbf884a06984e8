import { RECONNECT_BASE_MS, RECONNECT_MAX_MS } from '@tether/shared';

/** Options of a `Backoff`; defaults are the protocol's named limits. */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Source of randomness in [0, 1); injectable so the delay sequence can be checked. */
  random?: () => number;
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"): delay = random(0, min(max, base * 2^attempt)). Full jitter spreads the reconnects
 * of many desktops after a relay restart instead of having them arrive in waves.
 */
export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? RECONNECT_BASE_MS;
    this.maxMs = options.maxMs ?? RECONNECT_MAX_MS;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, in ms; each call counts one more failed attempt. */
  next(): number {
    // Cap the exponent so 2^attempt never overflows into Infinity after days offline.
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** The longest delay `next()` can give. */
  get ceilingMs(): number {
    return this.maxMs;
  }

  /** How many attempts have failed since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Starts over (after a connection that stayed up long enough to count as stable). */
  reset(): void {
    this.attempt = 0;
  }
}
