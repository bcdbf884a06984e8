import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { deviceProofMessage, type DeviceProof } from '@tether/shared';

/** A fresh challenge nonce for one connection: 32 random bytes, base64url. */
export function newChallengeNonce(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The relay hosts a hello's device proof may name, lower case (the desktop signs its connect
 * URL's host): the configured public hosts when there are some (`--public-host`), else the
 * upgrade's Host header. The Host header is the client's word: it binds a proof to the name the
 * desktop used, but a relay the desktop was pointed at could name any host when it passes the
 * challenge on; only configured public hosts stop that. A reverse proxy in front must pass the
 * Host header through (or the public hosts be set).
 */
export function relayHostsFor(publicHosts: readonly string[] | undefined, hostHeader: string | undefined): string[] {
  if (publicHosts !== undefined && publicHosts.length > 0) return publicHosts.map((h) => h.toLowerCase());
  const host = hostHeader?.trim().toLowerCase();
  return host ? [host] : [];
}

/** Whether `text` is a host as a URL names it (`name`, `name:port`, `[v6]:port`), port without the scheme's default. */
export function isRelayHost(text: string): boolean {
  try {
    return new URL(`wss://${text}`).host === text.toLowerCase() && !text.includes('/');
  } catch {
    return false;
  }
}

/**
 * Whether `proof` is an Ed25519 signature by its public key of this connection's proof message
 * (the relay host it names, device id, nonce, key); the caller checks that host is this relay's.
 * Never throws: a key that is not a valid point is false.
 */
export function verifyDeviceProof(proof: DeviceProof, context: { deviceId: string; nonce: string }): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: proof.publicKey }, format: 'jwk' });
    const message = deviceProofMessage({ ...context, relayHost: proof.relayHost, publicKey: proof.publicKey });
    return verify(null, Buffer.from(message, 'utf8'), key, Buffer.from(proof.signature, 'base64url'));
  } catch {
    return false;
  }
}
