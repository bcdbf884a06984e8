import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { addressKey } from './rate-limiter.js';

/** The limits a ConnectionCaps enforces (RelayLimits). */
export interface ConnectionCapsLimits {
  /** Open TCP connections one client address may hold (0: no cap). */
  maxConnectionsPerAddress: number;
  /** Of those, connections that have not yet authenticated a request or an upgrade (0: no cap). */
  maxUnauthenticatedConnectionsPerAddress: number;
}

interface AddressEntry {
  all: Set<Socket>;
  /** Insertion order is age: the oldest unauthenticated connection goes first. */
  unauthenticated: Set<Socket>;
}

/** Which cap closed a connection (the label of a metric, and tests). */
export type ConnectionCapName = 'connections_per_address' | 'unauthenticated_connections_per_address';

/**
 * Caps on the TCP connections of one client address (IPv6: its /64), so one host cannot hold
 * the relay's sockets. A connection is unauthenticated until a request on it passes the access
 * guard or a desktop upgrade on it is accepted.
 * - Past `maxConnectionsPerAddress` a new connection is closed at once (no HTTP answer: nothing
 *   was read from it).
 * - Past `maxUnauthenticatedConnectionsPerAddress`, the address's **oldest** unauthenticated
 *   connection is closed, not the new one: a client with a valid token behind the same address
 *   (a NAT neighbour of the attacker) still gets a fresh connection in, and authenticates on its
 *   first request.
 * Connections from a trusted proxy are not capped by address (every client would share its
 * address); the proxy is where to cap them.
 */
export class ConnectionCaps {
  private readonly byAddress = new Map<string, AddressEntry>();
  private readonly keyOf = new WeakMap<Socket, string>();

  constructor(
    private readonly limits: ConnectionCapsLimits,
    private readonly isTrustedProxy: (address: string) => boolean = () => false,
    private readonly onCapped?: (cap: ConnectionCapName) => void,
  ) {}

  /** Watches the server's new connections (`secureConnection` for TLS: the socket requests see). */
  attach(server: Server, secure: boolean): void {
    server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => this.admit(socket));
  }

  /** Counts a new connection, or closes it (or an older one) over a cap. */
  admit(socket: Socket): void {
    const address = socket.remoteAddress;
    if (address === undefined || this.isTrustedProxy(address)) return;
    const { maxConnectionsPerAddress: maxAll, maxUnauthenticatedConnectionsPerAddress: maxUnauth } = this.limits;
    if (maxAll === 0 && maxUnauth === 0) return;
    const key = addressKey(address);
    let entry = this.byAddress.get(key);
    if (!entry) this.byAddress.set(key, (entry = { all: new Set(), unauthenticated: new Set() }));
    if (maxAll > 0 && entry.all.size >= maxAll) {
      this.onCapped?.('connections_per_address');
      socket.destroy();
      return;
    }
    entry.all.add(socket);
    entry.unauthenticated.add(socket);
    this.keyOf.set(socket, key);
    socket.once('close', () => this.forget(socket));
    if (maxUnauth > 0 && entry.unauthenticated.size > maxUnauth) {
      const oldest = entry.unauthenticated.values().next().value!;
      this.onCapped?.('unauthenticated_connections_per_address');
      entry.unauthenticated.delete(oldest);
      oldest.destroy();
    }
  }

  /** A request or upgrade on this connection authenticated: it no longer counts as unauthenticated. */
  authenticated(socket: Socket): void {
    const key = this.keyOf.get(socket);
    if (key !== undefined) this.byAddress.get(key)?.unauthenticated.delete(socket);
  }

  /** Open connections counted for an address (tests). */
  countFor(address: string): { all: number; unauthenticated: number } {
    const entry = this.byAddress.get(addressKey(address));
    return { all: entry?.all.size ?? 0, unauthenticated: entry?.unauthenticated.size ?? 0 };
  }

  private forget(socket: Socket): void {
    const key = this.keyOf.get(socket);
    if (key === undefined) return;
    const entry = this.byAddress.get(key);
    if (!entry) return;
    entry.all.delete(socket);
    entry.unauthenticated.delete(socket);
    if (entry.all.size === 0) this.byAddress.delete(key);
  }
}
