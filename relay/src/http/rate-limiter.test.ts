import { describe, expect, it } from 'vitest';
import { addressKey, RateLimiter, retryAfterSeconds } from './rate-limiter.js';

describe('RateLimiter', () => {
  describe('hit', () => {
    it('allows `limit` hits per window, then answers the time left in the window', () => {
      const limiter = new RateLimiter(3, 1_000);
      expect([limiter.hit('a', 10_000), limiter.hit('a', 10_100), limiter.hit('a', 10_200)]).toEqual([0, 0, 0]);
      expect(limiter.hit('a', 10_400)).toBe(600);
      expect(limiter.hit('a', 10_999)).toBe(1);
    });

    it('starts a fresh window once the old one has ended', () => {
      const limiter = new RateLimiter(1, 1_000);
      limiter.hit('a', 0);
      expect(limiter.hit('a', 500)).toBe(500);
      expect(limiter.hit('a', 1_000)).toBe(0);
      expect(limiter.hit('a', 1_001)).toBe(999);
    });

    it('counts each key on its own', () => {
      const limiter = new RateLimiter(1, 1_000);
      limiter.hit('a', 0);
      expect(limiter.hit('a', 1)).toBeGreaterThan(0);
      expect(limiter.hit('b', 1)).toBe(0);
    });

    it('never refuses with a limit of 0 (switched off), and keeps nothing', () => {
      const limiter = new RateLimiter(0, 1_000);
      for (let i = 0; i < 100; i++) expect(limiter.hit('a', i)).toBe(0);
      expect(limiter.size).toBe(0);
    });

    it('holds at most maxKeys keys: finished windows go first, then the oldest', () => {
      const limiter = new RateLimiter(1, 1_000, 3);
      limiter.hit('old', 0);
      limiter.hit('b', 900);
      limiter.hit('c', 900);
      // 'old' has finished its window at 1000: it goes, the live ones stay.
      limiter.hit('d', 1_100);
      expect(limiter.size).toBe(3);
      expect(limiter.hit('b', 1_200)).toBeGreaterThan(0);
      // All live now: the oldest ('b') goes to make room.
      limiter.hit('e', 1_300);
      expect(limiter.size).toBe(3);
      expect(limiter.hit('b', 1_400)).toBe(0);
    });
  });

  describe('blockedFor', () => {
    it('is 0 until the limit is used up, then the time left, without counting itself', () => {
      const limiter = new RateLimiter(2, 1_000);
      expect(limiter.blockedFor('a', 0)).toBe(0);
      limiter.hit('a', 0);
      expect(limiter.blockedFor('a', 10)).toBe(0);
      limiter.hit('a', 20);
      for (let i = 0; i < 5; i++) expect(limiter.blockedFor('a', 100)).toBe(900);
      expect(limiter.blockedFor('a', 1_000)).toBe(0);
      // The finished window is forgotten.
      expect(limiter.size).toBe(0);
    });
  });
});

describe('addressKey', () => {
  it('keys IPv4 and IPv4-mapped IPv6 by the address', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('keys IPv6 by its /64, however it is written', () => {
    const key = addressKey('2001:db8:0:1::1');
    expect(key).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0db8:0000:0001:ffff:1:2:3')).toBe(key);
    expect(addressKey('2001:DB8:0:1:a::%eth0')).toBe(key);
    expect(addressKey('2001:db8:0:2::1')).not.toBe(key);
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });

  it('keys a missing address as one unknown client', () => {
    expect(addressKey(undefined)).toBe('unknown');
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds, at least 1', () => {
    expect([retryAfterSeconds(1), retryAfterSeconds(1_000), retryAfterSeconds(1_001), retryAfterSeconds(0)]).toEqual([
      1, 1, 2, 1,
    ]);
  });
});
