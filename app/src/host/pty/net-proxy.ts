import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { SANDBOX_PROXY_HEAD_BYTES, SANDBOX_PROXY_CONNECT_TIMEOUT_MS, isPublicIpAddress } from '@tether/shared';
import type { NetworkRule } from './sandbox-rules.js';

/**
 * True when a sandboxed command may connect to `address` (an IP literal): public addresses
 * only, never this machine, private networks, link-local (cloud metadata) and the rest of
 * `isPublicIpAddress`'s ranges (shared with the relay's metadata fetcher).
 */
export function isPublicAddress(address: string): boolean {
  return isPublicIpAddress(address);
}

/** True when `host` is one of `domains` (`example.com` exactly, `*.example.com` any subdomain). */
export function domainAllowed(host: string, domains: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return domains.some((d) => {
    const rule = d.toLowerCase().replace(/\.$/, '');
    if (rule.startsWith('*.')) return h.endsWith(rule.slice(1)) && h.length > rule.length - 1;
    return h === rule;
  });
}

/** Options of a NetworkProxy. */
export interface NetworkProxyOptions {
  rule: Exclude<NetworkRule, { mode: 'none' }>;
  /** Which resolved addresses may be reached; default isPublicAddress. Tests widen it to reach loopback. */
  addressAllowed?: (address: string) => boolean;
  /** Called for each refused destination (for the person's log). */
  onRefused?: (host: string, reason: string) => void;
}

/**
 * The host side of a sandbox's network: an HTTP proxy (CONNECT for TLS and anything else,
 * absolute-URI requests for plain HTTP) that a sandboxed command reaches through its only
 * way out (a unix socket bound into the sandbox, or a loopback port Seatbelt allows). It
 * resolves each destination itself, refuses loopback, private, link-local and metadata
 * addresses (and, in `domains` mode, any host not listed), and connects to the very address
 * it checked, so a DNS answer cannot change between the check and the connection.
 */
export class NetworkProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly addressAllowed: (address: string) => boolean;

  constructor(private readonly options: NetworkProxyOptions) {
    this.addressAllowed = options.addressAllowed ?? isPublicAddress;
    this.server = net.createServer((client) => this.handle(client));
  }

  /** Listens on a unix socket path, or on a loopback port when `where` is a number (0: any). */
  listen(where: string | number): Promise<string | number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = (): void => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'string' || address === null ? where : address.port);
      };
      if (typeof where === 'number') this.server.listen(where, '127.0.0.1', done);
      else this.server.listen(where, done);
    });
  }

  /** Closes the listener and every connection through it. */
  async dispose(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  private handle(client: net.Socket): void {
    this.track(client);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > SANDBOX_PROXY_HEAD_BYTES) this.refuse(client, 431, 'request head too large');
        return;
      }
      client.off('data', onData);
      client.pause();
      void this.route(client, head.subarray(0, end).toString('latin1'), head.subarray(end + 4));
    };
    client.on('data', onData);
  }

  private async route(client: net.Socket, head: string, rest: Buffer): Promise<void> {
    const [requestLine = '', ...headerLines] = head.split('\r\n');
    const [method = '', target = '', version = 'HTTP/1.1'] = requestLine.split(' ');
    let host: string;
    let port: number;
    let firstBytes: Buffer;
    if (method.toUpperCase() === 'CONNECT') {
      const parsed = splitHostPort(target, 443);
      if (!parsed) return this.refuse(client, 400, `bad CONNECT target ${target}`);
      ({ host, port } = parsed);
      firstBytes = rest;
    } else {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        return this.refuse(client, 400, 'only absolute http:// requests and CONNECT go through this proxy');
      }
      if (url.protocol !== 'http:') return this.refuse(client, 400, `${url.protocol} is not proxied; use CONNECT`);
      host = url.hostname.replace(/^\[|\]$/g, '');
      port = url.port ? Number(url.port) : 80;
      // Origin-form to the server, without the proxy's own headers; one request per connection.
      const headers = headerLines.filter((h) => !/^(proxy-[a-z-]*|connection|keep-alive)\s*:/i.test(h));
      const line = `${method} ${url.pathname}${url.search} ${version}`;
      firstBytes = Buffer.concat([
        Buffer.from([line, ...headers, 'Connection: close', '', ''].join('\r\n'), 'latin1'),
        rest,
      ]);
    }

    const refusal = await this.check(host);
    if (typeof refusal === 'string') return this.refuse(client, 403, refusal, host);

    const upstream = net.connect({ host: refusal.address, port });
    this.track(upstream);
    upstream.setTimeout(SANDBOX_PROXY_CONNECT_TIMEOUT_MS, () => {
      if (upstream.connecting) upstream.destroy();
    });
    upstream.once('error', () => {
      if (!client.destroyed) this.refuse(client, 502, `cannot reach ${host}:${port}`, host);
    });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      upstream.removeAllListeners('error');
      upstream.on('error', () => client.destroy());
      if (method.toUpperCase() === 'CONNECT') client.write(`${version} 200 Connection established\r\n\r\n`);
      if (firstBytes.length > 0) upstream.write(firstBytes);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  }

  /** The address to connect to, or why not. */
  private async check(host: string): Promise<{ address: string } | string> {
    const rule = this.options.rule;
    if (rule.mode === 'domains' && !domainAllowed(host, rule.domains)) {
      return `${host} is not among the workspace's allowed domains`;
    }
    let addresses: string[];
    if (net.isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      } catch {
        return `${host} does not resolve`;
      }
    }
    // Any blocked answer refuses the host: a name that points at this machine or the LAN is not the internet.
    const blocked = addresses.find((a) => !this.addressAllowed(a));
    if (blocked !== undefined || addresses.length === 0) {
      return `${host} is a local, private or link-local address (${blocked ?? 'none'}); sandboxed commands reach only the internet`;
    }
    return { address: addresses[0]! };
  }

  private refuse(client: net.Socket, status: number, reason: string, host?: string): void {
    if (host !== undefined) this.options.onRefused?.(host, reason);
    const body = `Tether sandbox: ${reason}\n`;
    client.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Refused'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}

function splitHostPort(target: string, defaultPort: number): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\](?::(\d+))?$|^([^:[\]]+)(?::(\d+))?$/.exec(target);
  if (!m) return null;
  const host = m[1] ?? m[3]!;
  const port = Number(m[2] ?? m[4] ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}
