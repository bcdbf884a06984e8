import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../testing/redis-server.js';
import { busConformance, eventually } from './bus-conformance.js';
import { RedisBus } from './redis-bus.js';

// A real redis-server (Debian's, which .ci/run installs); without it these cannot run here.
const describeRedis = REDIS_SERVER ? describe : describe.skip;

describeRedis('RedisBus', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  // Each test gets its own prefix: nothing of one leaks into the next.
  const connect = (prefix: string, extra: { presenceTtlMs?: number; presenceRefreshMs?: number } = {}) =>
    RedisBus.connect({ url: redis.url, prefix, ...extra });
  busConformance('RedisBus', async (count) => {
    const prefix = `t${randomBytes(4).toString('hex')}:`;
    return Promise.all(Array.from({ length: count }, () => connect(prefix)));
  });

  it("loses a dead node's runtimes within the presence TTL, and keeps a live node's", async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`;
    const timing = { presenceTtlMs: 400, presenceRefreshMs: 100 };
    const [dying, alive] = await Promise.all([connect(prefix, timing), connect(prefix, timing)]);
    await dying.claim('rt_dead', 's1');
    await alive.claim('rt_live', 's2');
    // As a node that dies: its connections drop and nothing refreshes or releases its claims.
    (
      dying as unknown as { commands: { disconnect(): void }; subscriber: { disconnect(): void } }
    ).commands.disconnect();
    (dying as unknown as { subscriber: { disconnect(): void } }).subscriber.disconnect();
    expect(await alive.locate('rt_dead')).not.toBeNull();
    await eventually(async () => (await alive.locate('rt_dead')) === null, 3_000);
    // Well past the TTL, the live node's claim is still there.
    await new Promise((r) => setTimeout(r, 600));
    expect(await alive.locate('rt_live')).toEqual({ nodeId: alive.nodeId, sessionId: 's2' });
    await Promise.all([dying.dispose(), alive.dispose()]);
  });

  it('announces its claims again and keeps routing after Redis restarts empty', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`;
    const [a, b] = await Promise.all([connect(prefix), connect(prefix)]);
    await a.claim('rt_1', 's1');
    await redis.kill();
    await redis.start();
    await eventually(async () => {
      try {
        return (await b.locate('rt_1')) !== null;
      } catch {
        return false; // still reconnecting
      }
    }, 10_000);
    expect(await b.locate('rt_1')).toEqual({ nodeId: a.nodeId, sessionId: 's1' });
    const got: unknown[] = [];
    a.onMessage((m) => got.push(m));
    await eventually(async () => {
      await b.send(a.nodeId, { kind: 'cancel-answer', requestId: 'after-restart' }).catch(() => undefined);
      return got.length > 0;
    }, 10_000);
    expect(got[0]).toEqual({ kind: 'cancel-answer', requestId: 'after-restart' });
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('counts one rate limit and one connection cap over every node, and falls back to a local budget without Redis', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`;
    const timing = { presenceTtlMs: 600, presenceRefreshMs: 150 };
    const [a, b, c] = await Promise.all([connect(prefix, timing), connect(prefix, timing), connect(prefix, timing)]);
    const [ca, cb] = [a.sharedLimits().counter('k', 4, 60_000), b.sharedLimits().counter('k', 4, 60_000)];
    // Four hits split over two nodes fill one budget; the fifth is refused on either, with the window's rest.
    expect(await Promise.all([ca.hit('key'), cb.hit('key'), ca.hit('key'), cb.hit('key')])).toEqual([0, 0, 0, 0]);
    const wait = await cb.hit('key');
    expect(wait).toBeGreaterThan(59_000);
    expect(wait).toBeLessThanOrEqual(60_000);
    expect(await ca.hit('other')).toBe(0);

    // Slots: two held on node A, one more on B is refused; one released on A lets B in.
    const [sa, sb, sc] = [a, b, c].map((bus) => bus.sharedLimits().slots('tok'));
    expect(await sa!.acquire('t1', 's1', 2)).toBe(true);
    expect(await sa!.acquire('t1', 's2', 2)).toBe(true);
    expect(await sb!.acquire('t1', 's3', 2)).toBe(false);
    sa!.release('t1', 's1');
    await eventually(async () => {
      const taken = await sb!.acquire('t1', 's3', 2);
      if (taken) sb!.release('t1', 's3');
      return taken;
    }, 3_000);
    // Held slots outlive many TTLs while their node refreshes them...
    expect(await sb!.acquire('t1', 's4', 2)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await sc!.acquire('t1', 's5', 2)).toBe(false);
    // ...and a node that dies (no release, no refresh) gives its slots back within the TTL.
    (a as unknown as { commands: { disconnect(): void } }).commands.disconnect();
    await eventually(() => sc!.acquire('t1', 's5', 2), 3_000);

    // Without Redis, each node decides on its own budget of the same size.
    await redis.kill();
    try {
      await eventually(() => !b.healthy, 3_000);
      const local = b.sharedLimits().counter('k', 2, 60_000);
      expect([await local.hit('key'), await local.hit('key')]).toEqual([0, 0]);
      expect(await local.hit('key')).toBeGreaterThan(0);
    } finally {
      await redis.start();
    }
    // Redis came back empty: the live nodes count their open slots there again (B's s4, C's s5).
    const raw = new Redis(redis.url);
    await eventually(async () => (await raw.zcard(`${prefix}slots:tok:t1`)) === 2, 5_000);
    raw.disconnect();
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  });
});
