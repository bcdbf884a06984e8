import { createPrivateKey, createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { deviceKeyFingerprint, deviceProofMessage, type DeviceProof } from '@tether/shared';
import { TokenStore, keychainAccountFor, type TokenStoreOptions } from './token-store.js';

/** File the device's private key is kept in when there is no OS keychain (mode 0600), beside the token's. */
export const DEVICE_KEY_FILE = 'device-key';

/** Keychain account of the device key (beside the token's, same service). */
export const DEVICE_KEY_ACCOUNT = 'device-key';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * The device's Ed25519 key pair (DESIGN.md, Devices): made at the first run, the private key
 * kept like the desktop token (OS keychain, else a 0600 file with a warning), never sent
 * anywhere. Each hello proves it holds the key by signing the relay's challenge, so a desktop
 * token alone cannot take the device over.
 */
export class DeviceKey {
  /** The raw public key, base64url (what the relay binds the device id to). */
  readonly publicKey: string;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey).export({ format: 'jwk' }).x!;
  }

  /** The public key as people compare it (the connection card, `tether-relay device list`). */
  get fingerprint(): string {
    return deviceKeyFingerprint(this.publicKey);
  }

  /**
   * The stored key, or a new one stored now (first run). A stored value that is not a key
   * (damaged by hand) is replaced by a new one, with a warning: the relay then refuses the
   * device (4412) and the person re-pairs it.
   */
  static async load(store: TokenStore, warnings: string[] = []): Promise<DeviceKey> {
    const stored = await store.get();
    if (stored !== null) {
      try {
        return new DeviceKey(createPrivateKey({ key: Buffer.from(stored, 'base64url'), format: 'der', type: 'pkcs8' }));
      } catch {
        warnings.push('The stored device key could not be read; a new one was made (re-pair this device).');
      }
    }
    return DeviceKey.create(store);
  }

  /** Makes a new key pair and stores it, replacing any previous one (first run, re-pairing). */
  static async create(store: TokenStore): Promise<DeviceKey> {
    const { privateKey } = await generateKeyPairAsync('ed25519');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    await store.set(der.toString('base64url'));
    return new DeviceKey(privateKey);
  }

  /** The hello's proof for one connection: its relay host (as this desktop reached it), device id and challenge. */
  prove(context: { relayHost: string; deviceId: string; nonce: string }): DeviceProof {
    const message = deviceProofMessage({ ...context, publicKey: this.publicKey });
    return {
      publicKey: this.publicKey,
      relayHost: context.relayHost,
      signature: sign(null, Buffer.from(message, 'utf8'), this.privateKey).toString('base64url'),
    };
  }
}

/** Opens the device key's store: the keychain entry beside the token's, else DEVICE_KEY_FILE. */
export function openDeviceKeyStore(configDir: string, options: TokenStoreOptions = {}): Promise<TokenStore> {
  return TokenStore.open(configDir, {
    ...options,
    account: options.account ?? keychainAccountFor(configDir, DEVICE_KEY_ACCOUNT),
    file: DEVICE_KEY_FILE,
    what: 'device key',
  });
}
