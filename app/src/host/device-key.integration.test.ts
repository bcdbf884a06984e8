import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay, type RelayHandle } from '@tether/relay';
import type { Result } from '@tether/shared';
import { startHost } from './host.js';
import { RelayClient } from './relay-client/relay-client.js';
import { startStack, waitFor, type StartRelay } from './test-stack.js';
import { DEVICE_KEY_FILE, DeviceKey, openDeviceKeyStore } from './token/device-key.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stack(): Promise<Stack> {
  const s = await startStack(startRelay as unknown as StartRelay, {
    policy: { read: 'allow', write: 'allow', shell: 'ask' },
  });
  cleanups.push(() => s.dispose());
  return s;
}

/** The relay's admin as the relay exports it (the test stack types only what most tests use). */
function adminOf(s: Stack): RelayHandle['admin'] {
  return (s.relay as unknown as RelayHandle).admin;
}

/**
 * Another install playing the impostor with the real desktop code: the stolen desktop token, the
 * device id every `/v1/runtimes` answer shows, and a key pair of its own.
 */
async function impostor(s: Stack, deviceId: string, runs: string[]): Promise<RelayClient> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-impostor-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const key = await DeviceKey.create(await openDeviceKeyStore(dir, { useKeychain: false }));
  const client = new RelayClient({
    relayUrl: s.relay.url,
    token: s.desktopToken,
    device: () => ({ deviceId, name: 'Impostor', os: 'linux' }),
    deviceKey: () => key,
    appVersion: '0.1.0',
    announcements: () => [
      {
        workspaceId: s.host.workspaces.list()[0]!.config.id,
        name: 'workspace',
        description: '',
        state: 'running',
        capabilities: { policy: { read: 'allow', write: 'allow', shell: 'allow' }, tools: ['write_file', 'read_file'] },
      },
    ],
    calls: {
      run: (call): Promise<Result<unknown>> => {
        runs.push(JSON.stringify(call.args));
        return Promise.resolve({ ok: true, value: 'stolen' });
      },
      cancel: () => undefined,
    },
    backoff: { baseMs: 10, maxMs: 50 },
  });
  cleanups.push(() => client.dispose());
  return client;
}

describe('Host with the relay', () => {
  describe('device key', () => {
    it('refuses an impostor with the stolen token and device id; the real desktop stays connected and gets the write', async () => {
      const s = await stack();
      const runtime = await s.runtimeIn('running');
      const runs: string[] = [];
      const thief = await impostor(s, runtime.device.id, runs);
      await waitFor(() => thief.status.state === 'error', 'the impostor refused');
      expect(thief.status.alert).toBe('device_key_refused');
      expect(thief.status.reason).toMatch(/refused this device's key \(4412/);

      expect(s.host.relay.status.state).toBe('connected');
      const { status, result } = await s.call(runtime.id, 'write_file', { path: 'plan.txt', content: 'the plan' });
      expect(status).toBe(200);
      expect(result).toBeTruthy();
      expect(await readFile(join(s.workspaceDir, 'plan.txt'), 'utf8')).toBe('the plan');
      expect(runs).toEqual([]);
      expect((await s.runtimeIn('running')).id).toBe(runtime.id);

      // The person is told that someone else holds the token, until a new token is entered.
      const warned = await waitFor(
        async () => (await s.host.api.request('state:get', {})).connection.claimRefusedAt,
        'the takeover attempt told to the desktop',
      );
      expect(warned).toBeGreaterThan(Date.now() - 60_000);
      const replaced = await s.host.api.request('settings:update', { token: s.desktopToken });
      expect(replaced.connection.claimRefusedAt).toBeUndefined();
      await waitFor(() => s.host.relay.status.state === 'connected', 'connected with the new token');
    });

    it('keeps its key across a host restart (0600 file without a keychain), and the relay keeps accepting it', async () => {
      const s = await stack();
      const runtime = await s.runtimeIn('running');
      const configDir = join(s.dir, 'config');
      const fingerprint = (await s.host.api.request('state:get', {})).device.keyFingerprint;
      expect(fingerprint).toMatch(/^[A-Za-z0-9_-]{4}(-[A-Za-z0-9_-]{4}){3}$/);
      const keyFile = join(configDir, DEVICE_KEY_FILE);
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      const stored = await readFile(keyFile, 'utf8');
      await s.host.dispose();

      const logs: string[] = [];
      const again = await startHost({
        configDir,
        relayUrl: s.relay.url,
        token: s.desktopToken,
        useKeychain: false,
        env: {},
        backoff: { baseMs: 50, maxMs: 400 },
        log: (line) => logs.push(line),
      });
      cleanups.push(() => again.dispose());
      await waitFor(() => again.relay.status.state === 'connected', 'the restarted host connected');
      expect((await again.api.request('state:get', {})).device.keyFingerprint).toBe(fingerprint);
      expect(await readFile(keyFile, 'utf8')).toBe(stored);
      expect(logs.some((l) => /No OS keychain.*device key is kept in .*device-key/.test(l))).toBe(true);
      expect(again.relay.runtimes[0]?.runtimeId).toBe(runtime.id);
      const [device] = await adminOf(s).listDevices('it');
      expect(device!.keyFingerprint).toBe(fingerprint);
    });

    it('shows the alert when another key holds its device id, and re-pairs with a new device id and key', async () => {
      const s = await stack();
      const runtime = await s.runtimeIn('running');
      const before = await s.host.api.request('state:get', {});
      // While the desktop is offline its key is forgotten and an impostor binds its own first.
      s.host.relay.setEnabled(false);
      await waitFor(async () => (await s.runtimes())[0]?.state === 'stopped', 'the runtime stopped');
      expect(await adminOf(s).forgetDeviceKey('it', before.device.id)).toBe(true);
      const runs: string[] = [];
      const thief = await impostor(s, before.device.id, runs);
      await waitFor(() => thief.status.state === 'connected', 'the impostor bound the device');
      await thief.dispose();

      s.host.relay.setEnabled(true);
      await waitFor(() => s.host.relay.status.state === 'error', 'the desktop refused');
      const refused = await s.host.api.request('state:get', {});
      expect(refused.connection.alert).toBe('device_key_refused');

      const repaired = await s.host.api.request('device:repair', {});
      expect(repaired.device.id).not.toBe(before.device.id);
      expect(repaired.device.keyFingerprint).not.toBe(before.device.keyFingerprint);
      await waitFor(() => s.host.relay.status.state === 'connected', 'the re-paired desktop connected');
      const after = await s.host.api.request('state:get', {});
      expect(after.connection.alert).toBeUndefined();
      const fresh = await waitFor(
        async () => (await s.runtimes()).find((r) => r.device.id === repaired.device.id && r.state === 'running'),
        'the re-paired runtime running',
      );
      expect(fresh.id).not.toBe(runtime.id);
      const { status } = await s.call(fresh.id, 'write_file', { path: 'after.txt', content: 'mine again' });
      expect(status).toBe(200);
      expect(await readFile(join(s.workspaceDir, 'after.txt'), 'utf8')).toBe('mine again');
      const devices = await adminOf(s).listDevices('it');
      expect(devices.find((d) => d.deviceId === repaired.device.id)?.keyFingerprint).toBe(
        repaired.device.keyFingerprint,
      );
    });
  });
});
