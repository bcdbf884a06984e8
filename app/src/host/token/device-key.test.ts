import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceProofMessage } from '@tether/shared';
import { DEVICE_KEY_FILE, DeviceKey, openDeviceKeyStore } from './device-key.js';
import { TOKEN_FILE, TokenStore } from './token-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-device-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DeviceKey', () => {
  describe('load', () => {
    it('makes a key at the first run, keeps it in a 0600 file beside the token without a keychain, and loads the same one later', async () => {
      const store = await openDeviceKeyStore(dir, { useKeychain: false });
      expect(store.warnings.join(' ')).toMatch(/device key is kept in .*device-key.*0600/);
      const first = await DeviceKey.load(store);
      expect((await stat(join(dir, DEVICE_KEY_FILE))).mode & 0o777).toBe(0o600);
      const again = await DeviceKey.load(await openDeviceKeyStore(dir, { useKeychain: false }));
      expect(again.publicKey).toBe(first.publicKey);
      expect(first.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // The token's file is another one: setting the token leaves the key alone.
      await (await TokenStore.open(dir, { useKeychain: false })).set('tdt_token');
      expect(await readFile(join(dir, TOKEN_FILE), 'utf8')).toBe('tdt_token\n');
      expect((await DeviceKey.load(store)).publicKey).toBe(first.publicKey);
    });

    it('replaces a damaged key with a new one and says so', async () => {
      await writeFile(join(dir, DEVICE_KEY_FILE), 'not-a-key\n', { mode: 0o600 });
      const warnings: string[] = [];
      const key = await DeviceKey.load(await openDeviceKeyStore(dir, { useKeychain: false }), warnings);
      expect(warnings.join(' ')).toMatch(/could not be read; a new one was made/);
      expect((await DeviceKey.load(await openDeviceKeyStore(dir, { useKeychain: false }))).publicKey).toBe(
        key.publicKey,
      );
    });
  });

  describe('create', () => {
    it('replaces the stored key (re-pairing)', async () => {
      const store = await openDeviceKeyStore(dir, { useKeychain: false });
      const old = await DeviceKey.load(store);
      const fresh = await DeviceKey.create(store);
      expect(fresh.publicKey).not.toBe(old.publicKey);
      expect((await DeviceKey.load(store)).publicKey).toBe(fresh.publicKey);
    });
  });

  describe('prove', () => {
    it('signs the proof message of one connection with the private key of its public key', async () => {
      const key = await DeviceKey.load(await openDeviceKeyStore(dir, { useKeychain: false }));
      const context = { relayHost: 'relay.example', deviceId: 'dev_1', nonce: 'n'.repeat(43) };
      const proof = key.prove(context);
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: proof.publicKey }, format: 'jwk' });
      const signed = (nonce: string) =>
        verify(
          null,
          Buffer.from(deviceProofMessage({ ...context, nonce, publicKey: proof.publicKey })),
          publicKey,
          Buffer.from(proof.signature, 'base64url'),
        );
      expect(signed(context.nonce)).toBe(true);
      expect(signed('m'.repeat(43))).toBe(false);
      expect(key.fingerprint).toBe(proof.publicKey.slice(0, 16).match(/.{4}/g)!.join('-'));
    });
  });
});
