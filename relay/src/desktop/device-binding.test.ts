import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_CODES, PROTOCOL_VERSION } from '@tether/shared';
import { runCli } from '../cli.js';
import type { RelayOptions } from '../relay-server.js';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { eventually, startTestRelay as start, type TestRelay } from '../testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startTestRelay(options: Partial<RelayOptions> = {}, dataDir?: string): Promise<TestRelay> {
  const t = await start(options, dataDir);
  cleanups.push(() => t.dispose());
  return t;
}

/** A desktop token of org acme other than the test relay's own. */
async function otherToken(t: TestRelay, name = 'someone else'): Promise<{ id: string; token: string }> {
  return t.relay.admin.createToken({ org: 'acme', kind: 'desktop', name });
}

async function tokenIdOf(t: TestRelay, name: string): Promise<string> {
  return (await t.relay.admin.listTokens('acme')).find((tok) => tok.name === name)!.id;
}

async function connect(t: TestRelay, token: string): Promise<FakeDesktop> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, token);
  cleanups.push(() => desktop.close());
  return desktop;
}

/** Says hello and returns how the relay closed the socket (without waiting for a welcome that must not come). */
async function refusedHello(t: TestRelay, token: string, deviceId = device.deviceId) {
  const desktop = await connect(t, token);
  desktop.send({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    device: { ...device, deviceId },
    appVersion: '0.1.0-test',
    workspaces: [testWorkspace('ws-1')],
  });
  // A welcome instead of the close fails at once rather than at the test's timeout.
  let poll: NodeJS.Timeout | undefined;
  const welcomed = new Promise<never>((_resolve, reject) => {
    poll = setInterval(() => {
      if (desktop.frames.some((f) => f.type === 'welcome')) reject(new Error('the relay welcomed the hello'));
    }, 20);
  });
  try {
    return await Promise.race([desktop.closed, welcomed]);
  } finally {
    clearInterval(poll);
  }
}

async function callStat(t: TestRelay, runtimeId: string) {
  return t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'a' } } });
}

async function stateOf(t: TestRelay, runtimeId: string): Promise<string> {
  return (await t.api(`/v1/runtimes/${runtimeId}`)).body.state;
}

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

describe('DesktopHub', () => {
  describe('device binding', () => {
    it('refuses the hello of another valid token for a connected device with 4403, and the device keeps its connection and calls', async () => {
      const t = await startTestRelay();
      const owner = await connect(t, t.desktopToken);
      owner.onCall = (call, d) => d.succeed(call.id, 'from the owner');
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;

      const intruder = await otherToken(t);
      const closed = await refusedHello(t, intruder.token);
      expect(closed.code).toBe(CLOSE_CODES.deviceClaimed);
      expect(closed.reason).toMatch(/registered to another desktop token/);

      expect(owner.ws.readyState).toBe(owner.ws.OPEN);
      expect(await stateOf(t, rt)).toBe('running');
      expect((await callStat(t, rt)).body.result).toBe('from the owner');
      // The other token is fine for a device of its own.
      const own = await connect(t, intruder.token);
      const welcome = await own.hello({ ...device, deviceId: 'dev-2' }, [testWorkspace('ws-1')]);
      expect(welcome.runtimes[0]!.runtimeId).not.toBe(rt);
    });

    it('refuses it while the device is offline too: its runtimes stay stopped and its owner comes back to them', async () => {
      const t = await startTestRelay();
      const owner = await connect(t, t.desktopToken);
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      await owner.close();
      await eventually(
        () => stateOf(t, rt),
        (s) => s === 'stopped',
        10_000,
        'stopped',
      );

      expect((await refusedHello(t, (await otherToken(t)).token)).code).toBe(CLOSE_CODES.deviceClaimed);
      expect(await stateOf(t, rt)).toBe('stopped');
      expect((await callStat(t, rt)).body.error.code).toBe('runtime_offline');

      const back = await connect(t, t.desktopToken);
      expect((await back.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
    });

    it('gives a new device to exactly one of two tokens saying hello at the same time', async () => {
      const t = await startTestRelay();
      const second = await otherToken(t);
      const a = await connect(t, t.desktopToken);
      const b = await connect(t, second.token);
      const helloA = a.hello(device, [testWorkspace('ws-1')]);
      const helloB = b.hello(device, [testWorkspace('ws-1')]);
      helloA.catch(() => {});
      helloB.catch(() => {});
      const closed = await Promise.race([
        a.closed.then((c) => ['a', c.code] as const),
        b.closed.then((c) => ['b', c.code] as const),
      ]);
      expect(closed[1]).toBe(CLOSE_CODES.deviceClaimed);
      const survivor = closed[0] === 'a' ? b : a;
      const welcome = await (closed[0] === 'a' ? helloB : helloA);
      survivor.onCall = (call, d) => d.succeed(call.id, 'survivor');
      expect((await callStat(t, welcome.runtimes[0]!.runtimeId)).body.result).toBe('survivor');
    });

    it('lets a new token take the device over, with the same runtimes, once the bound token is revoked', async () => {
      const t = await startTestRelay();
      const owner = await connect(t, t.desktopToken);
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const fresh = await otherToken(t, 'relinked laptop');
      expect((await refusedHello(t, fresh.token)).code).toBe(CLOSE_CODES.deviceClaimed);

      expect(await t.relay.admin.revokeToken(await tokenIdOf(t, 'laptop'))).toBe(true);
      expect((await owner.closed).code).toBe(CLOSE_CODES.unauthorized);
      const relinked = await connect(t, fresh.token);
      relinked.onCall = (call, d) => d.succeed(call.id, 'relinked');
      expect((await relinked.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
      expect((await callStat(t, rt)).body.result).toBe('relinked');
      // The device now belongs to the new token: a third one is refused.
      expect((await refusedHello(t, (await otherToken(t, 'third')).token)).code).toBe(CLOSE_CODES.deviceClaimed);
      expect(relinked.ws.readyState).toBe(relinked.ws.OPEN);
    });

    it('lets it take over after `tether-relay token revoke` from another process against the same data dir', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 100 });
      const owner = await connect(t, t.desktopToken);
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const fresh = await otherToken(t, 'relinked laptop');
      vi.spyOn(console, 'log').mockImplementation(() => undefined);
      expect(await runCli(['token', 'revoke', await tokenIdOf(t, 'laptop'), '--data-dir', t.dataDir])).toBe(0);
      // The relay notices the revocation at its next heartbeat tick.
      expect((await owner.closed).code).toBe(CLOSE_CODES.unauthorized);
      const relinked = await connect(t, fresh.token);
      expect((await relinked.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
    });

    it('keeps the binding across a restart with the same data dir', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tether-binding-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const first = await start({}, dir);
      await first.relay.admin.createOrg('acme');
      const ownerToken = (await first.relay.admin.createToken({ org: 'acme', kind: 'desktop', name: 'laptop' })).token;
      const intruderToken = (await first.relay.admin.createToken({ org: 'acme', kind: 'desktop' })).token;
      const owner = await FakeDesktop.connect(first.relay.wsUrl, ownerToken);
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      await first.dispose();
      await owner.closed;

      const t = await startTestRelay({}, dir);
      expect((await refusedHello(t, intruderToken)).code).toBe(CLOSE_CODES.deviceClaimed);
      const back = await connect(t, ownerToken);
      expect((await back.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
    });
  });
});
