import { Redis, type RedisOptions } from 'ioredis';
import { RedisLimits, type SharedLimits } from '../http/shared-limits.js';
import { newId } from '../tokens.js';
import type { Bus, BusMessage, NodeBroadcast, Presence, RuntimeEvent } from './bus.js';

/**
 * How long a runtime's presence key lives without a refresh. A node that dies (or loses Redis)
 * loses its runtimes within this; long enough that a busy node refreshing at a third of it
 * never lets a live claim lapse.
 */
export const PRESENCE_TTL_MS = 9_000;

/** How often a node refreshes the presence keys of the runtimes it holds. */
export const PRESENCE_REFRESH_MS = 3_000;

/** Options of `RedisBus.connect`. */
export interface RedisBusOptions {
  /** `redis://…` or `rediss://…`. */
  url: string;
  /** Prefix of every key and channel, so several relays (or tests) can share one Redis. */
  prefix?: string;
  presenceTtlMs?: number;
  presenceRefreshMs?: number;
}

/** Drops the presence key only while it still names this claim (a newer one may have replaced it). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/** Extends the presence key's life only while it still names this claim. */
const REFRESH_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/** What travels on the events channel: the event, as published. */
type Envelope = { event: RuntimeEvent };

/**
 * The cluster Bus on Redis: presence as keys with a TTL that the holding node refreshes (so a
 * dead node's runtimes vanish within PRESENCE_TTL_MS), node-to-node messages on one pub/sub
 * channel per node, runtime events and broadcasts on a channel each. Pub/sub keeps the order of
 * one publisher's messages, so a call's progress never overtakes its result. After Redis comes
 * back, ioredis re-subscribes and the node announces its claims again.
 */
export class RedisBus implements Bus {
  readonly nodeId: string;
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly refreshMs: number;
  private limits: RedisLimits | null = null;
  /** runtimeId → the presence value this node last claimed for it. */
  private readonly claims = new Map<string, string>();
  private readonly messageHandlers = new Set<(message: BusMessage) => void>();
  private readonly eventHandlers = new Map<string, Set<(event: RuntimeEvent) => void>>();
  private readonly broadcastHandlers = new Set<(message: NodeBroadcast) => void>();
  private readonly refreshTimer: NodeJS.Timeout;
  private disposed = false;

  private constructor(commands: Redis, subscriber: Redis, options: RedisBusOptions) {
    this.nodeId = newId('node_', 6);
    this.commands = commands;
    this.subscriber = subscriber;
    this.prefix = options.prefix ?? 'tether:';
    this.ttlMs = options.presenceTtlMs ?? PRESENCE_TTL_MS;
    this.refreshMs = options.presenceRefreshMs ?? PRESENCE_REFRESH_MS;
    this.refreshTimer = setInterval(() => void this.refreshClaims(), this.refreshMs);
    this.refreshTimer.unref();
    this.subscriber.on('messageBuffer', (channel: Buffer, data: Buffer) =>
      this.deliver(channel.toString(), data.toString()),
    );
    // Back from a Redis restart (or failover): what this node holds is announced again.
    this.commands.on('ready', () => void this.reclaimAll());
  }

  /** Connects both connections and subscribes; rejects when Redis cannot be reached. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      // Commands wait through a short outage instead of failing at once; the relay's readiness
      // says meanwhile that this node cannot route.
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
    };
    const commands = new Redis(options.url, redisOptions);
    const subscriber = new Redis(options.url, redisOptions);
    // ioredis logs unhandled 'error' events; the relay reports Redis trouble through readiness.
    commands.on('error', () => undefined);
    subscriber.on('error', () => undefined);
    try {
      await Promise.all([commands.connect(), subscriber.connect()]);
    } catch (err) {
      commands.disconnect();
      subscriber.disconnect();
      throw new Error(`Cannot reach Redis at ${redactUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    const bus = new RedisBus(commands, subscriber, options);
    await subscriber.subscribe(bus.nodeChannel(bus.nodeId), bus.channel('events'), bus.channel('broadcast'));
    return bus;
  }

  /** True while both connections are up (for /readyz). */
  get healthy(): boolean {
    return this.commands.status === 'ready' && this.subscriber.status === 'ready';
  }

  async claim(runtimeId: string, sessionId: string): Promise<void> {
    const value = JSON.stringify({ nodeId: this.nodeId, sessionId } satisfies Presence);
    this.claims.set(runtimeId, value);
    await this.commands.set(this.presenceKey(runtimeId), value, 'PX', this.ttlMs);
  }

  async release(runtimeId: string, sessionId: string): Promise<boolean> {
    const value = JSON.stringify({ nodeId: this.nodeId, sessionId } satisfies Presence);
    if (this.claims.get(runtimeId) === value) this.claims.delete(runtimeId);
    const removed = await this.commands.eval(RELEASE_SCRIPT, 1, this.presenceKey(runtimeId), value);
    return removed === 1;
  }

  async locate(runtimeId: string): Promise<Presence | null> {
    const value = await this.commands.get(this.presenceKey(runtimeId));
    return value === null ? null : parsePresence(value);
  }

  async send(nodeId: string, message: BusMessage): Promise<void> {
    await this.commands.publish(this.nodeChannel(nodeId), JSON.stringify(message));
  }

  onMessage(handler: (message: BusMessage) => void): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  async publish(event: RuntimeEvent): Promise<void> {
    await this.commands.publish(this.channel('events'), JSON.stringify({ event } satisfies Envelope));
  }

  subscribe(runtimeId: string, handler: (event: RuntimeEvent) => void): () => void {
    let set = this.eventHandlers.get(runtimeId);
    if (!set) this.eventHandlers.set(runtimeId, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.eventHandlers.delete(runtimeId);
    };
  }

  async broadcast(message: NodeBroadcast): Promise<void> {
    await this.commands.publish(this.channel('broadcast'), JSON.stringify(message));
  }

  onBroadcast(handler: (message: NodeBroadcast) => void): () => void {
    this.broadcastHandlers.add(handler);
    return () => this.broadcastHandlers.delete(handler);
  }

  /** Limits counted in this Redis (one instance per bus: the first call's options hold), with slots that live as long as presence. */
  sharedLimits(options: { onFallback?: () => void } = {}): SharedLimits {
    return (this.limits ??= new RedisLimits({
      redis: this.commands,
      prefix: this.prefix,
      nodeId: this.nodeId,
      slotTtlMs: this.ttlMs,
      refreshMs: this.refreshMs,
      ...options,
    }));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.refreshTimer);
    this.limits?.dispose();
    const held = [...this.claims];
    this.claims.clear();
    await Promise.allSettled(
      held.map(([runtimeId, value]) => this.commands.eval(RELEASE_SCRIPT, 1, this.presenceKey(runtimeId), value)),
    );
    this.messageHandlers.clear();
    this.eventHandlers.clear();
    this.broadcastHandlers.clear();
    await Promise.allSettled([this.subscriber.quit(), this.commands.quit()]);
  }

  private deliver(channel: string, data: string): void {
    if (this.disposed) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return; // not ours: other writers of the same prefix are not trusted to be well-formed
    }
    if (channel === this.nodeChannel(this.nodeId)) {
      for (const handler of this.messageHandlers) handler(parsed as BusMessage);
    } else if (channel === this.channel('events')) {
      const event = (parsed as Envelope).event;
      const handlers = [...(this.eventHandlers.get(event.runtimeId) ?? []), ...(this.eventHandlers.get('*') ?? [])];
      for (const handler of handlers) handler(event);
    } else if (channel === this.channel('broadcast')) {
      for (const handler of this.broadcastHandlers) handler(parsed as NodeBroadcast);
    }
  }

  /** Keeps this node's presence keys alive; a claim another node took meanwhile is forgotten. */
  private async refreshClaims(): Promise<void> {
    if (this.disposed || this.commands.status !== 'ready') return;
    const held = [...this.claims];
    const results = await Promise.allSettled(
      held.map(([runtimeId, value]) =>
        this.commands.eval(REFRESH_SCRIPT, 1, this.presenceKey(runtimeId), value, String(this.ttlMs)),
      ),
    );
    results.forEach((r, i) => {
      const [runtimeId, value] = held[i] as [string, string];
      if (r.status === 'fulfilled' && r.value === 0 && this.claims.get(runtimeId) === value) {
        // Gone (expired through an outage) or taken by a newer session: only a missing key is
        // ours to restore, and only if no one else claimed it meanwhile (NX).
        void this.commands.set(this.presenceKey(runtimeId), value, 'PX', this.ttlMs, 'NX').catch(() => undefined);
      }
    });
  }

  /** After a reconnect, Redis may have lost every key (a restart): announce each claim again. */
  private async reclaimAll(): Promise<void> {
    if (this.disposed) return;
    await Promise.allSettled(
      [...this.claims].map(([runtimeId, value]) =>
        this.commands.set(this.presenceKey(runtimeId), value, 'PX', this.ttlMs, 'NX'),
      ),
    );
  }

  private presenceKey(runtimeId: string): string {
    return `${this.prefix}presence:${runtimeId}`;
  }

  private channel(name: 'events' | 'broadcast'): string {
    return `${this.prefix}${name}`;
  }

  private nodeChannel(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }
}

function parsePresence(value: string): Presence | null {
  try {
    const p = JSON.parse(value) as Partial<Presence>;
    return typeof p.nodeId === 'string' && typeof p.sessionId === 'string'
      ? { nodeId: p.nodeId, sessionId: p.sessionId }
      : null;
  } catch {
    return null;
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
