import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorValue, type ToolErrorValue } from '@tether/shared';
import { audienceMatches, bearerChallenge, resourceOfPath } from '../oauth/oauth-metadata.js';
import type { RelayLimits } from '../relay-limits.js';
import type { Principal, RelayServices } from '../services.js';
import { sendError } from './platform-routes.js';
import { addressKey, retryAfterSeconds } from './rate-limiter.js';
import { LocalLimits, type HitCounter, type SharedLimits } from './shared-limits.js';

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
  /** Told of every `/v1` request whose credential passed (its connection is an authenticated one). */
  onAuthenticated?: (req: IncomingMessage) => void;
  /**
   * The client's address of a desktop upgrade (see `clientAddressOf`): the TCP peer unless
   * proxies are trusted. Fastify's `request.ip` follows the same trust for HTTP routes.
   */
  clientAddress?: (req: IncomingMessage) => string | undefined;
  /** The relay's public origin for a request (OAuth issuer): named in the 401 challenge at MCP URLs. */
  issuerOf?: (request: FastifyRequest) => string;
  /** Where the budgets are counted: this process by default; Redis for a cluster (one budget over every node). */
  sharedLimits?: SharedLimits;
}

/** Whether a socket's peer address is this machine. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\./i.test(address);
}

/** Whether an Authorization header carries anything at all (a missing token is not a guess). */
function presentsToken(authorization: string | undefined): boolean {
  return authorization !== undefined && authorization.replace(/^\s*Bearer\b/i, '').trim() !== '';
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
 *   together; past that its refused tokens are answered 429 instead of 401, so guessing learns
 *   nothing until the window ends. The token is always checked first (the token cache answers
 *   a recently verified one without the store): a valid credential is never locked out by
 *   what others sent from its address, and a request with no token at all is not counted.
 * Over a limit: 429 `rate_limited` with `Retry-After` (seconds). The budgets are per relay
 * process, or, in a cluster, one over every node, counted in Redis (see RedisLimits for what a
 * node does while Redis is away).
 */
export class AccessGuard {
  private readonly credentials: HitCounter;
  private readonly authFailures: HitCounter;
  private readonly metricsTokenHash: Buffer | null;

  constructor(private readonly options: AccessGuardOptions) {
    const { limits } = options;
    const shared = options.sharedLimits ?? new LocalLimits();
    this.credentials = shared.counter('credential', limits.credentialRequestsPerWindow, limits.credentialWindowMs);
    this.authFailures = shared.counter('auth-failures', limits.authFailuresPerWindow, limits.authFailureWindowMs);
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
      // The token first (a Map lookup in the token cache when it was verified lately): a valid
      // credential always gets through, whatever others sent from its address (a NAT neighbour).
      const principal = await services.authenticatePlatform(request.headers.authorization);
      const path = request.url.split('?')[0]!;
      const mcpResource = resourceOfPath(path) !== null;
      if (!principal) {
        // The connection ends with the answer: a refused client's body (perhaps trickled to
        // hold the socket) is not read to its end, and the socket is not kept for another try.
        reply.header('connection', 'close');
        const locked = await this.failedAuthentication(request.ip, request.headers.authorization);
        if (locked > 0) return this.refuse(reply, 'auth_failures', locked);
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
        await this.authFailures.hit(addressKey(request.ip));
        if (this.options.issuerOf)
          reply.header('www-authenticate', bearerChallenge(this.options.issuerOf(request), path, 'invalid_token'));
        return sendError(reply, errorValue('unauthorized', 'this access token was issued for another resource'));
      }
      // A key and the grants it minted share one budget: minting grants does not multiply it.
      const wait = await this.credentials.hit(principal.keyId);
      if (wait > 0) return this.refuse(reply, 'credential', wait);
      request.principal = principal;
      this.options.onAuthenticated?.(request.raw);
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
  async admitMetrics(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
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
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(request.headers.authorization ?? '');
    if (match && timingSafeEqual(sha256(match[1]!), this.metricsTokenHash)) return true;
    const locked = await this.failedAuthentication(request.ip, request.headers.authorization);
    if (locked > 0) {
      this.refuse(reply, 'auth_failures', locked);
      return false;
    }
    sendError(reply, errorValue('unauthorized', 'the metrics token is required'));
    return false;
  }

  /**
   * A desktop upgrade refused for its token (DesktopHub's `onUnauthorized`): counts it against
   * the client's address, and past the limit answers 429 (with Retry-After) itself and drops
   * the socket. True when it answered; false leaves the 401 to the hub.
   */
  async upgradeUnauthorized(req: IncomingMessage, socket: Duplex): Promise<boolean> {
    const locked = await this.failedAuthentication(this.clientAddress(req), req.headers.authorization);
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

  /**
   * After a token was refused: 0 when the answer is a plain 401, else the ms the address stays
   * refused (429). A request without any token is not a guess (a web page or a health probe
   * sends none) and is not counted; one with a token counts, and past `authFailuresPerWindow`
   * the address's failures get 429, which says nothing about the token.
   */
  private async failedAuthentication(address: string | undefined, authorization: string | undefined): Promise<number> {
    return presentsToken(authorization) ? this.authFailures.hit(addressKey(address)) : 0;
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
