import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { deviceProofMessage, type DeviceProof } from '@tether/shared';

/** A fresh challenge nonce for one connection: 32 random bytes, base64url. */
export function newChallengeNonce(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The relay's own name as this connection reached it, for the device proof: the upgrade's Host
 * header, lower case (what the desktop signs is its connect URL's host). A reverse proxy in
 * front must pass the Host header through.
 */
export function relayHostOf(hostHeader: string | undefined): string | null {
  const host = hostHeader?.trim().toLowerCase();
  return host ? host : null;
}

/**
 * Whether `proof` is an Ed25519 signature by its public key of this connection's proof message
 * (relay host, device id, nonce, key). Never throws: a key that is not a valid point is false.
 */
export function verifyDeviceProof(
  proof: DeviceProof,
  context: { relayHost: string; deviceId: string; nonce: string },
): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: proof.publicKey }, format: 'jwk' });
    const message = deviceProofMessage({ ...context, publicKey: proof.publicKey });
    return verify(null, Buffer.from(message, 'utf8'), key, Buffer.from(proof.signature, 'base64url'));
  } catch {
    return false;
  }
}
