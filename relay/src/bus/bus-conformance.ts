import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusMessage, NodeBroadcast, RuntimeEvent } from './bus.js';

/** Makes `count` bus nodes on one shared medium; the suite disposes them. */
export type BusFactory = (count: number) => Promise<Bus[]>;

/** Resolves once `check()` holds, polling; fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What every Bus must do, run against each implementation (LocalBus, RedisBus). */
export function busConformance(name: string, factory: BusFactory): void {
  describe(`${name} (Bus conformance)`, () => {
    let nodes: Bus[] = [];
    afterEach(async () => {
      await Promise.all(nodes.map((n) => n.dispose()));
      nodes = [];
    });
    const make = async (count: number) => (nodes = await factory(count));

    it('locates a claim from any node, and releases it only for the session that holds it', async () => {
      const [a, b] = (await make(2)) as [Bus, Bus];
      await a.claim('rt_1', 'sess_a');
      expect(await b.locate('rt_1')).toEqual({ nodeId: a.nodeId, sessionId: 'sess_a' });
      expect(await b.release('rt_1', 'sess_other')).toBe(false);
      expect(await a.locate('rt_1')).not.toBeNull();
      expect(await a.release('rt_1', 'sess_a')).toBe(true);
      expect(await b.locate('rt_1')).toBeNull();
      expect(await a.release('rt_1', 'sess_a')).toBe(false);
    });

    it('lets a newer claim win: the older session can no longer release it', async () => {
      const [a, b] = (await make(2)) as [Bus, Bus];
      await a.claim('rt_1', 'sess_old');
      await b.claim('rt_1', 'sess_new');
      expect(await a.release('rt_1', 'sess_old')).toBe(false);
      expect(await a.locate('rt_1')).toEqual({ nodeId: b.nodeId, sessionId: 'sess_new' });
    });

    it('delivers a message to that node only, after the sender returned, in the order sent', async () => {
      const [a, b] = (await make(2)) as [Bus, Bus];
      const atA: BusMessage[] = [];
      const atB: BusMessage[] = [];
      a.onMessage((m) => atA.push(m));
      b.onMessage((m) => atB.push(m));
      const messages: BusMessage[] = Array.from({ length: 20 }, (_, i) => ({
        kind: 'progress',
        callId: 'c1',
        status: 'output',
        chunk: String(i),
      }));
      for (const m of messages) await a.send(b.nodeId, m);
      await a.send(b.nodeId, { kind: 'result', callId: 'c1', result: { ok: true, value: 1 } });
      await eventually(() => atB.length === 21);
      expect(atB.slice(0, 20)).toEqual(messages);
      expect(atB[20]).toMatchObject({ kind: 'result', callId: 'c1' });
      expect(atA).toEqual([]);
      // Not within the sender's stack: nothing arrives synchronously.
      let sync = true;
      const seen: BusMessage[] = [];
      const off = b.onMessage((m) => seen.push({ ...m, ...(sync ? { sync: true } : {}) } as BusMessage));
      const sent = a.send(b.nodeId, { kind: 'cancel-answer', requestId: 'r1' });
      sync = false;
      await sent;
      await eventually(() => seen.length === 1);
      expect(seen[0]).toEqual({ kind: 'cancel-answer', requestId: 'r1' });
      off();
    });

    it("publishes runtime events to that runtime's and '*' subscribers on every node, until unsubscribed", async () => {
      const [a, b] = (await make(2)) as [Bus, Bus];
      const one: RuntimeEvent[] = [];
      const all: RuntimeEvent[] = [];
      const other: RuntimeEvent[] = [];
      const offOne = b.subscribe('rt_1', (e) => one.push(e));
      a.subscribe('*', (e) => all.push(e));
      b.subscribe('rt_2', (e) => other.push(e));
      const event: RuntimeEvent = {
        type: 'state',
        runtimeId: 'rt_1',
        state: 'running',
        lastSeenAt: '2026-01-01T00:00:00Z',
      };
      await a.publish(event);
      await eventually(() => one.length === 1 && all.length === 1);
      expect(one).toEqual([event]);
      expect(all).toEqual([event]);
      offOne();
      await b.publish({ ...event, state: 'stopped' });
      await eventually(() => all.length === 2);
      expect(one).toHaveLength(1);
      expect(other).toEqual([]);
    });

    it('broadcasts to every node, the sender included', async () => {
      const [a, b, c] = (await make(3)) as [Bus, Bus, Bus];
      const got: Array<[string, NodeBroadcast]> = [];
      for (const n of [a, b, c]) n.onBroadcast((m) => got.push([n.nodeId, m]));
      await b.broadcast({ kind: 'token-revoked', tokenId: 'tok_1' });
      await eventually(() => got.length === 3);
      expect(new Set(got.map(([id]) => id))).toEqual(new Set([a.nodeId, b.nodeId, c.nodeId]));
      expect(got.every(([, m]) => m.kind === 'token-revoked' && m.tokenId === 'tok_1')).toBe(true);
    });

    it("drops the node's claims when it leaves, not the others'", async () => {
      const [a, b] = (await make(2)) as [Bus, Bus];
      await a.claim('rt_a', 's1');
      await b.claim('rt_b', 's2');
      await a.dispose();
      expect(await b.locate('rt_a')).toBeNull();
      expect(await b.locate('rt_b')).toEqual({ nodeId: b.nodeId, sessionId: 's2' });
    });
  });
}
