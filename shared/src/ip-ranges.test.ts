import { describe, expect, it } from 'vitest';
import { isPublicIpAddress } from './ip-ranges.js';

describe('isPublicIpAddress', () => {
  it('refuses this host, private, link-local, metadata, CGNAT, multicast, reserved and hidden-IPv4 forms', () => {
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
      '198.18.0.1',
      '224.0.0.1',
      '240.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      '0:0:0:0:0:0:0:1',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd00:ec2::254',
      'fec0::1',
      'ff02::1',
      '2001:db8::1',
      '::ffff:127.0.0.1',
      '::FFFF:7F00:1',
      '::ffff:169.254.169.254',
      '::127.0.0.1',
      '64:ff9b::10.0.0.1',
      '64:ff9b::a00:1',
      '2002:7f00:1::',
    ])
      expect(isPublicIpAddress(a), a).toBe(false);
  });

  it('allows public addresses, also written as IPv4 inside IPv6', () => {
    for (const a of [
      '1.1.1.1',
      '8.8.8.8',
      '93.184.216.34',
      '172.32.0.1',
      '100.128.0.1',
      '2606:4700:4700::1111',
      '2a00:1450:4001:81b::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ])
      expect(isPublicIpAddress(a), a).toBe(true);
  });

  it('refuses what is not an address', () => {
    for (const a of [
      'not-an-ip',
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      'g::1',
      'example.com',
    ])
      expect(isPublicIpAddress(a), a).toBe(false);
  });
});
