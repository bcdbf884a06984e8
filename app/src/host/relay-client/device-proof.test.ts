import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE_CODES, deviceProofMessage, type AppFrame } from '@tether/shared';
import { DeviceKey, openDeviceKeyStore } from '../token/device-key.js';
import { RelayClient } from './relay-client.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A stand-in relay on a real port that lets the test decide when to send the challenge. */
async function standInRelay(): Promise<{ url: string; host: string; sockets: WebSocket[]; frames: AppFrame[] }> {
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer((_req, res) => void res.writeHead(404).end());
  const sockets: WebSocket[] = [];
  const frames: AppFrame[] = [];
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as AppFrame));
    }),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const ws of sockets) ws.terminate();
    wss.close();
    await new Promise((resolve) => http.close(resolve));
  });
  const port = (http.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, sockets, frames };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function client(url: string): Promise<{ client: RelayClient; key: DeviceKey; logs: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-proof-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const key = await DeviceKey.load(await openDeviceKeyStore(dir, { useKeychain: false }));
  const logs: string[] = [];
  const c = new RelayClient({
    relayUrl: url,
    token: 'tdt_good',
    device: () => ({ deviceId: 'dev_1', name: 'Laptop', os: 'linux' }),
    deviceKey: () => key,
    appVersion: '0.1.0',
    announcements: () => [],
    calls: { run: () => Promise.resolve({ ok: true, value: null }), cancel: () => undefined },
    backoff: { baseMs: 10, maxMs: 20 },
    log: (line) => logs.push(line),
  });
  cleanups.push(() => c.dispose());
  return { client: c, key, logs };
}

describe('RelayClient', () => {
  describe('device proof', () => {
    it('says hello only after the challenge, signing it with the relay host it connected to; a second challenge is ignored', async () => {
      const relay = await standInRelay();
      const { key, logs } = await client(relay.url);
      await waitFor(() => relay.sockets.length === 1, 'the connection');
      await new Promise((r) => setTimeout(r, 150));
      expect(relay.frames).toEqual([]);

      const nonce = 'N'.repeat(43);
      relay.sockets[0]!.send(JSON.stringify({ type: 'challenge', nonce }));
      await waitFor(() => relay.frames.length === 1, 'the hello');
      const hello = relay.frames[0]!;
      if (hello.type !== 'hello' || !hello.proof) throw new Error('expected a hello with a proof');
      expect(hello.proof.publicKey).toBe(key.publicKey);
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey }, format: 'jwk' });
      const message = deviceProofMessage({ relayHost: relay.host, deviceId: 'dev_1', nonce, publicKey: key.publicKey });
      expect(verify(null, Buffer.from(message), publicKey, Buffer.from(hello.proof.signature, 'base64url'))).toBe(true);

      relay.sockets[0]!.send(JSON.stringify({ type: 'challenge', nonce: 'M'.repeat(43) }));
      await waitFor(
        () => logs.some((l) => l.includes('ignored a challenge after hello')),
        'the second challenge ignored',
      );
      expect(relay.frames).toHaveLength(1);
    });

    it('records a notice of a refused takeover only after welcome, and forgets it with a new token', async () => {
      const relay = await standInRelay();
      const { client: c } = await client(relay.url);
      await waitFor(() => relay.sockets.length === 1, 'the connection');
      const notice = JSON.stringify({ type: 'notice', kind: 'device_claim_refused', at: '2000-01-01T00:00:00.000Z' });
      relay.sockets[0]!.send(notice); // before welcome: ignored
      relay.sockets[0]!.send(JSON.stringify({ type: 'challenge', nonce: 'N'.repeat(43) }));
      await waitFor(() => relay.frames.length === 1, 'the hello');
      relay.sockets[0]!.send(
        JSON.stringify({
          type: 'welcome',
          sessionId: 's1',
          runtimes: [],
          limits: { maxFrameBytes: 1024 * 1024, maxInFlightPerRuntime: 4 },
          heartbeatIntervalMs: 15_000,
        }),
      );
      await waitFor(() => c.status.state === 'connected', 'connected');
      expect(c.status.claimRefusedAt).toBeUndefined();
      const before = Date.now();
      relay.sockets[0]!.send(notice);
      await waitFor(() => c.status.claimRefusedAt !== undefined, 'the notice');
      // This machine's clock, not the relay's word.
      expect(c.status.claimRefusedAt).toBeGreaterThanOrEqual(before);
      c.configure({ token: 'tdt_new' });
      expect(c.status.claimRefusedAt).toBeUndefined();
    });

    it('stops with the device_key_refused alert on 4412, without retrying', async () => {
      const relay = await standInRelay();
      const { client: c } = await client(relay.url);
      await waitFor(() => relay.sockets.length === 1, 'the connection');
      relay.sockets[0]!.send(JSON.stringify({ type: 'challenge', nonce: 'N'.repeat(43) }));
      await waitFor(() => relay.frames.length === 1, 'the hello');
      relay.sockets[0]!.close(CLOSE_CODES.deviceKeyRefused, 'this device id is bound to another device key');
      await waitFor(() => c.status.state === 'error', 'the refusal');
      expect(c.status.alert).toBe('device_key_refused');
      expect(c.status.reason).toMatch(/refused this device's key \(4412: this device id is bound/);
      await new Promise((r) => setTimeout(r, 200));
      expect(relay.sockets).toHaveLength(1);
      // Switching on again retries, and the alert goes with the error.
      c.setEnabled(true);
      await waitFor(() => relay.sockets.length === 2, 'the retry');
      expect(c.status.alert).toBeUndefined();
    });
  });
});
