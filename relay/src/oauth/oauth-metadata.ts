import { CATEGORIES, idSchema, type Category } from '@tether/shared';

/** Where the relay's OAuth endpoints live (outside `/v1`: no bearer token on them). */
export const OAUTH_PATHS = {
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  register: '/oauth/register',
  revoke: '/oauth/revoke',
} as const;

/** RFC 9728 §3: a resource's metadata lives at this prefix followed by the resource's path. */
export const PROTECTED_RESOURCE_PREFIX = '/.well-known/oauth-protected-resource';
/** RFC 8414 §3: the authorization server's metadata (the issuer has no path). */
export const AUTHORIZATION_SERVER_PATH = '/.well-known/oauth-authorization-server';

/** The org-wide MCP URL's path. */
export const ORG_MCP_PATH = '/v1/mcp';

/** What an MCP URL (a resource) names: one runtime, or every runtime a token may use. */
export type ResourceTarget = { kind: 'runtime'; runtimeId: string } | { kind: 'org' };

/** The resource a path names (`/v1/runtimes/{id}/mcp`, `/v1/mcp`), or null for any other path. */
export function resourceOfPath(path: string): ResourceTarget | null {
  if (path === ORG_MCP_PATH) return { kind: 'org' };
  const match = /^\/v1\/runtimes\/([^/]+)\/mcp$/.exec(path);
  if (!match) return null;
  let id: string;
  try {
    id = decodeURIComponent(match[1]!);
  } catch {
    return null;
  }
  return idSchema.safeParse(id).success ? { kind: 'runtime', runtimeId: id } : null;
}

/** The canonical URL of a resource (RFC 8707 resource indicator): the issuer plus the MCP path, no query or fragment. */
export function resourceUrl(issuer: string, target: ResourceTarget): string {
  return target.kind === 'org'
    ? `${issuer}${ORG_MCP_PATH}`
    : `${issuer}/v1/runtimes/${encodeURIComponent(target.runtimeId)}/mcp`;
}

/** A resource indicator sent by a client, if it is one of this relay's MCP URLs (the issuer's origin, an MCP path). */
export function parseResource(issuer: string, resource: string): ResourceTarget | null {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return null;
  }
  if (url.origin !== new URL(issuer).origin || url.search !== '' || url.hash !== '') return null;
  return resourceOfPath(url.pathname);
}

/** Scopes a client may ask for: the tool categories (the person decides what it gets). */
export const SCOPES: readonly Category[] = CATEGORIES;

/** The categories named in a `scope` parameter (unknown scopes are ignored, RFC 6749 §3.3 lets the server decide). */
export function categoriesOfScope(scope: string | undefined): Category[] {
  const words = new Set((scope ?? '').split(/\s+/));
  return SCOPES.filter((c) => words.has(c));
}

/** RFC 9728 Protected Resource Metadata of one MCP URL. */
export function protectedResourceMetadata(issuer: string, target: ResourceTarget): Record<string, unknown> {
  return {
    resource: resourceUrl(issuer, target),
    authorization_servers: [issuer],
    bearer_methods_supported: ['header'],
    scopes_supported: SCOPES,
    resource_name: target.kind === 'org' ? 'Tether (every runtime you approve)' : 'Tether runtime',
    resource_documentation: `${issuer}/openapi.json`,
  };
}

/** RFC 8414 Authorization Server Metadata. */
export function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}${OAUTH_PATHS.authorize}`,
    token_endpoint: `${issuer}${OAUTH_PATHS.token}`,
    registration_endpoint: `${issuer}${OAUTH_PATHS.register}`,
    revocation_endpoint: `${issuer}${OAUTH_PATHS.revoke}`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    scopes_supported: SCOPES,
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
  };
}

/** The `WWW-Authenticate` challenge of a 401 at an MCP URL (RFC 9728 §5.1), optionally with an RFC 6750 error. */
export function bearerChallenge(issuer: string, path: string, error?: 'invalid_token'): string {
  const parts = [`resource_metadata="${issuer}${PROTECTED_RESOURCE_PREFIX}${path}"`];
  if (error) parts.unshift(`error="${error}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * Whether an access token's audience (a resource URL) is the MCP path requested: the same
 * runtime's URL, or `/v1/mcp` for an org-wide token. Never one for the other (RFC 8707).
 */
export function audienceMatches(audience: string, path: string): boolean {
  let a: ResourceTarget | null;
  try {
    a = resourceOfPath(new URL(audience).pathname);
  } catch {
    return false;
  }
  const b = resourceOfPath(path);
  if (!a || !b) return false;
  if (a.kind === 'org' || b.kind === 'org') return a.kind === b.kind;
  return a.runtimeId === b.runtimeId;
}
