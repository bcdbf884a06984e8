import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOSE_CODES, PROTOCOL_VERSION, deviceKeyFingerprint, type CallFrame, type Device } from '@tether/shared';
import { runCli, serveOptions } from '../cli.js';
import type { RelayOptions } from '../relay-server.js';
import { FakeDesktop, FakeDeviceKey, deviceKeyOf, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay as start, type TestRelay } from '../testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startTestRelay(options: Partial<RelayOptions> = {}): Promise<TestRelay> {
  const t = await start(options);
  cleanups.push(() => t.dispose());
  return t;
}

async function connect(t: TestRelay, token = t.desktopToken): Promise<FakeDesktop> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, token);
  cleanups.push(() => desktop.close());
  return desktop;
}

/** Fails at once if the relay welcomes `desktop`; otherwise resolves to how it closed the socket. */
async function refused(desktop: FakeDesktop): Promise<{ code: number; reason: string }> {
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

/** A write call with file contents: what an impostor would want to receive. */
async function writeCall(t: TestRelay, runtimeId: string) {
  return t.api(`/v1/runtimes/${runtimeId}/calls`, {
    method: 'POST',
    json: { tool: 'write_file', args: { path: 'notes.txt', content: 'the secret plan' } },
  });
}

async function stateOf(t: TestRelay, runtimeId: string): Promise<string> {
  return (await t.api(`/v1/runtimes/${runtimeId}`)).body.state;
}

let n = 0;
/** A device id of its own per test: FakeDesktop keeps one key per device id for the whole process. */
function freshDevice(): Device {
  return { deviceId: `dev-key-${process.pid}-${++n}`, name: 'Laptop', os: 'linux' };
}

describe('DesktopHub', () => {
  describe('device keys', () => {
    it('sends a fresh challenge as the first frame of every connection', async () => {
      const t = await startTestRelay();
      const a = await connect(t);
      const b = await connect(t);
      const [na, nb] = [await a.challenge, await b.challenge];
      expect(na).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(nb).not.toBe(na);
    });

    it('refuses an impostor with the stolen token, the device id and a key of its own with 4412; the real desktop keeps its connection and receives the calls', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const owner = await connect(t);
      const received: CallFrame[] = [];
      owner.onCall = (call, d) => {
        received.push(call);
        d.succeed(call.id, 'written by the owner');
      };
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;

      const impostor = await connect(t); // the same (stolen) desktop token
      impostor.onCall = () => {
        throw new Error('the impostor received a call');
      };
      await impostor.sendHello(device, [testWorkspace('ws-1')], { key: new FakeDeviceKey() });
      const closed = await refused(impostor);
      expect(closed.code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect(closed.reason).toMatch(/bound to another device key/);

      expect(owner.ws.readyState).toBe(owner.ws.OPEN);
      expect(await stateOf(t, rt)).toBe('running');
      const answer = await writeCall(t, rt);
      expect(answer.body.result).toBe('written by the owner');
      expect(received.map((c) => (c.args as { content: string }).content)).toEqual(['the secret plan']);
    });

    it("tells the device's own connection that a hello for it was refused, at most once per interval", async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const owner = await connect(t);
      await owner.hello(device, [testWorkspace('ws-1')]);
      const before = Date.now();
      for (let i = 0; i < 3; i++) {
        const impostor = await connect(t);
        await impostor.sendHello(device, [testWorkspace('ws-1')], { key: new FakeDeviceKey() });
        expect((await refused(impostor)).code).toBe(CLOSE_CODES.deviceKeyRefused);
      }
      const notice = await owner.next('notice');
      expect(notice.kind).toBe('device_claim_refused');
      expect(Date.parse(notice.at)).toBeGreaterThanOrEqual(before - 1000);
      // Three attempts, one notice: a loop of attempts must not flood the desktop.
      await new Promise((r) => setTimeout(r, 200));
      expect(owner.frames.filter((f) => f.type === 'notice')).toHaveLength(1);
      // Another device of the org hears nothing.
      const other = await connect(t);
      await other.hello(freshDevice(), [testWorkspace('ws-1')]);
      const impostor = await connect(t);
      await impostor.sendHello(device, [testWorkspace('ws-1')], { key: null });
      await refused(impostor);
      await new Promise((r) => setTimeout(r, 200));
      expect(other.frames.filter((f) => f.type === 'notice')).toHaveLength(0);
    });

    it('refuses a hello without a proof for a device that has a key, leaving the device alone', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const owner = await connect(t);
      owner.onCall = (call, d) => d.succeed(call.id, 'owner');
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const impostor = await connect(t);
      await impostor.sendHello(device, [testWorkspace('ws-1')], { key: null });
      expect((await refused(impostor)).code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect((await writeCall(t, rt)).body.result).toBe('owner');
    });

    it('refuses a replayed proof: a signature is good for the connection whose challenge it signed only', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const owner = await connect(t);
      const proof = await owner.sendHello(device, [testWorkspace('ws-1')]);
      await owner.next('welcome');
      owner.onCall = (call, d) => d.succeed(call.id, 'owner');

      // Someone who saw that hello (a log, a proxy) sends it again on a new connection.
      const replay = await connect(t);
      await replay.challenge;
      replay.send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        device,
        appVersion: '0.1.0-test',
        workspaces: [testWorkspace('ws-1')],
        proof,
      });
      const closed = await refused(replay);
      expect(closed.code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect(closed.reason).toMatch(/does not verify/);
      expect(owner.ws.readyState).toBe(owner.ws.OPEN);
    });

    it('refuses a proof signed for another relay host, naming it, and records nothing', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const desktop = await connect(t);
      const proof = deviceKeyOf(device.deviceId).prove({
        relayHost: 'evil-relay.example',
        deviceId: device.deviceId,
        nonce: await desktop.challenge,
      });
      desktop.send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        device,
        appVersion: '0.1.0-test',
        workspaces: [],
        proof,
      });
      const closed = await refused(desktop);
      expect(closed.code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect(closed.reason).toMatch(/for relay host evil-relay\.example, not this relay/);
      // Nothing was recorded: the device id is still free for its real key.
      const real = await connect(t);
      expect((await real.hello(device, [])).type).toBe('welcome');
    });

    it('with --public-host, refuses a relay passing its challenge on under its own name (whatever Host it sends) and accepts proofs for the public host', async () => {
      const t = await startTestRelay({ publicHosts: ['tether.example', 'tether.example:8443'] });
      const device = freshDevice();
      // A malicious relay the desktop was pointed at connects here with the stolen token and its own name as Host.
      const relayed = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken, { hostHeader: 'evil-relay.example' });
      cleanups.push(() => relayed.close());
      await relayed.sendHello(device, [testWorkspace('ws-1')]);
      const closed = await refused(relayed);
      expect(closed.code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect(closed.reason).toMatch(/for relay host evil-relay\.example/);
      // The direct address is not a public host either.
      const direct = await connect(t);
      await direct.sendHello(device, [testWorkspace('ws-1')]);
      expect((await refused(direct)).code).toBe(CLOSE_CODES.deviceKeyRefused);
      // A desktop that reached the relay by its public name (through a proxy that may rewrite Host) gets in.
      const proxied = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken, { hostHeader: 'TETHER.example:8443' });
      cleanups.push(() => proxied.close());
      expect((await proxied.hello(device, [testWorkspace('ws-1')])).type).toBe('welcome');
    });

    it('reads --public-host and TETHER_RELAY_PUBLIC_HOST, refusing what a relay URL cannot name', () => {
      expect(serveOptions(['--public-host', 'relay.example, relay.example:8443'], {}).publicHosts).toEqual([
        'relay.example',
        'relay.example:8443',
      ]);
      expect(serveOptions([], { TETHER_RELAY_PUBLIC_HOST: '[::1]:8787' }).publicHosts).toEqual(['[::1]:8787']);
      expect(serveOptions([], {})).not.toHaveProperty('publicHosts');
      for (const bad of ['https://relay.example', 'relay.example/v1', 'relay.example:443', 'a b'])
        expect(() => serveOptions(['--public-host', bad], {}), bad).toThrow(/--public-host/);
    });

    it('gives a new device to exactly one of two keys saying hello at the same time', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const a = await connect(t);
      const b = await connect(t);
      const [keyA, keyB] = [new FakeDeviceKey(), new FakeDeviceKey()];
      const helloA = a.hello(device, [testWorkspace('ws-1')], { key: keyA });
      const helloB = b.hello(device, [testWorkspace('ws-1')], { key: keyB });
      helloA.catch(() => {});
      helloB.catch(() => {});
      const closed = await Promise.race([
        a.closed.then((c) => ['a', c.code] as const),
        b.closed.then((c) => ['b', c.code] as const),
      ]);
      expect(closed[1]).toBe(CLOSE_CODES.deviceKeyRefused);
      const [survivor, survivorKey] = closed[0] === 'a' ? [b, keyB] : [a, keyA];
      const welcome = await (closed[0] === 'a' ? helloB : helloA);
      survivor.onCall = (call, d) => d.succeed(call.id, 'survivor');
      expect((await writeCall(t, welcome.runtimes[0]!.runtimeId)).body.result).toBe('survivor');
      const [bound] = await t.relay.admin.listDevices('acme');
      expect(bound!.keyFingerprint).toBe(deviceKeyFingerprint(survivorKey.publicKey));
    });

    it('lets a newer connection of the same device, proving the same key, replace the older one (4409)', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const first = await connect(t);
      const rt = (await first.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      const second = await connect(t);
      second.onCall = (call, d) => d.succeed(call.id, 'second');
      expect((await second.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
      expect((await first.closed).code).toBe(CLOSE_CODES.replaced);
      expect((await writeCall(t, rt)).body.result).toBe('second');
    });

    it('binds a device recorded before device keys at its first keyed hello; later another key is refused', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      // A desktop older than device keys (no proof) is accepted while the device has no key.
      const legacy = await connect(t);
      const rt = (await legacy.hello(device, [testWorkspace('ws-1')], { key: null })).runtimes[0]!.runtimeId;
      await legacy.close();
      const [before] = await t.relay.admin.listDevices('acme');
      expect(before).toMatchObject({ deviceId: device.deviceId, keyFingerprint: null });

      const upgraded = await connect(t);
      expect((await upgraded.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
      const [after] = await t.relay.admin.listDevices('acme');
      expect(after!.keyFingerprint).toBe(deviceKeyFingerprint(deviceKeyOf(device.deviceId).publicKey));

      const other = await connect(t);
      await other.sendHello(device, [testWorkspace('ws-1')], { key: new FakeDeviceKey() });
      expect((await refused(other)).code).toBe(CLOSE_CODES.deviceKeyRefused);
      expect(upgraded.ws.readyState).toBe(upgraded.ws.OPEN);
    });

    it('lets a new key bind once the admin forgets the device key with `tether-relay device forget`', async () => {
      const t = await startTestRelay();
      const device = freshDevice();
      const old = await connect(t);
      const rt = (await old.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      await old.close();
      const reinstalled = new FakeDeviceKey();
      const refusedOnce = await connect(t);
      await refusedOnce.sendHello(device, [testWorkspace('ws-1')], { key: reinstalled });
      expect((await refused(refusedOnce)).code).toBe(CLOSE_CODES.deviceKeyRefused);

      const out: string[] = [];
      vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
      vi.spyOn(console, 'error').mockImplementation((line: string) => void out.push(line));
      expect(await runCli(['device', 'list', '--org', 'acme', '--data-dir', t.dataDir])).toBe(0);
      const fingerprint = deviceKeyFingerprint(deviceKeyOf(device.deviceId).publicKey);
      expect(out.at(-1)).toMatch(
        new RegExp(`^${device.deviceId}\tLaptop\tlinux\tlast seen .*\ttok_.*\tkey ${fingerprint} `),
      );
      expect(await runCli(['device', 'forget', device.deviceId, '--org', 'acme', '--data-dir', t.dataDir])).toBe(0);
      expect(await runCli(['device', 'forget', device.deviceId, '--org', 'acme', '--data-dir', t.dataDir])).toBe(1);
      expect(await runCli(['device', 'forget', device.deviceId, '--data-dir', t.dataDir])).toBe(2);
      await runCli(['device', 'list', '--org', 'acme', '--data-dir', t.dataDir]);
      expect(out.at(-1)).toMatch(/\tno key$/);

      const back = await connect(t);
      back.onCall = (call, d) => d.succeed(call.id, 'reinstalled');
      expect((await back.hello(device, [testWorkspace('ws-1')], { key: reinstalled })).runtimes[0]!.runtimeId).toBe(rt);
      expect((await writeCall(t, rt)).body.result).toBe('reinstalled');
      // The old key is now the stranger.
      const oldAgain = await connect(t);
      await oldAgain.sendHello(device, [testWorkspace('ws-1')]);
      expect((await refused(oldAgain)).code).toBe(CLOSE_CODES.deviceKeyRefused);
    });

    it('keeps the key across a relay restart with the same data dir', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tether-device-key-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const device = freshDevice();
      const first = await start({}, dir);
      await first.relay.admin.createOrg('acme');
      const token = (await first.relay.admin.createToken({ org: 'acme', kind: 'desktop', name: 'laptop' })).token;
      const owner = await FakeDesktop.connect(first.relay.wsUrl, token);
      const rt = (await owner.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
      await first.dispose();
      await owner.closed;

      const t = await start({}, dir);
      cleanups.push(() => t.dispose());
      const impostor = await connect(t, token);
      await impostor.sendHello(device, [testWorkspace('ws-1')], { key: new FakeDeviceKey() });
      expect((await refused(impostor)).code).toBe(CLOSE_CODES.deviceKeyRefused);
      const back = await connect(t, token);
      expect((await back.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId).toBe(rt);
    });
  });
});
