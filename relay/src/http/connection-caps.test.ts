import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectionCaps, type ConnectionCapName } from './connection-caps.js';

/** A stand-in socket: ConnectionCaps reads its address, destroys it, and listens for its close. */
class TestSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close');
    }
    return this;
  }
}

const socket = (address: string) => new TestSocket(address) as unknown as Socket & TestSocket;

describe('ConnectionCaps', () => {
  it('closes the oldest unauthenticated connection past the cap, never an authenticated one', () => {
    const capped: ConnectionCapName[] = [];
    const caps = new ConnectionCaps(
      { maxConnectionsPerAddress: 0, maxUnauthenticatedConnectionsPerAddress: 2 },
      undefined,
      (c) => capped.push(c),
    );
    const [a, b, c, d] = [socket('10.0.0.1'), socket('10.0.0.1'), socket('10.0.0.1'), socket('10.0.0.1')];
    caps.admit(a);
    caps.admit(b);
    caps.authenticated(a);
    caps.admit(c);
    expect([a.destroyed, b.destroyed, c.destroyed]).toEqual([false, false, false]);
    caps.admit(d);
    expect([a.destroyed, b.destroyed, c.destroyed, d.destroyed]).toEqual([false, true, false, false]);
    expect(capped).toEqual(['unauthenticated_connections_per_address']);
    expect(caps.countFor('10.0.0.1')).toEqual({ all: 3, unauthenticated: 2 });
  });

  it('refuses new connections of a full address, counts IPv6 by /64, and forgets closed ones', () => {
    const caps = new ConnectionCaps({ maxConnectionsPerAddress: 2, maxUnauthenticatedConnectionsPerAddress: 0 });
    const first = socket('2001:db8:1:2::1');
    caps.admit(first);
    caps.admit(socket('2001:db8:1:2::ffff'));
    const third = socket('2001:db8:1:2:3::9');
    caps.admit(third);
    expect(third.destroyed).toBe(true);
    const elsewhere = socket('2001:db8:1:3::1');
    caps.admit(elsewhere);
    expect(elsewhere.destroyed).toBe(false);
    first.destroy();
    const again = socket('2001:db8:1:2::2');
    caps.admit(again);
    expect(again.destroyed).toBe(false);
  });

  it('does not cap a trusted proxy, whose connections carry every client', () => {
    const caps = new ConnectionCaps(
      { maxConnectionsPerAddress: 1, maxUnauthenticatedConnectionsPerAddress: 1 },
      (address) => address === '127.0.0.1',
    );
    const sockets = Array.from({ length: 5 }, () => socket('127.0.0.1'));
    sockets.forEach((s) => caps.admit(s));
    expect(sockets.some((s) => s.destroyed)).toBe(false);
    expect(caps.countFor('127.0.0.1').all).toBe(0);
  });
});
