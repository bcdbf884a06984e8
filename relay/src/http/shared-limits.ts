import type { Redis } from 'ioredis';
import { RateLimiter } from './rate-limiter.js';

/**
 * Counts hits of keys (a credential id, a client address) in fixed windows: at most `limit` per
 * `windowMs` each. In memory for one relay process; in Redis for a cluster, so the limit is one
 * budget over every node.
 */
export interface HitCounter {
  readonly limit: number;
  readonly windowMs: number;
  /** Counts one hit of `key`; 0 when it is within the limit, else the ms until its window ends. */
  hit(key: string): Promise<number>;
}

/**
 * Slots of a key (a desktop token id) held by open connections, at most `max` at once. In memory
 * for one relay process; in Redis for a cluster, so a cap counts the connections of every node.
 */
export interface ConnectionSlots {
  /** Takes one slot of `key` for `holder` (unique per connection) unless `max` are held; false when full. 0: no cap (nothing counted). */
  acquire(key: string, holder: string, max: number): Promise<boolean>;
  /** Gives the slot back (the connection closed). */
  release(key: string, holder: string): void;
  /** Slots of `key` this node holds (tests). */
  heldHere(key: string): number;
}

/** Where limits are counted: this process (LocalLimits) or Redis (RedisLimits). */
export interface SharedLimits {
  /** A hit counter; `name` keeps different limits' keys apart. */
  counter(name: string, limit: number, windowMs: number): HitCounter;
  slots(name: string): ConnectionSlots;
  /** Stops refreshing what this node holds. */
  dispose(): void;
}

/** In-memory slots: a count per key. */
class LocalSlots implements ConnectionSlots {
  private readonly held = new Map<string, Set<string>>();

  async acquire(key: string, holder: string, max: number): Promise<boolean> {
    return max === 0 || this.take(key, holder, max);
  }

  /** Synchronous, for RedisSlots (0: no cap, but counted). */
  take(key: string, holder: string, max: number): boolean {
    let set = this.held.get(key);
    if (set?.has(holder)) return true;
    if (max > 0 && (set?.size ?? 0) >= max) return false;
    if (!set) this.held.set(key, (set = new Set()));
    set.add(holder);
    return true;
  }

  release(key: string, holder: string): void {
    const set = this.held.get(key);
    set?.delete(holder);
    if (set?.size === 0) this.held.delete(key);
  }

  heldHere(key: string): number {
    return this.held.get(key)?.size ?? 0;
  }

  entries(): Array<[string, string]> {
    return [...this.held].flatMap(([key, set]) => [...set].map((holder) => [key, holder] as [string, string]));
  }
}

class LocalCounter implements HitCounter {
  private readonly limiter: RateLimiter;
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.limiter = new RateLimiter(limit, windowMs);
  }
  async hit(key: string): Promise<number> {
    return this.limiter.hit(key);
  }
}

/** Limits of one relay process (embedded mode, and nodes on a LocalBus). */
export class LocalLimits implements SharedLimits {
  counter(_name: string, limit: number, windowMs: number): HitCounter {
    return new LocalCounter(limit, windowMs);
  }
  slots(): ConnectionSlots {
    return new LocalSlots();
  }
  dispose(): void {}
}

/**
 * One hit of a fixed window: INCR, and the window's end set by the hit that opened it. Returns
 * 0 within the limit, else the ms left of the window (at least 1).
 */
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if n > tonumber(ARGV[2]) then
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0`;

/**
 * Takes a slot: a sorted set of holders scored by when their claim lapses (Redis's clock), so
 * the slots of a node that died go within the TTL without anyone releasing them.
 * ARGV: holder, max, ttl ms. Returns 1 when taken (or already held), 0 when full.
 */
const ACQUIRE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** Extends (or, after a Redis restart, restores) the slots this node holds. ARGV: ttl ms, holders... */
const REFRESH_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/**
 * How long a Redis limit check may take before the node decides alone (its local budget): a
 * request is not held up by a slow or lost Redis longer than this.
 */
export const REDIS_LIMIT_TIMEOUT_MS = 250;

/** Options of RedisLimits. */
export interface RedisLimitsOptions {
  redis: Redis;
  prefix: string;
  nodeId: string;
  /** Lifetime of a held slot without a refresh (the bus's presence TTL). */
  slotTtlMs: number;
  /** How often held slots are refreshed. */
  refreshMs: number;
  /** Told each time a check fell back to this node's local budget (metrics, logs). */
  onFallback?: () => void;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error('Redis limit check timed out')), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Limits of a cluster, counted in Redis: a key's budget is one over every node. While Redis
 * cannot be reached (not connected, an error, no answer within REDIS_LIMIT_TIMEOUT_MS) each
 * node falls back to its own in-memory budget of the same size: valid credentials keep working,
 * and a client is still limited, per node (so at most N times the limit over N nodes).
 */
export class RedisLimits implements SharedLimits {
  private readonly slotSets: RedisSlots[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: RedisLimitsOptions) {
    this.timer = setInterval(() => this.slotSets.forEach((s) => s.refresh()), options.refreshMs);
    this.timer.unref();
    // Back from an outage (a restart may have lost every key): what this node holds is counted again.
    options.redis.on('ready', () => this.slotSets.forEach((s) => s.refresh()));
  }

  /** Whether a command can be sent now (else the local budget decides at once). */
  get ready(): boolean {
    return this.options.redis.status === 'ready';
  }

  counter(name: string, limit: number, windowMs: number): HitCounter {
    const local = new RateLimiter(limit, windowMs);
    const { redis, prefix, onFallback } = this.options;
    const ready = () => this.ready;
    return {
      limit,
      windowMs,
      async hit(key: string): Promise<number> {
        if (limit === 0) return 0;
        if (ready()) {
          try {
            const wait = await withTimeout(
              // Plain EVAL, as the other scripts here: a defined command's internal EVALSHA retry
              // could reject unhandled when the connection closed under it.
              redis.eval(HIT_SCRIPT, 1, `${prefix}limit:${name}:${key}`, String(windowMs), String(limit)),
              REDIS_LIMIT_TIMEOUT_MS,
            );
            return Number(wait);
          } catch {
            // fall through to the local budget
          }
        }
        onFallback?.();
        return local.hit(key);
      },
    };
  }

  slots(name: string): ConnectionSlots {
    const slots = new RedisSlots(this, this.options, name);
    this.slotSets.push(slots);
    return slots;
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

class RedisSlots implements ConnectionSlots {
  /** What this node holds (also the fallback's count while Redis is away). */
  private readonly local = new LocalSlots();

  constructor(
    private readonly limits: RedisLimits,
    private readonly options: RedisLimitsOptions,
    private readonly name: string,
  ) {}

  private key(key: string): string {
    return `${this.options.prefix}slots:${this.name}:${key}`;
  }

  private member(holder: string): string {
    return `${this.options.nodeId}:${holder}`;
  }

  async acquire(key: string, holder: string, max: number): Promise<boolean> {
    // No cap: nothing to count (release finds nothing held).
    if (max === 0) return true;
    // This node alone already holds them all: no need to ask.
    if (this.local.heldHere(key) >= max) return false;
    if (this.limits.ready) {
      try {
        const taken = await withTimeout(
          this.options.redis.eval(
            ACQUIRE_SCRIPT,
            1,
            this.key(key),
            this.member(holder),
            String(max),
            String(this.options.slotTtlMs),
          ),
          REDIS_LIMIT_TIMEOUT_MS,
        );
        if (Number(taken) !== 1) return false;
        return this.local.take(key, holder, 0);
      } catch {
        // fall through to the local budget
      }
    }
    this.options.onFallback?.();
    return this.local.take(key, holder, max);
  }

  release(key: string, holder: string): void {
    if (this.local.heldHere(key) === 0) return;
    this.local.release(key, holder);
    if (this.limits.ready) void this.options.redis.zrem(this.key(key), this.member(holder)).catch(() => undefined);
  }

  heldHere(key: string): number {
    return this.local.heldHere(key);
  }

  /** Keeps this node's slots alive in Redis (and restores them after a restart). */
  refresh(): void {
    if (!this.limits.ready) return;
    const byKey = new Map<string, string[]>();
    for (const [key, holder] of this.local.entries()) {
      let list = byKey.get(key);
      if (!list) byKey.set(key, (list = []));
      list.push(this.member(holder));
    }
    for (const [key, members] of byKey)
      void this.options.redis
        .eval(REFRESH_SCRIPT, 1, this.key(key), String(this.options.slotTtlMs), ...members)
        .catch(() => undefined);
  }
}
