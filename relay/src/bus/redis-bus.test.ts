import { randomBytes } from 'node:crypto';
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
});
