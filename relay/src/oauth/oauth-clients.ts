import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { MAX_NAME_CHARS, MAX_OAUTH_REDIRECT_URIS, MAX_OAUTH_URL_CHARS } from '@tether/shared';
import type { OAuthClientAuthMethod, OAuthClientRecord, Store } from '../store/store.js';
import { hashToken, newId } from '../tokens.js';
import { randomBytes } from 'node:crypto';
import type { ClientMetadataFetcher } from './client-metadata-fetcher.js';

/** An OAuth error of RFC 6749 §5.2 / RFC 7591 §3.2.2: what the token and registration endpoints answer. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

/** Schemes a redirect URI may never use: they would run or show content instead of returning to a client. */
const FORBIDDEN_SCHEMES = new Set([
  'javascript:',
  'data:',
  'file:',
  'vbscript:',
  'blob:',
  'about:',
  'ws:',
  'wss:',
  'ftp:',
]);

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Loopback hosts whose redirect URIs match on any port (RFC 8252 §7.3: a native client listens on an ephemeral one). */
const LOOPBACK_IPS = new Set(['127.0.0.1', '[::1]']);

/**
 * Whether a requested redirect URI is the registered one: the same string, except that for
 * http on a loopback IP the port may differ (RFC 8252 §7.3, OAuth 2.1 §8.4.2). Nothing else is
 * loosened: no prefix, no wildcard, no other host.
 */
export function redirectUriMatches(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  let a: URL;
  let b: URL;
  try {
    a = new URL(registered);
    b = new URL(requested);
  } catch {
    return false;
  }
  return (
    a.protocol === 'http:' &&
    b.protocol === 'http:' &&
    LOOPBACK_IPS.has(a.hostname) &&
    a.hostname === b.hostname &&
    a.pathname === b.pathname &&
    a.search === b.search &&
    b.hash === '' &&
    b.username === '' &&
    b.password === ''
  );
}

/**
 * Why a redirect URI is refused, or null when it is fine: an absolute URL without a fragment;
 * https, or http to a loopback host (native clients, RFC 8252 §7.3), or a private-use scheme of
 * a native app (`cursor://…`).
 */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > MAX_OAUTH_URL_CHARS) return 'is too long';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.hash !== '' || uri.includes('#')) return 'must not have a fragment';
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `must not use ${url.protocol}`;
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return 'must be https (http only to localhost)';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  return null;
}

/** What the authorize step needs of a client. */
export interface ResolvedClient {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  /** `metadata`: a Client ID Metadata Document (its name is vouched for by its https host); `registered`: RFC 7591. */
  kind: 'metadata' | 'registered';
}

const redirectUrisSchema = z.array(z.string().max(MAX_OAUTH_URL_CHARS)).min(1).max(MAX_OAUTH_REDIRECT_URIS);

/** The registration request of RFC 7591 §2, the fields this server uses (others are ignored). */
const registrationSchema = z.object({
  redirect_uris: redirectUrisSchema,
  client_name: z
    .string()
    .max(MAX_NAME_CHARS * 4)
    .optional(),
  token_endpoint_auth_method: z.string().max(100).optional(),
  grant_types: z.array(z.string().max(100)).max(10).optional(),
  response_types: z.array(z.string().max(100)).max(10).optional(),
  scope: z.string().max(1000).optional(),
});

/** A Client ID Metadata Document, the fields this server uses. */
const metadataDocumentSchema = z.object({
  client_id: z.string(),
  client_name: z
    .string()
    .max(MAX_NAME_CHARS * 4)
    .optional(),
  redirect_uris: redirectUrisSchema,
  token_endpoint_auth_method: z.string().max(100).optional(),
});

/** A display name: control and bidirectional characters dropped, whitespace folded, bounded. */
export function displayName(name: string | undefined, fallback: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = (name ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, '');
  const folded = clean.replace(/\s+/g, ' ').trim().slice(0, MAX_NAME_CHARS);
  return folded === '' ? fallback : folded;
}

/** Whether a client_id is a Client ID Metadata Document URL (an https URL with a path). */
export function isMetadataClientId(clientId: string): boolean {
  return clientId.startsWith('https://');
}

/** Client secrets are not API credentials: their own prefix, which no route takes as a bearer token. */
const CLIENT_SECRET_PREFIX = 'tcs_';

/** The credentials of HTTP Basic client authentication (RFC 6749 §2.3.1: each part form-urlencoded). */
function basicCredentials(authorization: string | undefined): { id: string; secret: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return null;
  const text = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  try {
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { id: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) };
  } catch {
    return null;
  }
}

/**
 * Authenticates the client at the token and revocation endpoints and returns its id: a
 * confidential client by its secret (in the body or with HTTP Basic), a public or metadata
 * document client by its id alone (PKCE and the code's binding to the client do the rest).
 * Throws `invalid_client` (401) otherwise.
 */
export async function authenticateClient(
  store: Store,
  params: Record<string, string | undefined>,
  authorization: string | undefined,
): Promise<string> {
  const basic = basicCredentials(authorization);
  if (basic && params.client_id !== undefined && params.client_id !== basic.id)
    throw new OAuthError('invalid_client', 'the client is named twice, differently', 401);
  const clientId = basic?.id ?? params.client_id;
  if (!clientId) throw new OAuthError('invalid_client', 'client_id is required', 401);
  if (isMetadataClientId(clientId)) return clientId;
  const client = await store.getOAuthClient(clientId);
  if (!client) throw new OAuthError('invalid_client', 'the client is not registered', 401);
  if (client.secretHash === null) return clientId;
  const secret = basic?.secret ?? params.client_secret;
  const given = Buffer.from(hashToken(secret ?? ''));
  const expected = Buffer.from(client.secretHash);
  if (secret === undefined || given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new OAuthError('invalid_client', 'the client secret is missing or wrong', 401);
  return clientId;
}

/** Registers a client (PKCE, no secret), RFC 7591. Returns the registration response body. */
export async function registerClient(store: Store, body: unknown): Promise<Record<string, unknown>> {
  const parsed = registrationSchema.safeParse(body ?? {});
  if (!parsed.success)
    throw new OAuthError(
      'invalid_client_metadata',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  const meta = parsed.data;
  for (const uri of meta.redirect_uris) {
    const problem = redirectUriProblem(uri);
    if (problem)
      throw new OAuthError('invalid_redirect_uri', `redirect URI ${JSON.stringify(uri.slice(0, 200))} ${problem}`);
  }
  const grants = meta.grant_types ?? ['authorization_code', 'refresh_token'];
  if (grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token'))
    throw new OAuthError(
      'invalid_client_metadata',
      'only the authorization_code and refresh_token grants are supported',
    );
  if ((meta.response_types ?? ['code']).some((r) => r !== 'code'))
    throw new OAuthError('invalid_client_metadata', 'only the code response type is supported');
  // A confidential client (claude.ai and ChatGPT register as one) gets a secret; PKCE is required of every client anyway.
  const method: OAuthClientAuthMethod =
    meta.token_endpoint_auth_method === 'client_secret_post' ||
    meta.token_endpoint_auth_method === 'client_secret_basic'
      ? meta.token_endpoint_auth_method
      : 'none';
  const secret = method === 'none' ? null : CLIENT_SECRET_PREFIX + randomBytes(32).toString('base64url');
  const client: OAuthClientRecord = {
    clientId: newId('tcl_', 16),
    clientName: displayName(meta.client_name, 'Unnamed MCP client'),
    redirectUris: [...new Set(meta.redirect_uris)],
    authMethod: method,
    secretHash: secret === null ? null : hashToken(secret),
    createdAt: new Date().toISOString(),
  };
  await store.insertOAuthClient(client);
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
    ...(secret !== null ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    client_name: client.clientName,
    redirect_uris: client.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // An unknown method is answered with `none` (RFC 7591 §3.2.1 lets the server decide; clients read it from here).
    token_endpoint_auth_method: method,
  };
}

/**
 * The client behind a client_id: a registered one from the store, or (an https URL) its Client
 * ID Metadata Document, fetched with `fetcher`, whose `client_id` must be that very URL. Null when
 * there is no such client; an Error (with why) when a metadata document cannot be used.
 */
export async function resolveClient(
  store: Store,
  fetcher: ClientMetadataFetcher,
  clientId: string,
): Promise<ResolvedClient | null> {
  if (clientId.length > MAX_OAUTH_URL_CHARS) return null;
  if (!isMetadataClientId(clientId)) {
    const client = await store.getOAuthClient(clientId);
    return client
      ? {
          clientId: client.clientId,
          clientName: client.clientName,
          redirectUris: client.redirectUris,
          kind: 'registered',
        }
      : null;
  }
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return null;
  }
  if (url.hash !== '' || url.pathname === '/') throw new Error('a client id URL must have a path and no fragment');
  const text = await fetcher(url);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('the client metadata document is not JSON');
  }
  const doc = metadataDocumentSchema.safeParse(json);
  if (!doc.success) throw new Error('the client metadata document lacks client_id or redirect_uris');
  if (doc.data.client_id !== clientId) throw new Error('the client metadata document names another client_id');
  for (const uri of doc.data.redirect_uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new Error(`the client metadata document has a redirect URI that ${problem}`);
  }
  return {
    clientId,
    clientName: displayName(doc.data.client_name, url.hostname),
    redirectUris: doc.data.redirect_uris,
    kind: 'metadata',
  };
}
