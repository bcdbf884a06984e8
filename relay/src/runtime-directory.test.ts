import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBus, LocalBusNetwork } from './bus/local-bus.js';
import { RuntimeDirectory, runtimeIdOf } from './runtime-directory.js';
import { SqliteStore } from './store/sqlite-store.js';
import { testWorkspace } from './testing/fake-desktop.js';

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' as const };

describe('RuntimeDirectory on two nodes', () => {
  let dir: string;
  let store: SqliteStore;
  let orgId: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-directory-'));
    store = new SqliteStore(dir);
    orgId = (await store.createOrg('acme')).id;
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The device reconnects to node A while its old session on node B is being closed as
   * replaced. The nodes' per-device queues do not order one against the other, so B's detach
   * can release its presence, then A announces and claims, then B goes on. B must not write
   * `stopped` over A's `running` then (the runtime would refuse every call as offline).
   */
  it("a replaced session's detach leaves the newer session's state alone, whatever the interleaving", async () => {
    const network = new LocalBusNetwork();
    const busA = new LocalBus(network);
    const busB = new LocalBus(network);
    const nodeA = new RuntimeDirectory(store, busA);
    const nodeB = new RuntimeDirectory(store, busB);
    const ws = [testWorkspace('ws-1')];
    const [binding] = await nodeB.announce({ orgId, sessionId: 'old', device }, ws, true);
    const runtimeId = binding!.runtimeId;
    expect(runtimeId).toBe(runtimeIdOf(orgId, device.deviceId, 'ws-1'));

    // B's release succeeds (A has not claimed yet); A's whole announce runs before B goes on.
    const release = busB.release.bind(busB);
    busB.release = async (id, sessionId) => {
      const released = await release(id, sessionId);
      await nodeA.announce({ orgId, sessionId: 'new', device }, ws, true);
      return released;
    };
    await nodeB.detach('old', [runtimeId], { replaced: true });

    expect((await store.getRuntime(runtimeId))?.state).toBe('running');
    expect(await busA.locate(runtimeId)).toMatchObject({ sessionId: 'new' });
    nodeA.dispose();
    nodeB.dispose();
  });

  it('a session that simply went away leaves its runtimes stopped', async () => {
    const bus = new LocalBus();
    const node = new RuntimeDirectory(store, bus);
    const [binding] = await node.announce({ orgId, sessionId: 's1', device }, [testWorkspace('ws-1')], true);
    await node.detach('s1', [binding!.runtimeId]);
    expect((await store.getRuntime(binding!.runtimeId))?.state).toBe('stopped');
    expect(await bus.locate(binding!.runtimeId)).toBeNull();
    node.dispose();
  });
});
