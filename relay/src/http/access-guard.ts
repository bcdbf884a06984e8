import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorValue, type ToolErrorValue } from '@tether/shared';
import { audienceMatches, bearerChallenge, resourceOfPath } from '../oauth/oauth-metadata.js';
import type { RelayLimits } from '../relay-limits.js';
import type { Principal, RelayServices } from '../services.js';
import { sendError } from './platform-routes.js';
import { addressKey, RateLimiter, retryAfterSeconds } from './rate-limiter.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The platform key or grant that AccessGuard verified for a `/v1` route; null elsewhere. */
    principal: Principal | null;
  }
}

/** Which limit refused a request (the label of `tether_relay_rate_limited_total`). */
export type LimitName = 'credential' | 'auth_failures';

/** What the guard needs to know. */
export interface AccessGuardOptions {
  limits: Pick<
    RelayLimits,
    'credentialRequestsPerWindow' | 'credentialWindowMs' | 'authFailuresPerWindow' | 'authFailureWindowMs'
  >;
  /** When set, `/metrics` wants `Authorization: Bearer <it>`; when not, it is served to loopback clients only. */
  metricsToken?: string | undefined;
  /** Told of every refusal by a limit (metrics). */
  onLimited?: (limit: LimitName) => void;
  /**
   * The client's address of a desktop upgrade (see `clientAddressOf`): the TCP peer unless
   * proxies are trusted. Fastify's `request.ip` follows the same trust for HTTP routes.
   */
  clientAddress?: (req: IncomingMessage) => string | undefined;
  /** The relay's public origin for a request (OAuth issuer): named in the 401 challenge at MCP URLs. */
  issuerOf?: (request: FastifyRequest) => string;
}

/** Whether a socket's peer address is this machine. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\./i.test(address);
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The relay's abuse limits, in front of everything that checks a token:
 * - every `/v1` route (platform API and MCP) is authenticated here, once, before its body is
 *   read, and its principal left on `request.principal`;
 * - each credential (platform key or grant id) gets at most `credentialRequestsPerWindow`
 *   requests per `credentialWindowMs`, so one key's flood does not throttle another's;
 * - each client address (IPv6: its /64) gets at most `authFailuresPerWindow` refused tokens per
 *   `authFailureWindowMs`, counted over the platform API, MCP, `/metrics` and desktop upgrades
 *   together; past that its requests are answered 429 before any token is looked at, so
 *   guessing costs the store nothing and learns nothing until the window ends.
 * Over a limit: 429 `rate_limited` with `Retry-After` (seconds). Limits are per relay process.
 */
export class AccessGuard {
  private readonly credentials: RateLimiter;
  private readonly authFailures: RateLimiter;
  private readonly metricsTokenHash: Buffer | null;

  constructor(private readonly options: AccessGuardOptions) {
    const { limits } = options;
    this.credentials = new RateLimiter(limits.credentialRequestsPerWindow, limits.credentialWindowMs);
    this.authFailures = new RateLimiter(limits.authFailuresPerWindow, limits.authFailureWindowMs);
    this.metricsTokenHash = options.metricsToken !== undefined ? sha256(options.metricsToken) : null;
  }

  /**
   * Adds the `request.principal` decoration and puts the guard first in the `onRequest` hooks of
   * every `/v1` route registered after this (so it must come before the routes). Per route, not
   * a global hook: other routes (health checks, metrics) pay nothing for it.
   */
  register(app: FastifyInstance, services: Pick<RelayServices, 'authenticatePlatform'>): void {
    app.decorateRequest('principal', null);
    const guard = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      // No address has a failure on record (the usual case): nothing to look up.
      if (this.authFailures.size > 0) {
        const locked = this.authFailures.blockedFor(addressKey(request.ip));
        if (locked > 0) return this.refuse(reply, 'auth_failures', locked);
      }
      const principal = await services.authenticatePlatform(request.headers.authorization);
      const path = request.url.split('?')[0]!;
      const mcpResource = resourceOfPath(path) !== null;
      if (!principal) {
        this.authFailures.hit(addressKey(request.ip));
        // At an MCP URL the challenge says where its OAuth metadata is (RFC 9728 §5.1; MCP authorization).
        if (mcpResource && this.options.issuerOf)
          reply.header(
            'www-authenticate',
            bearerChallenge(
              this.options.issuerOf(request),
              path,
              request.headers.authorization !== undefined ? 'invalid_token' : undefined,
            ),
          );
        return sendError(reply, errorValue('unauthorized'));
      }
      // An OAuth access token is for one resource: at an MCP URL, only the one it was issued for
      // (a token for one runtime's URL is no good at another's, nor at /v1/mcp). On the REST
      // routes its grant scope (runtimes and tools) applies as to any grant.
      if (principal.audience && mcpResource && !audienceMatches(principal.audience, path)) {
        this.authFailures.hit(addressKey(request.ip));
        if (this.options.issuerOf)
          reply.header('www-authenticate', bearerChallenge(this.options.issuerOf(request), path, 'invalid_token'));
        return sendError(reply, errorValue('unauthorized', 'this access token was issued for another resource'));
      }
      // A key and the grants it minted share one budget: minting grants does not multiply it.
      const wait = this.credentials.hit(principal.keyId);
      if (wait > 0) return this.refuse(reply, 'credential', wait);
      request.principal = principal;
      return undefined;
    };
    app.addHook('onRoute', (route) => {
      if (!route.url.startsWith('/v1/')) return;
      const own =
        route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [guard, ...own];
    });
  }

  /**
   * Who may read `/metrics`: with a metrics token, whoever presents it; without one, loopback
   * clients only (a relay listening on 0.0.0.0 must not publish its counters). Answers the
   * request itself and returns false when refused.
   */
  admitMetrics(request: FastifyRequest, reply: FastifyReply): boolean {
    const address = addressKey(request.ip);
    if (this.metricsTokenHash === null) {
      // Every hop, not request.ip alone: behind a trusted proxy on this machine the TCP peer is
      // always loopback, and with every proxy trusted request.ip is the leftmost X-Forwarded-For
      // entry, which the client writes itself (the proxy appends the real address after it).
      if ((request.ips ?? [request.ip]).every(isLoopback)) return true;
      sendError(
        reply,
        errorValue(
          'forbidden',
          '/metrics is served to loopback clients only; set a metrics token to scrape it remotely',
        ),
      );
      return false;
    }
    const locked = this.authFailures.blockedFor(address);
    if (locked > 0) {
      this.refuse(reply, 'auth_failures', locked);
      return false;
    }
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(request.headers.authorization ?? '');
    if (match && timingSafeEqual(sha256(match[1]!), this.metricsTokenHash)) return true;
    this.authFailures.hit(address);
    sendError(reply, errorValue('unauthorized', 'the metrics token is required'));
    return false;
  }

  /**
   * Before a desktop upgrade is authenticated: a client address past its failure limit gets
   * 429 and the socket is dropped, without looking at the token. True when it was refused.
   */
  refuseUpgrade(req: IncomingMessage, socket: Duplex): boolean {
    const locked = this.authFailures.blockedFor(addressKey(this.clientAddress(req)));
    if (locked === 0) return false;
    this.options.onLimited?.('auth_failures');
    const body = JSON.stringify({ error: this.limitedError('auth_failures', locked) });
    socket.on('error', () => socket.destroy());
    // As ws's abortHandshake: flush the answer, then drop the socket.
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: ${retryAfterSeconds(locked)}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    return true;
  }

  /** Counts a desktop upgrade refused for its token (DesktopHub's `onUnauthorized`). */
  upgradeUnauthorized(req: IncomingMessage): void {
    this.authFailures.hit(addressKey(this.clientAddress(req)));
  }

  private clientAddress(req: IncomingMessage): string | undefined {
    return this.options.clientAddress ? this.options.clientAddress(req) : req.socket.remoteAddress;
  }

  private limitedError(limit: LimitName, waitMs: number): ToolErrorValue {
    const seconds = retryAfterSeconds(waitMs);
    return errorValue(
      'rate_limited',
      limit === 'credential'
        ? `too many requests with this token; retry in ${seconds} s`
        : `too many failed authentications from this address; retry in ${seconds} s`,
      { limit, retryAfterSeconds: seconds },
    );
  }

  private refuse(reply: FastifyReply, limit: LimitName, waitMs: number): FastifyReply {
    this.options.onLimited?.(limit);
    reply.header('retry-after', String(retryAfterSeconds(waitMs)));
    return sendError(reply, this.limitedError(limit, waitMs));
  }
}
