import { describe, expect, it } from 'vitest';
import { domainAllowed, isPublicAddress } from './net-proxy.js';

describe('isPublicAddress', () => {
  it('refuses loopback, private, link-local, metadata, CGNAT, multicast and unspecified addresses', () => {
    for (const a of [
      '127.0.0.1',
      '127.1.2.3',
      '0.0.0.0',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd00:ec2::254',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
      '64:ff9b::10.0.0.1',
      '2002:7f00:1::',
      'not-an-ip',
    ]) {
      expect(isPublicAddress(a), a).toBe(false);
    }
  });

  it('allows public addresses', () => {
    for (const a of ['1.1.1.1', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPublicAddress(a), a).toBe(true);
    }
  });
});

describe('domainAllowed', () => {
  it('matches a domain exactly, and subdomains only for *.', () => {
    expect(domainAllowed('registry.npmjs.org', ['registry.npmjs.org'])).toBe(true);
    expect(domainAllowed('REGISTRY.npmjs.org.', ['registry.npmjs.org'])).toBe(true);
    expect(domainAllowed('evil-registry.npmjs.org', ['registry.npmjs.org'])).toBe(false);
    expect(domainAllowed('api.github.com', ['*.github.com'])).toBe(true);
    expect(domainAllowed('github.com', ['*.github.com'])).toBe(false);
    expect(domainAllowed('evilgithub.com', ['*.github.com'])).toBe(false);
    expect(domainAllowed('github.com.evil.io', ['github.com', '*.github.com'])).toBe(false);
  });
});
