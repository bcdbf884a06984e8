import { lookup as dnsLookup } from 'node:dns';
import { request } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPublicIpAddress } from '@tether/shared';
import { CLIENT_METADATA_TIMEOUT_MS, MAX_CLIENT_METADATA_BYTES } from './oauth-limits.js';

/**
 * Reads a Client ID Metadata Document (a client_id that is an https URL): the JSON text, or a
 * thrown Error saying why not. Injectable: tests, which cannot reach the internet, pass one
 * that reads from a loopback server.
 */
export type ClientMetadataFetcher = (url: URL) => Promise<string>;

/**
 * Whether an address is one a metadata fetch must not connect to: anything not public
 * (`isPublicIpAddress`, shared with the desktop's sandbox proxy). Otherwise anyone could make
 * the relay request its own network by naming a client_id.
 */
export function isForbiddenAddress(address: string): boolean {
  return !isPublicIpAddress(address);
}

/** Knobs of `createClientMetadataFetcher`; production uses the defaults. */
export interface ClientMetadataFetcherOptions {
  /** Which resolved addresses may be connected to (default: public ones only). Tests allow loopback. */
  allowAddress?: (address: string) => boolean;
  /** Extra CA to trust (tests' self-signed certificate); default the system's. */
  ca?: string;
  maxBytes?: number;
  timeoutMs?: number;
}

/** DNS lookup that refuses names resolving to an address not allowed (checked on the address connected to: no rebinding window). */
function guardedLookup(allow: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    // Node asks for every address (`all`, to try them in turn) or one; either way all are resolved and a
    // name with any address not allowed is refused whole (one public address must not vouch for a private one).
    dnsLookup(hostname, { family: options.family ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (addresses.length === 0 || addresses.some((a) => !allow(a.address)))
        return callback(
          Object.assign(new Error(`${hostname} resolves to an address that is not public`), { code: 'EFORBIDDEN' }),
          '',
          0,
        );
      if (options.all) return (callback as (e: null, a: typeof addresses) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * A fetcher: https only, no credentials in the URL, an allowed address (by default public: checked
 * after DNS, on the socket's own lookup), no redirects (anything but 200 is refused), at most
 * `maxBytes` (MAX_CLIENT_METADATA_BYTES) within `timeoutMs` (CLIENT_METADATA_TIMEOUT_MS) for the
 * whole exchange.
 */
export function createClientMetadataFetcher(options: ClientMetadataFetcherOptions = {}): ClientMetadataFetcher {
  const allow = options.allowAddress ?? ((address: string) => !isForbiddenAddress(address));
  const maxBytes = options.maxBytes ?? MAX_CLIENT_METADATA_BYTES;
  const timeoutMs = options.timeoutMs ?? CLIENT_METADATA_TIMEOUT_MS;
  const lookup = guardedLookup(allow);
  return (url) =>
    new Promise<string>((resolve, reject) => {
      if (url.protocol !== 'https:') return reject(new Error('the client id must be an https URL'));
      if (url.username !== '' || url.password !== '')
        return reject(new Error('the client id must not carry credentials'));
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0 && !allow(host))
        return reject(new Error('the client id names an address that is not public'));
      const req = request(
        url,
        {
          method: 'GET',
          lookup,
          headers: { accept: 'application/json' },
          timeout: timeoutMs,
          // No pooled socket: every fetch does its own (guarded) lookup.
          agent: false,
          ...(options.ca !== undefined ? { ca: options.ca } : {}),
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            req.destroy();
            return reject(new Error(`the client metadata document answered HTTP ${res.statusCode ?? 0}`));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              req.destroy();
              return reject(new Error(`the client metadata document is larger than ${maxBytes} bytes`));
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', (err) => reject(new Error('reading the client metadata document failed', { cause: err })));
        },
      );
      const slow = () => req.destroy(new Error('the client metadata document took too long'));
      // The whole exchange, not only idle time, is bounded.
      const timer = setTimeout(slow, timeoutMs);
      req.on('timeout', slow);
      req.on('error', (err) =>
        reject(new Error(`fetching the client metadata document failed: ${err.message}`, { cause: err })),
      );
      req.on('close', () => clearTimeout(timer));
      req.end();
    });
}

/** The production fetcher: public addresses only, the default caps. */
export const fetchClientMetadataSafely: ClientMetadataFetcher = createClientMetadataFetcher();
