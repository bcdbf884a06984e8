import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * Which proxies in front of the relay are trusted to say who the client is (X-Forwarded-For):
 * none (the default: the TCP peer is the client), all (`true`), the nearest N hops, or the
 * proxies at these addresses / CIDRs / proxy-addr names (`loopback`, `uniquelocal`, …).
 * The same setting drives Fastify's `request.ip` and the desktop upgrade's address.
 */
export type TrustProxy = boolean | number | string[];

/** Whether the proxy at `address`, `hop` steps from the relay, is trusted; false when none is (handed to Fastify too). */
export function trustFunction(trust: TrustProxy | undefined): ((address: string, hop: number) => boolean) | false {
  if (trust === undefined || trust === false) return false;
  if (trust === true) return () => true;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return proxyaddr.compile(trust);
}

/** The client's address of a raw request (a desktop upgrade), as `request.ip` is for Fastify routes. */
export function clientAddressOf(trust: TrustProxy | undefined): (req: IncomingMessage) => string | undefined {
  const trusts = trustFunction(trust);
  if (trusts === false) return (req) => req.socket.remoteAddress;
  return (req) => (req.socket.remoteAddress === undefined ? undefined : proxyaddr(req, trusts));
}

/**
 * Parses `--trust-proxy` / TETHER_RELAY_TRUST_PROXY: `true`, `false`, a hop count, or a comma
 * list of addresses, CIDRs and proxy-addr names. Throws on anything else (a typo must not
 * silently trust every client's X-Forwarded-For).
 */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim();
  if (text === 'true') return true;
  if (text === 'false' || text === '') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const list = text.split(',').map((s) => s.trim());
  // compile() throws on an address it cannot read: check the list now, with a plain message.
  try {
    proxyaddr.compile(list);
  } catch {
    throw new Error(`--trust-proxy: not an address, CIDR or hop count: ${value}`);
  }
  return list;
}
