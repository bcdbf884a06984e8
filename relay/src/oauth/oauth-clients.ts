import { z } from 'zod';
import { MAX_NAME_CHARS, MAX_OAUTH_REDIRECT_URIS, MAX_OAUTH_URL_CHARS } from '@tether/shared';
import type { OAuthClientRecord, Store } from '../store/store.js';
import { newId } from '../tokens.js';
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

/** Registers a public client (PKCE, no secret), RFC 7591. Returns the registration response body. */
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
  const client: OAuthClientRecord = {
    clientId: newId('tcl_', 16),
    clientName: displayName(meta.client_name, 'Unnamed MCP client'),
    redirectUris: [...new Set(meta.redirect_uris)],
    createdAt: new Date().toISOString(),
  };
  await store.insertOAuthClient(client);
  return {
    client_id: client.clientId,
    client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
    client_name: client.clientName,
    redirect_uris: client.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // Every client is public and proves itself with PKCE; a request for a secret gets none (RFC 7591 §3.2.1 lets the server decide).
    token_endpoint_auth_method: 'none',
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
    return client ? { ...client, kind: 'registered' } : null;
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
