import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fetchClientMetadataSafely, isForbiddenAddress } from './client-metadata-fetcher.js';
import { redirectUriMatches, redirectUriProblem } from './oauth-clients.js';
import { audienceMatches, parseResource, resourceOfPath } from './oauth-metadata.js';
import { isS256Challenge, newShortCode, sameShortCode, verifiesChallenge } from './pkce.js';

describe('pkce', () => {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  it('accepts the verifier of an S256 challenge and nothing else', () => {
    expect(isS256Challenge(challenge)).toBe(true);
    expect(verifiesChallenge(verifier, challenge)).toBe(true);
    expect(verifiesChallenge(randomBytes(32).toString('base64url'), challenge)).toBe(false);
    // `plain` would send the verifier itself as the challenge: refused.
    expect(verifiesChallenge(challenge, challenge)).toBe(false);
    expect(verifiesChallenge('short', challenge)).toBe(false);
  });

  it('makes short codes of the unambiguous alphabet that compare as people type them', () => {
    const code = newShortCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
    expect(sameShortCode(`${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`, code)).toBe(true);
    expect(sameShortCode('0O0O1IL1', '00001111')).toBe(true);
    expect(sameShortCode('AAAA-AAAB', 'AAAAAAAA')).toBe(false);
  });
});

describe('resources and audiences', () => {
  const issuer = 'https://relay.example';

  it('knows the two MCP URLs and nothing else', () => {
    expect(resourceOfPath('/v1/mcp')).toEqual({ kind: 'org' });
    expect(resourceOfPath('/v1/runtimes/rt_1/mcp')).toEqual({ kind: 'runtime', runtimeId: 'rt_1' });
    expect(resourceOfPath('/v1/runtimes/rt_1/calls')).toBeNull();
    expect(parseResource(issuer, 'https://relay.example/v1/runtimes/rt_1/mcp')).toEqual({
      kind: 'runtime',
      runtimeId: 'rt_1',
    });
    expect(parseResource(issuer, 'https://evil.example/v1/mcp')).toBeNull();
    expect(parseResource(issuer, 'https://relay.example/v1/mcp?x=1')).toBeNull();
  });

  it('accepts a token only at the MCP URL it was issued for', () => {
    const runtime = `${issuer}/v1/runtimes/rt_1/mcp`;
    expect(audienceMatches(runtime, '/v1/runtimes/rt_1/mcp')).toBe(true);
    expect(audienceMatches(runtime, '/v1/runtimes/rt_2/mcp')).toBe(false);
    expect(audienceMatches(runtime, '/v1/mcp')).toBe(false);
    expect(audienceMatches(`${issuer}/v1/mcp`, '/v1/mcp')).toBe(true);
    expect(audienceMatches(`${issuer}/v1/mcp`, '/v1/runtimes/rt_1/mcp')).toBe(false);
    expect(audienceMatches('not a url', '/v1/mcp')).toBe(false);
  });
});

describe('redirectUriProblem', () => {
  it('takes https, loopback http and native app schemes, and refuses the rest', () => {
    expect(redirectUriProblem('https://claude.ai/api/mcp/auth_callback')).toBeNull();
    expect(redirectUriProblem('http://127.0.0.1:33418/callback')).toBeNull();
    expect(redirectUriProblem('http://localhost:6274/oauth/callback')).toBeNull();
    expect(redirectUriProblem('cursor://anysphere.cursor-retrieval/oauth/callback')).toBeNull();
    expect(redirectUriProblem('http://example.com/cb')).toMatch(/https/);
    expect(redirectUriProblem('javascript:alert(1)')).toMatch(/javascript/);
    expect(redirectUriProblem('https://claude.ai/cb#frag')).toMatch(/fragment/);
    expect(redirectUriProblem('/relative')).toMatch(/absolute/);
  });
});

describe('redirectUriMatches', () => {
  it('matches exactly, except the port of a loopback IP (RFC 8252 §7.3)', () => {
    expect(
      redirectUriMatches('https://claude.ai/api/mcp/auth_callback', 'https://claude.ai/api/mcp/auth_callback'),
    ).toBe(true);
    expect(
      redirectUriMatches('https://claude.ai/api/mcp/auth_callback', 'https://claude.ai/api/mcp/auth_callback/'),
    ).toBe(false);
    expect(redirectUriMatches('https://claude.ai/cb', 'https://claude.ai/cb?x=1')).toBe(false);
    expect(redirectUriMatches('https://claude.ai:443/cb', 'https://claude.ai:8443/cb')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/callback', 'http://127.0.0.1:53219/callback')).toBe(true);
    expect(redirectUriMatches('http://[::1]:1000/callback', 'http://[::1]:2000/callback')).toBe(true);
    expect(redirectUriMatches('http://127.0.0.1/callback', 'http://127.0.0.1:53219/other')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/callback', 'http://127.0.0.2:53219/callback')).toBe(false);
    expect(redirectUriMatches('http://localhost/callback', 'http://localhost:53219/callback')).toBe(false);
  });
});

describe('fetchClientMetadataSafely', () => {
  it('classifies addresses that are not public', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::ffff:127.0.0.1',
      'fd00::1',
      'fe80::1',
      'not-an-ip',
    ])
      expect(isForbiddenAddress(address), address).toBe(true);
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])
      expect(isForbiddenAddress(address), address).toBe(false);
  });

  it('refuses http, credentials, loopback and private addresses before sending anything', async () => {
    await expect(fetchClientMetadataSafely(new URL('http://client.example/meta.json'))).rejects.toThrow(/https/);
    await expect(fetchClientMetadataSafely(new URL('https://u:p@client.example/meta.json'))).rejects.toThrow(
      /credentials/,
    );
    await expect(fetchClientMetadataSafely(new URL('https://127.0.0.1/meta.json'))).rejects.toThrow(/not public/);
    await expect(fetchClientMetadataSafely(new URL('https://[::1]/meta.json'))).rejects.toThrow(/not public/);
    await expect(fetchClientMetadataSafely(new URL('https://169.254.169.254/latest/meta-data'))).rejects.toThrow(
      /not public/,
    );
    // A name that resolves to loopback is refused at the socket's own lookup (no DNS rebinding window).
    await expect(fetchClientMetadataSafely(new URL('https://localhost/meta.json'))).rejects.toThrow(/not public/);
  });
});
