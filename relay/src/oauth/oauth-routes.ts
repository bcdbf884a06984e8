import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  MAX_OAUTH_APPROVAL_SECONDS,
  categorySchema,
  errorValue,
  idSchema,
  invalidArgs,
  type ToolErrorValue,
} from '@tether/shared';
import { addressKey, retryAfterSeconds } from '../http/rate-limiter.js';
import { LocalLimits, type SharedLimits } from '../http/shared-limits.js';
import { sendError } from '../http/platform-routes.js';
import type { RelayServices } from '../services.js';
import { consentPage, donePage, errorPage, orgFormPage, type Page } from './authorize-page.js';
import { OAuthError, isMetadataClientId, registerClient } from './oauth-clients.js';
import { OAUTH_REQUEST_WINDOW_MS, OAUTH_REQUESTS_PER_ADDRESS } from './oauth-limits.js';
import {
  AUTHORIZATION_SERVER_PATH,
  OAUTH_PATHS,
  ORG_MCP_PATH,
  PROTECTED_RESOURCE_PREFIX,
  authorizationServerMetadata,
  protectedResourceMetadata,
  resourceOfPath,
} from './oauth-metadata.js';
import { consentOf, redirectHostOf, type AuthorizeParams, type OAuthService } from './oauth-service.js';
import type { Store } from '../store/store.js';

/** The relay's public origin for a request: `publicUrl` when configured, else what the client reached (Host, protocol). */
export type IssuerOf = (request: FastifyRequest) => string;

/** An issuer function: the configured public URL, or the request's own origin (proxies trusted per --trust-proxy). */
export function issuerFunction(publicUrl: string | undefined): IssuerOf {
  if (publicUrl !== undefined) {
    const origin = new URL(publicUrl).origin;
    return () => origin;
  }
  return (request) => `${request.protocol}://${request.host}`;
}

/** The query parameters of an authorization request (also documented in /openapi.json from this list). */
export const AUTHORIZE_KEYS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'code_challenge',
  'code_challenge_method',
  'state',
  'scope',
  'resource',
] as const;

/** The authorize parameters (strings only; a repeated one is taken as absent, which fails its check). */
function authorizeParams(source: unknown): AuthorizeParams {
  const params: AuthorizeParams = {};
  const record = (source ?? {}) as Record<string, unknown>;
  for (const key of AUTHORIZE_KEYS) {
    const value = record[key];
    if (typeof value === 'string' && value.length <= 4000) params[key] = value;
  }
  return params;
}

function sendPage(reply: FastifyReply, p: Page): FastifyReply {
  return reply.code(p.status).headers(p.headers).send(p.body);
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Endpoints browser-based MCP clients call across origins (metadata, registration, token, revocation). */
function allowCors(reply: FastifyReply): void {
  reply.header('access-control-allow-origin', '*');
  reply.header('access-control-allow-headers', 'authorization, content-type, mcp-protocol-version');
  reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
}

function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  return reply.code(err.status).header('cache-control', 'no-store').send(err.toJSON());
}

/** The body of a form or JSON POST, as strings (RFC 6749 §3.2: form-encoded; a repeated parameter is refused). */
function formBody(body: unknown): Record<string, string | undefined> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object') throw new OAuthError('invalid_request', 'the body must be form-encoded');
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(v)) throw new OAuthError('invalid_request', `the parameter ${k} is repeated`);
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

const approveSchema = z.strictObject({
  shortCode: z.string().min(1).max(32),
  runtimeIds: z.array(idSchema).min(1).max(1000),
  categories: z.array(categorySchema).min(1).max(3),
  ttlSeconds: z.number().int().min(60).max(MAX_OAUTH_APPROVAL_SECONDS),
});

/**
 * The relay as OAuth 2.1 authorization server for its MCP URLs: metadata (RFC 9728, RFC 8414),
 * registration (RFC 7591), the authorize page, token and revocation endpoints, and the admin
 * API under `/v1/oauth` (platform keys only; authenticated by the access guard like every `/v1` route).
 */
export function registerOAuthRoutes(
  app: FastifyInstance,
  deps: {
    oauth: OAuthService;
    services: RelayServices;
    store: Store;
    issuerOf: IssuerOf;
    /** Where the per-address budget is counted (Redis in a cluster: one budget over every node). */
    sharedLimits?: SharedLimits;
  },
): void {
  const { oauth, issuerOf } = deps;
  const perAddress = (deps.sharedLimits ?? new LocalLimits()).counter(
    'oauth-address',
    OAUTH_REQUESTS_PER_ADDRESS,
    OAUTH_REQUEST_WINDOW_MS,
  );
  const limited = async (request: FastifyRequest, reply: FastifyReply): Promise<number> => {
    const wait = await perAddress.hit(addressKey(request.ip));
    if (wait > 0) reply.header('retry-after', String(retryAfterSeconds(wait)));
    return wait;
  };

  // Form posts: the token, revocation and org form endpoints (RFC 6749 §3.2).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const params = new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'));
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of params) {
      const seen = out[k];
      out[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
    }
    done(null, out);
  });

  // ---- metadata ----
  // Any well-formed runtime id gets its metadata: answering 404 for unknown ones would tell which exist.
  const prm = (request: FastifyRequest, reply: FastifyReply, path: string) => {
    const target = resourceOfPath(path);
    if (!target) return sendError(reply, errorValue('not_found', 'no such resource'));
    allowCors(reply);
    return reply.send(protectedResourceMetadata(issuerOf(request), target));
  };
  app.get(`${PROTECTED_RESOURCE_PREFIX}${ORG_MCP_PATH}`, (request, reply) => prm(request, reply, ORG_MCP_PATH));
  app.get<{ Params: { id: string } }>(`${PROTECTED_RESOURCE_PREFIX}/v1/runtimes/:id/mcp`, (request, reply) =>
    prm(request, reply, `/v1/runtimes/${encodeURIComponent(request.params.id)}/mcp`),
  );
  app.get(AUTHORIZATION_SERVER_PATH, async (request, reply) => {
    allowCors(reply);
    return authorizationServerMetadata(issuerOf(request));
  });
  for (const path of [
    `${PROTECTED_RESOURCE_PREFIX}${ORG_MCP_PATH}`,
    `${PROTECTED_RESOURCE_PREFIX}/v1/runtimes/:id/mcp`,
    AUTHORIZATION_SERVER_PATH,
    OAUTH_PATHS.register,
    OAUTH_PATHS.token,
    OAUTH_PATHS.revoke,
  ])
    app.options(path, async (_request, reply) => {
      allowCors(reply);
      return reply.code(204).send();
    });

  // ---- registration (RFC 7591) ----
  app.post(OAUTH_PATHS.register, async (request, reply) => {
    allowCors(reply);
    if ((await limited(request, reply)) > 0)
      return sendOAuthError(
        reply,
        new OAuthError('temporarily_unavailable', 'too many registrations from this address', 429),
      );
    try {
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await registerClient(deps.store, request.body));
    } catch (err) {
      if (err instanceof OAuthError) return sendOAuthError(reply, err);
      throw err;
    }
  });

  // ---- authorize ----
  const authorize = async (request: FastifyRequest, reply: FastifyReply, source: unknown, orgSlug?: string) => {
    if ((await limited(request, reply)) > 0)
      return sendPage(reply, errorPage(429, 'Too many requests from this address; try again later.'));
    const params = authorizeParams(source);
    const issuer = issuerOf(request);
    const outcome = await oauth.authorize(issuer, params, orgSlug);
    switch (outcome.kind) {
      case 'error-page':
        return sendPage(reply, errorPage(400, outcome.message));
      case 'redirect':
        return reply.code(302).header('location', outcome.location).header('cache-control', 'no-store').send();
      case 'need-org':
        return sendPage(reply, orgFormPage({ ...params }, outcome.client.clientName, outcome.problem));
      case 'consent': {
        const id = outcome.request.id;
        const secure = issuer.startsWith('https:') ? '; Secure' : '';
        reply.header(
          'set-cookie',
          `tether_oauth=${outcome.browserSecret}; Path=${OAUTH_PATHS.authorize}/${id}; HttpOnly; SameSite=Lax; Max-Age=900${secure}`,
        );
        return reply
          .code(303)
          .header('location', `${OAUTH_PATHS.authorize}/${id}`)
          .header('cache-control', 'no-store')
          .send();
      }
    }
  };
  app.get(OAUTH_PATHS.authorize, (request, reply) => authorize(request, reply, request.query));
  app.post(OAUTH_PATHS.authorize, (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    return authorize(request, reply, body, typeof body.org === 'string' ? body.org.slice(0, 100) : '');
  });
  app.get<{ Params: { id: string } }>(`${OAUTH_PATHS.authorize}/:id`, async (request, reply) => {
    const outcome = await oauth.poll(issuerOf(request), request.params.id, cookieOf(request, 'tether_oauth'));
    if (outcome.kind === 'unknown')
      return sendPage(reply, errorPage(404, 'There is no such request in this browser (it may have expired).'));
    if (outcome.kind === 'done') return sendPage(reply, donePage());
    if (outcome.kind === 'redirect')
      return reply.code(302).header('location', outcome.location).header('cache-control', 'no-store').send();
    const r = outcome.request;
    return sendPage(
      reply,
      consentPage({
        shortCode: r.shortCode,
        clientName: r.clientName,
        clientId: r.clientId,
        redirectHost: redirectHostOf(r.redirectUri),
        verifiedHost: isMetadataClientId(r.clientId),
        expiresAt: r.expiresAt,
        desktopOnline: outcome.desktopOnline,
      }),
    );
  });

  // ---- token and revocation ----
  app.post(OAUTH_PATHS.token, async (request, reply) => {
    allowCors(reply);
    try {
      const tokens = await oauth.token(issuerOf(request), formBody(request.body), request.headers.authorization);
      return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(tokens);
    } catch (err) {
      if (err instanceof OAuthError) return sendOAuthError(reply, err);
      throw err;
    }
  });
  app.post(OAUTH_PATHS.revoke, async (request, reply) => {
    allowCors(reply);
    try {
      await oauth.revoke(formBody(request.body), request.headers.authorization);
      return reply.header('cache-control', 'no-store').send({});
    } catch (err) {
      if (err instanceof OAuthError) return sendOAuthError(reply, err);
      throw err;
    }
  });

  // ---- admin API (platform keys) ----
  const admin = async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = request.principal ?? (await deps.services.authenticatePlatform(request.headers.authorization));
    if (!principal) {
      sendError(reply, errorValue('unauthorized'));
      return null;
    }
    if (principal.kind !== 'platform') {
      sendError(reply, errorValue('forbidden', 'only a platform key may manage OAuth clients'));
      return null;
    }
    return principal;
  };
  const fail = (reply: FastifyReply, error: ToolErrorValue) => sendError(reply, error);

  app.get('/v1/oauth/requests', async (request, reply) => {
    const principal = await admin(request, reply);
    if (!principal) return reply;
    // Without the short code: the admin approves with the code the person reads off their page.
    const requests = (await oauth.pending(principal.orgId)).map((r) => {
      const { shortCode: _omitted, ...rest } = consentOf(r);
      return rest;
    });
    return { requests };
  });
  app.post<{ Params: { id: string } }>('/v1/oauth/requests/:id/approve', async (request, reply) => {
    const principal = await admin(request, reply);
    if (!principal) return reply;
    const body = approveSchema.safeParse(request.body ?? {});
    if (!body.success) return fail(reply, invalidArgs(body.error, 'invalid_request'));
    const result = await oauth.approve(
      { kind: 'platform', orgId: principal.orgId, keyId: principal.tokenId },
      request.params.id,
      body.data,
    );
    return result.ok ? { client: result.value } : fail(reply, result.error);
  });
  app.post<{ Params: { id: string } }>('/v1/oauth/requests/:id/deny', async (request, reply) => {
    const principal = await admin(request, reply);
    if (!principal) return reply;
    return (await oauth.deny(principal.orgId, request.params.id))
      ? { denied: true }
      : fail(reply, errorValue('not_found', 'There is no such request waiting for consent.'));
  });
  app.get('/v1/oauth/clients', async (request, reply) => {
    const principal = await admin(request, reply);
    if (!principal) return reply;
    return { clients: await oauth.list(principal.orgId) };
  });
  app.post<{ Params: { id: string } }>('/v1/oauth/clients/:id/revoke', async (request, reply) => {
    const principal = await admin(request, reply);
    if (!principal) return reply;
    return (await oauth.revokeAuthorization(principal.orgId, request.params.id))
      ? { revoked: true }
      : fail(reply, errorValue('not_found', 'There is no such approved client.'));
  });
}
