import { randomBytes } from 'node:crypto';
import {
  OAUTH_ACCESS_TOKEN_TTL_SECONDS,
  OAUTH_CODE_TTL_SECONDS,
  OAUTH_CONSENT_TTL_SECONDS,
  TOOL_NAMES,
  TOOLS,
  errorValue,
  type Category,
  type OAuthAuthorization,
  type OAuthConsent,
  type Result,
} from '@tether/shared';
import type { Bus } from '../bus/bus.js';
import type { OAuthAuthorizationRecord, OAuthRequestRecord, Store } from '../store/store.js';
import { generateToken, hashToken, newId } from '../tokens.js';
import type { ClientMetadataFetcher } from './client-metadata-fetcher.js';
import {
  OAuthError,
  authenticateClient,
  redirectUriMatches,
  redirectUriProblem,
  resolveClient,
  type ResolvedClient,
} from './oauth-clients.js';
import { MAX_PENDING_OAUTH_REQUESTS, OAUTH_EXPIRED_KEEP_MS } from './oauth-limits.js';
import { categoriesOfScope, parseResource, resourceUrl, type ResourceTarget } from './oauth-metadata.js';
import { isS256Challenge, newShortCode, sameShortCode, verifiesChallenge } from './pkce.js';

/** Refresh tokens are not bearer credentials of the API: their own prefix, which no route accepts. */
const REFRESH_PREFIX = 'trt_';
/** Authorization codes, likewise. */
const CODE_PREFIX = 'tac_';

/** An authorize request as the client sent it (query parameters of RFC 6749 §4.1.1). */
export interface AuthorizeParams {
  response_type?: string;
  client_id?: string;
  redirect_uri?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  state?: string;
  scope?: string;
  resource?: string;
}

/**
 * What the authorize step decided. `error-page`: the client or redirect URI cannot be trusted,
 * so the person sees the error and is not sent anywhere; `redirect`: the error goes back to the
 * client; `need-org`: an org-wide resource, the person names their org; `consent`: waiting.
 */
export type AuthorizeOutcome =
  | { kind: 'error-page'; message: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'need-org'; client: ResolvedClient; problem?: string }
  | { kind: 'consent'; request: OAuthRequestRecord; browserSecret: string };

/** Who approves: a connected desktop (its own workspaces only) or an org admin with a platform key. */
export type Approver =
  | { kind: 'device'; orgId: string; deviceId: string; runtimeIdOf(workspaceId: string): string | undefined }
  | { kind: 'platform'; orgId: string; keyId: string };

/** The person's (or admin's) choice. A device names workspaces, an admin names runtimes. */
export interface ApprovalChoice {
  shortCode: string;
  workspaceIds?: string[];
  runtimeIds?: string[];
  categories: Category[];
  ttlSeconds: number;
}

/** A token response of RFC 6749 §5.1. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** What the service needs from the rest of the relay. */
export interface OAuthServiceDeps {
  store: Store;
  bus: Bus;
  fetchClientMetadata: ClientMetadataFetcher;
  /** Access tokens revoked: not trusted from any cache any more (this node and, over the bus, the others). */
  onTokensRevoked(tokenIds: string[]): Promise<void>;
  accessTokenTtlSeconds?: number;
  now?: () => number;
}

/** The host of a redirect URI, as the person should recognise it (a scheme for a native app). */
export function redirectHostOf(uri: string): string {
  try {
    const url = new URL(uri);
    return url.host !== '' ? url.host : url.protocol.replace(/:$/, '');
  } catch {
    return '';
  }
}

/** The tools of some categories. */
export function toolsOfCategories(categories: readonly Category[]): Array<(typeof TOOL_NAMES)[number]> {
  return TOOL_NAMES.filter((t) => categories.includes(TOOLS[t].category));
}

/** What the desktop is shown of a request. */
export function consentOf(r: OAuthRequestRecord): OAuthConsent {
  return {
    requestId: r.id,
    clientId: r.clientId.slice(0, 2000),
    clientName: r.clientName,
    redirectHost: redirectHostOf(r.redirectUri).slice(0, 300),
    shortCode: r.shortCode,
    runtimeId: r.runtimeId,
    requestedCategories: r.requestedCategories,
    createdAt: Date.parse(r.createdAt),
    expiresAt: Date.parse(r.expiresAt),
  };
}

/** What everyone is shown of an approved client. */
export function authorizationView(a: OAuthAuthorizationRecord): OAuthAuthorization {
  return {
    id: a.id,
    clientId: a.clientId.slice(0, 2000),
    clientName: a.clientName,
    redirectHost: redirectHostOf(a.redirectUri).slice(0, 300),
    runtimeIds: a.runtimeIds,
    categories: a.categories,
    approvedBy: a.approvedBy,
    createdAt: a.createdAt,
    expiresAt: a.expiresAt,
  };
}

function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * The relay's OAuth 2.1 authorization server for its MCP URLs (docs/relay.md, OAuth): authorize
 * requests wait for the person's consent on a desktop of the org (or an admin's, with a platform
 * key); an approval becomes an authorization limited to what was chosen, whose access tokens are
 * grants bound to one resource, refreshed with rotating refresh tokens.
 */
export class OAuthService {
  private readonly store: Store;
  private readonly now: () => number;
  private readonly accessTtl: number;

  constructor(private readonly deps: OAuthServiceDeps) {
    this.store = deps.store;
    this.now = deps.now ?? Date.now;
    this.accessTtl = deps.accessTokenTtlSeconds ?? OAUTH_ACCESS_TOKEN_TTL_SECONDS;
  }

  /** Step 1: checks an authorize request and, when it can wait for consent, records it and asks the org's desktops. */
  async authorize(issuer: string, p: AuthorizeParams, orgSlug?: string): Promise<AuthorizeOutcome> {
    if (!p.client_id) return { kind: 'error-page', message: 'The request names no client (client_id is missing).' };
    let client: ResolvedClient | null;
    try {
      client = await resolveClient(this.store, this.deps.fetchClientMetadata, p.client_id);
    } catch (err) {
      return { kind: 'error-page', message: `The client's metadata cannot be used: ${(err as Error).message}.` };
    }
    if (!client) return { kind: 'error-page', message: 'This client is not registered with this relay.' };
    // Exact match (OAuth 2.1 §4.1.1), but for the port of a loopback URI: no prefix, no wildcard.
    // A client registered with one URI may omit it.
    const redirectUri = p.redirect_uri ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
    if (
      redirectUri === undefined ||
      !client.redirectUris.some((r) => redirectUriMatches(r, redirectUri)) ||
      redirectUriProblem(redirectUri)
    )
      return { kind: 'error-page', message: 'The redirect URI is not one registered for this client.' };
    const back = (error: string, description: string): AuthorizeOutcome => ({
      kind: 'redirect',
      location: withQuery(redirectUri, { error, error_description: description, state: p.state, iss: issuer }),
    });
    if (p.response_type !== 'code') return back('unsupported_response_type', 'only response_type=code is supported');
    if (p.code_challenge_method !== 'S256' || !p.code_challenge || !isS256Challenge(p.code_challenge))
      return back('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    if (p.state !== undefined && p.state.length > 1000) return back('invalid_request', 'state is too long');
    // Without a resource indicator (claude.ai's connector sends none) the token is for this relay's MCP
    // URLs, limited to the runtimes the person chooses; the org is asked for, as for /v1/mcp.
    const target = p.resource ? parseResource(issuer, p.resource) : null;
    if (p.resource && !target) return back('invalid_target', 'the resource is not an MCP URL of this relay');

    let orgId: string;
    let runtimeId: string | null = null;
    if (target?.kind === 'runtime') {
      const runtime = await this.store.getRuntime(target.runtimeId);
      if (!runtime || runtime.state === 'archived') return back('invalid_target', 'there is no such runtime');
      orgId = runtime.orgId;
      runtimeId = runtime.id;
    } else {
      // A relay with one org (npm start, a self-hosted single tenant) need not ask which.
      const only = orgSlug === undefined ? await this.store.onlyOrg() : null;
      if (orgSlug === undefined && !only) return { kind: 'need-org', client };
      const org = only ?? (await this.store.getOrgBySlug(orgSlug!.trim()));
      if (!org) return { kind: 'need-org', client, problem: 'There is no organization by that name on this relay.' };
      orgId = org.id;
    }
    const now = this.now();
    if ((await this.store.countPendingOAuthRequests(new Date(now).toISOString())) >= MAX_PENDING_OAUTH_REQUESTS)
      return back('temporarily_unavailable', 'too many requests are waiting for consent; try again later');

    const browserSecret = randomBytes(32).toString('base64url');
    const request: OAuthRequestRecord = {
      id: newId('oar_'),
      browserHash: hashToken(browserSecret),
      shortCode: newShortCode(),
      orgId,
      clientId: client.clientId,
      clientName: client.clientName,
      redirectUri,
      state: p.state ?? null,
      codeChallenge: p.code_challenge,
      resource: target ? resourceUrl(issuer, target) : '',
      runtimeId,
      requestedCategories: categoriesOfScope(p.scope),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + OAUTH_CONSENT_TTL_SECONDS * 1000).toISOString(),
      status: 'pending',
      authorizationId: null,
    };
    await this.store.insertOAuthRequest(request);
    await this.deps.bus.broadcast({ kind: 'oauth-consent', orgId, consent: consentOf(request) });
    return { kind: 'consent', request, browserSecret };
  }

  /**
   * Step 3, the browser's page asking how its request stands. Only the browser holding the
   * request's secret (a cookie) learns it; an approved request is answered once with a fresh
   * code (the code exists only from then on, for OAUTH_CODE_TTL_SECONDS).
   */
  async poll(
    issuer: string,
    requestId: string,
    browserSecret: string | undefined,
  ): Promise<
    | { kind: 'unknown' }
    | { kind: 'pending'; request: OAuthRequestRecord; desktopOnline: boolean }
    | { kind: 'redirect'; location: string }
    | { kind: 'done' }
  > {
    const request = await this.store.getOAuthRequest(requestId);
    if (!request || browserSecret === undefined || hashToken(browserSecret) !== request.browserHash)
      return { kind: 'unknown' };
    const back = (params: Record<string, string>) => ({
      kind: 'redirect' as const,
      location: withQuery(request.redirectUri, { ...params, state: request.state ?? undefined, iss: issuer }),
    });
    if (request.status === 'denied') return back({ error: 'access_denied', error_description: 'the person declined' });
    if (request.status === 'collected') return { kind: 'done' };
    if (request.status === 'approved') {
      if (!(await this.store.collectOAuthRequest(request.id))) return { kind: 'done' };
      const code = CODE_PREFIX + randomBytes(32).toString('base64url');
      await this.store.insertOAuthCode({
        hash: hashToken(code),
        authorizationId: request.authorizationId!,
        clientId: request.clientId,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        resource: request.resource,
        expiresAt: new Date(this.now() + OAUTH_CODE_TTL_SECONDS * 1000).toISOString(),
        usedAt: null,
      });
      return back({ code });
    }
    if (Date.parse(request.expiresAt) <= this.now())
      return back({ error: 'access_denied', error_description: 'nobody approved the request in time' });
    // Whether any desktop of the org is connected (one of its runtimes is live): else the page says so.
    const live = (await this.store.listRuntimes(request.orgId)).some(
      (r) => r.state !== 'stopped' && r.state !== 'archived',
    );
    return { kind: 'pending', request, desktopOnline: live };
  }

  /** The pending requests of an org (for a desktop saying hello, and the admin API). */
  async pending(orgId: string): Promise<OAuthRequestRecord[]> {
    return this.store.listPendingOAuthRequests(orgId, new Date(this.now()).toISOString());
  }

  /**
   * Step 2: the person approved. Checks the short code, then narrows to what the approver may
   * give: a device only its own announced workspaces, an admin only runtimes of its org, and for a
   * per-runtime resource only that runtime. Mints nothing yet: the browser collects a code.
   */
  async approve(approver: Approver, requestId: string, choice: ApprovalChoice): Promise<Result<OAuthAuthorization>> {
    const request = await this.store.getOAuthRequest(requestId);
    const nowMs = this.now();
    if (!request || request.orgId !== approver.orgId)
      return { ok: false, error: errorValue('not_found', 'There is no such request waiting for consent.') };
    if (request.status !== 'pending' || Date.parse(request.expiresAt) <= nowMs)
      return { ok: false, error: errorValue('conflict', 'The request was settled already or has expired.') };
    if (!sameShortCode(choice.shortCode, request.shortCode))
      return {
        ok: false,
        error: errorValue('short_code_mismatch', 'The code does not match the one the authorize page shows.'),
      };
    let runtimeIds: string[];
    if (approver.kind === 'device') {
      runtimeIds = [];
      for (const workspaceId of new Set(choice.workspaceIds ?? [])) {
        const runtimeId = approver.runtimeIdOf(workspaceId);
        if (runtimeId === undefined)
          return {
            ok: false,
            error: errorValue('not_found', `This device has no workspace ${workspaceId} connected.`),
          };
        runtimeIds.push(runtimeId);
      }
    } else {
      runtimeIds = [...new Set(choice.runtimeIds ?? [])];
      for (const id of runtimeIds) {
        const runtime = await this.store.getRuntime(id);
        if (!runtime || runtime.orgId !== approver.orgId)
          return { ok: false, error: errorValue('not_found', `no such runtime: ${id}`, { runtimeId: id }) };
      }
    }
    if (runtimeIds.length === 0)
      return { ok: false, error: errorValue('invalid_request', 'Choose at least one workspace.') };
    if (request.runtimeId !== null && (runtimeIds.length !== 1 || runtimeIds[0] !== request.runtimeId))
      return {
        ok: false,
        error: errorValue('forbidden', "The client asked for one runtime's MCP URL: only that runtime may be given."),
      };
    const categories = [...new Set(choice.categories)];
    const authorization: OAuthAuthorizationRecord = {
      id: newId('oau_'),
      orgId: request.orgId,
      clientId: request.clientId,
      clientName: request.clientName,
      redirectUri: request.redirectUri,
      resource: request.resource,
      runtimeIds,
      categories,
      tools: toolsOfCategories(categories),
      approvedBy: approver.kind === 'device' ? approver.deviceId : `platform:${approver.keyId}`,
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: new Date(nowMs + choice.ttlSeconds * 1000).toISOString(),
      revokedAt: null,
    };
    const settled = await this.store.settleOAuthRequest(request.id, new Date(nowMs).toISOString(), {
      status: 'approved',
      authorization,
    });
    if (!settled)
      return { ok: false, error: errorValue('conflict', 'The request was settled already or has expired.') };
    await this.announceSettled(request, 'approved');
    return { ok: true, value: authorizationView(authorization) };
  }

  /** The person declined: the browser is sent back with `access_denied`. */
  async deny(orgId: string, requestId: string): Promise<boolean> {
    const request = await this.store.getOAuthRequest(requestId);
    if (!request || request.orgId !== orgId) return false;
    if (!(await this.store.settleOAuthRequest(request.id, new Date(this.now()).toISOString(), { status: 'denied' })))
      return false;
    await this.announceSettled(request, 'denied');
    return true;
  }

  private async announceSettled(request: OAuthRequestRecord, outcome: 'approved' | 'denied'): Promise<void> {
    await this.deps.bus.broadcast({
      kind: 'oauth-consent-closed',
      orgId: request.orgId,
      requestId: request.id,
      outcome,
    });
    if (outcome === 'approved') await this.deps.bus.broadcast({ kind: 'oauth-changed', orgId: request.orgId });
  }

  /** Approved clients of an org, neither revoked nor expired. */
  async list(orgId: string): Promise<OAuthAuthorization[]> {
    return (await this.store.listOAuthAuthorizations(orgId, new Date(this.now()).toISOString())).map(authorizationView);
  }

  /** Revokes an approved client of the org with every token it holds; false when there is none to revoke. */
  async revokeAuthorization(orgId: string, authorizationId: string): Promise<boolean> {
    const authorization = await this.store.getOAuthAuthorization(authorizationId);
    if (!authorization || authorization.orgId !== orgId) return false;
    return this.revokeFamily(authorization);
  }

  private async revokeFamily(authorization: OAuthAuthorizationRecord): Promise<boolean> {
    const tokenIds = await this.store.revokeOAuthAuthorization(authorization.id, new Date(this.now()).toISOString());
    if (tokenIds === null) return false;
    await this.deps.onTokensRevoked(tokenIds);
    await this.deps.bus.broadcast({ kind: 'oauth-changed', orgId: authorization.orgId });
    return true;
  }

  /** The token endpoint (RFC 6749 §3.2): the authorization_code and refresh_token grants. Throws OAuthError. */
  async token(
    issuer: string,
    params: Record<string, string | undefined>,
    authorization?: string,
  ): Promise<TokenResponse> {
    if (params.grant_type !== 'authorization_code' && params.grant_type !== 'refresh_token')
      throw new OAuthError('unsupported_grant_type', 'only authorization_code and refresh_token are supported');
    const p: Record<string, string | undefined> = {
      ...params,
      client_id: await authenticateClient(this.store, params, authorization),
    };
    if (p.grant_type === 'authorization_code') return this.exchangeCode(issuer, p);
    if (p.grant_type === 'refresh_token') return this.refresh(issuer, p);
    throw new OAuthError('unsupported_grant_type', 'only authorization_code and refresh_token are supported');
  }

  private async exchangeCode(issuer: string, p: Record<string, string | undefined>): Promise<TokenResponse> {
    if (!p.code || !p.client_id || !p.code_verifier || !p.redirect_uri)
      throw new OAuthError('invalid_request', 'code, client_id, redirect_uri and code_verifier are required');
    const nowMs = this.now();
    const code = await this.store.useOAuthCode(hashToken(p.code), new Date(nowMs).toISOString());
    if (!code) throw new OAuthError('invalid_grant', 'the code is not valid');
    const authorization = await this.store.getOAuthAuthorization(code.authorizationId);
    if (code.usedAt !== null) {
      // A code used twice was intercepted (or replayed): the tokens it gave are not to be trusted (OAuth 2.1 §4.1.3).
      if (authorization) await this.revokeFamily(authorization);
      throw new OAuthError('invalid_grant', 'the code was used already');
    }
    if (Date.parse(code.expiresAt) <= nowMs) throw new OAuthError('invalid_grant', 'the code has expired');
    if (code.clientId !== p.client_id) throw new OAuthError('invalid_grant', 'the code was issued to another client');
    if (code.redirectUri !== p.redirect_uri) throw new OAuthError('invalid_grant', 'the redirect_uri does not match');
    if (!verifiesChallenge(p.code_verifier, code.codeChallenge))
      throw new OAuthError('invalid_grant', 'the code_verifier does not match the code_challenge');
    const audience = this.audienceOf(issuer, code.resource, p.resource);
    if (!authorization || !this.live(authorization, nowMs))
      throw new OAuthError('invalid_grant', 'the authorization was revoked or has expired');
    return this.issue(authorization, nowMs, audience);
  }

  private async refresh(issuer: string, p: Record<string, string | undefined>): Promise<TokenResponse> {
    if (!p.refresh_token || !p.client_id)
      throw new OAuthError('invalid_request', 'refresh_token and client_id are required');
    const nowMs = this.now();
    const refresh = await this.store.useOAuthRefresh(hashToken(p.refresh_token), new Date(nowMs).toISOString());
    if (!refresh) throw new OAuthError('invalid_grant', 'the refresh token is not valid');
    const authorization = await this.store.getOAuthAuthorization(refresh.authorizationId);
    if (!authorization || authorization.clientId !== p.client_id)
      throw new OAuthError('invalid_grant', 'the refresh token is not valid');
    if (refresh.usedAt !== null) {
      // Rotation: a retired refresh token came back, so two parties hold the family. Revoke it whole.
      await this.revokeFamily(authorization);
      throw new OAuthError('invalid_grant', 'the refresh token was used already; the authorization is revoked');
    }
    if (!this.live(authorization, nowMs))
      throw new OAuthError('invalid_grant', 'the authorization was revoked or has expired');
    return this.issue(authorization, nowMs, this.audienceOf(issuer, authorization.resource, p.resource));
  }

  /**
   * The audience of a new access token: the authorized resource (a token request may only repeat
   * it), or, when the authorization named none, the resource the token request names (one of this
   * relay's MCP URLs), or none: then the token is good at any MCP URL within its runtimes.
   */
  private audienceOf(issuer: string, authorized: string, requested: string | undefined): string | null {
    if (authorized !== '') {
      if (requested !== undefined && requested !== authorized)
        throw new OAuthError('invalid_target', 'the resource is not the one authorized');
      return authorized;
    }
    if (requested === undefined) return null;
    const target = parseResource(issuer, requested);
    if (!target) throw new OAuthError('invalid_target', 'the resource is not an MCP URL of this relay');
    return resourceUrl(issuer, target);
  }

  private live(a: OAuthAuthorizationRecord, nowMs: number): boolean {
    return a.revokedAt === null && Date.parse(a.expiresAt) > nowMs;
  }

  /** A new access token (a grant bound to the resource, never outliving the authorization) and refresh token. */
  private async issue(a: OAuthAuthorizationRecord, nowMs: number, audience: string | null): Promise<TokenResponse> {
    const accessToken = generateToken('grant');
    const expiresAtMs = Math.min(nowMs + this.accessTtl * 1000, Date.parse(a.expiresAt));
    await this.store.insertToken({
      id: newId('grt_'),
      orgId: a.orgId,
      kind: 'grant',
      name: `${a.clientName} (OAuth)`,
      hash: hashToken(accessToken),
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: new Date(expiresAtMs).toISOString(),
      runtimeIds: a.runtimeIds,
      tools: a.tools,
      parentId: null,
      audience,
      authorizationId: a.id,
    });
    const refreshToken = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    await this.store.insertOAuthRefresh({
      hash: hashToken(refreshToken),
      id: newId('ort_'),
      authorizationId: a.id,
      createdAt: new Date(nowMs).toISOString(),
      usedAt: null,
    });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(1, Math.floor((expiresAtMs - nowMs) / 1000)),
      refresh_token: refreshToken,
      scope: a.categories.join(' '),
    };
  }

  /**
   * RFC 7009 revocation. A refresh token revokes its whole authorization (its access tokens with
   * it, §2.1); an access token only itself. Only OAuth tokens: a platform key or a grant minted
   * with one is never revoked here. Unknown tokens are not an error (§2.2).
   */
  async revoke(params: Record<string, string | undefined>, authorizationHeader?: string): Promise<void> {
    const p: Record<string, string | undefined> = {
      ...params,
      client_id: await authenticateClient(this.store, params, authorizationHeader),
    };
    const token = p.token;
    if (!token) throw new OAuthError('invalid_request', 'token is required');
    const hash = hashToken(token);
    if (token.startsWith(REFRESH_PREFIX)) {
      const refresh = await this.store.useOAuthRefresh(hash, new Date(this.now()).toISOString());
      const authorization = refresh ? await this.store.getOAuthAuthorization(refresh.authorizationId) : null;
      if (authorization && (p.client_id === undefined || p.client_id === authorization.clientId))
        await this.revokeFamily(authorization);
      return;
    }
    const record = await this.store.findTokenByHash(hash);
    if (!record || !record.authorizationId) return;
    const authorization = await this.store.getOAuthAuthorization(record.authorizationId);
    if (p.client_id !== undefined && authorization && p.client_id !== authorization.clientId) return;
    if (await this.store.revokeToken(record.id, new Date(this.now()).toISOString()))
      await this.deps.onTokensRevoked([record.id]);
  }

  /** Housekeeping (with the call log's pruning). */
  async prune(): Promise<void> {
    const now = this.now();
    await this.store.pruneOAuth(new Date(now).toISOString(), new Date(now - OAUTH_EXPIRED_KEEP_MS).toISOString());
  }
}

export type { ResourceTarget };
