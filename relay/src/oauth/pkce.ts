import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { OAUTH_SHORT_CODE_CHARS, normalizeShortCode } from '@tether/shared';

/** RFC 7636 §4.1: 43–128 characters of the unreserved set. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** An S256 challenge is base64url of a SHA-256: 43 characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Whether a code_challenge has the form of an S256 one. */
export function isS256Challenge(challenge: string): boolean {
  return CHALLENGE.test(challenge);
}

/** Whether `verifier` proves `challenge` (S256; plain is not supported, OAuth 2.1 §4.1.1). */
export function verifiesChallenge(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier) || !CHALLENGE.test(challenge)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** Crockford base32 without I, L, O, U: easy to read aloud and to type, nothing to confuse. */
const SHORT_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A new short code (OAUTH_SHORT_CODE_CHARS characters) for the person to compare between page and desktop. */
export function newShortCode(): string {
  let code = '';
  for (let i = 0; i < OAUTH_SHORT_CODE_CHARS; i++) code += SHORT_CODE_ALPHABET[randomInt(SHORT_CODE_ALPHABET.length)];
  return code;
}

/** Whether two short codes are equal, in constant time. */
export function sameShortCode(a: string, b: string): boolean {
  const x = Buffer.from(normalizeShortCode(a));
  const y = Buffer.from(normalizeShortCode(b));
  return x.length === y.length && timingSafeEqual(x, y);
}
