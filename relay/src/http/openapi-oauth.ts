import { z } from 'zod';
import {
  CATEGORIES,
  MAX_OAUTH_APPROVAL_SECONDS,
  TOOLS,
  oauthAuthorizationSchema,
  oauthConsentSchema,
} from '@tether/shared';
import { AUTHORIZATION_SERVER_PATH, OAUTH_PATHS, PROTECTED_RESOURCE_PREFIX } from '../oauth/oauth-metadata.js';
import { AUTHORIZE_KEYS } from '../oauth/oauth-routes.js';

/**
 * The OAuth part of `/openapi.json`: the relay as authorization server of its MCP URLs
 * (metadata, registration, authorize page, token, revocation) and the `/v1/oauth` admin API.
 * Statuses are the ones the routes in `oauth/oauth-routes.ts` answer.
 */

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonOf = (name: string) => ({ 'application/json': { schema: ref(name) } });
const schema = (s: z.ZodType) => {
  const json = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
};
const html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });
const oauthError = (description: string) => ({ description, content: jsonOf('OAuthError') });
/** A 400 from the OAuth endpoints: the OAuth error body, or the relay's own for a body it cannot parse. */
const badRequest = (description: string) => ({
  description: `${description}; a body that is not JSON or form-encoded (or malformed) is the relay’s \`invalid_request\` Error`,
  content: { 'application/json': { schema: { anyOf: [ref('OAuthError'), ref('Error')] } } },
});
const tooLarge = { description: 'too_large', content: jsonOf('Error') };
const corsPreflight = (operationId: string, parameters: unknown[] = []) => ({
  options: {
    operationId,
    parameters,
    summary: 'CORS preflight (browser-based MCP clients)',
    security: [],
    responses: { '204': { description: 'Allowed from any origin' } },
  },
});
const redirect = (description: string) => ({
  description,
  headers: { Location: { description: 'Where the browser goes next', schema: { type: 'string' } } },
});

/** Schema components of the OAuth endpoints. */
export const OAUTH_SCHEMAS: Record<string, unknown> = {
  OAuthError: {
    type: 'object',
    description: 'RFC 6749 §5.2 / RFC 7591 §3.2.2 error',
    properties: {
      error: {
        type: 'string',
        examples: [
          'invalid_request',
          'invalid_client',
          'invalid_grant',
          'unsupported_grant_type',
          'invalid_target',
          'invalid_client_metadata',
          'invalid_redirect_uri',
          'temporarily_unavailable',
        ],
      },
      error_description: { type: 'string' },
    },
    required: ['error', 'error_description'],
  },
  ProtectedResourceMetadata: {
    type: 'object',
    description: 'RFC 9728 Protected Resource Metadata of one MCP URL',
    properties: {
      resource: { type: 'string', format: 'uri' },
      authorization_servers: { type: 'array', items: { type: 'string', format: 'uri' } },
      bearer_methods_supported: { type: 'array', items: { type: 'string', const: 'header' } },
      scopes_supported: { type: 'array', items: { type: 'string', enum: [...CATEGORIES] } },
      resource_name: { type: 'string' },
      resource_documentation: { type: 'string', format: 'uri' },
    },
    required: ['resource', 'authorization_servers'],
  },
  AuthorizationServerMetadata: {
    type: 'object',
    description: 'RFC 8414 Authorization Server Metadata (PKCE S256 only, Client ID Metadata Documents accepted)',
    properties: {
      issuer: { type: 'string', format: 'uri' },
      authorization_endpoint: { type: 'string', format: 'uri' },
      token_endpoint: { type: 'string', format: 'uri' },
      registration_endpoint: { type: 'string', format: 'uri' },
      revocation_endpoint: { type: 'string', format: 'uri' },
      response_types_supported: { type: 'array', items: { type: 'string' } },
      response_modes_supported: { type: 'array', items: { type: 'string' } },
      grant_types_supported: { type: 'array', items: { type: 'string' } },
      code_challenge_methods_supported: { type: 'array', items: { type: 'string', const: 'S256' } },
      token_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
      revocation_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
      scopes_supported: { type: 'array', items: { type: 'string' } },
      client_id_metadata_document_supported: { type: 'boolean' },
      authorization_response_iss_parameter_supported: { type: 'boolean' },
    },
    required: ['issuer', 'authorization_endpoint', 'token_endpoint', 'response_types_supported'],
  },
  ClientRegistrationRequest: {
    type: 'object',
    description: 'RFC 7591 client metadata (the fields the relay reads; others are ignored)',
    properties: {
      redirect_uris: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        description: 'https, http to a loopback host, or a native app’s private-use scheme; matched exactly',
      },
      client_name: { type: 'string' },
      token_endpoint_auth_method: {
        type: 'string',
        description: '`client_secret_post` or `client_secret_basic` get a secret; anything else is answered as `none`',
      },
      grant_types: { type: 'array', items: { type: 'string', enum: ['authorization_code', 'refresh_token'] } },
      response_types: { type: 'array', items: { type: 'string', const: 'code' } },
      scope: { type: 'string' },
    },
    required: ['redirect_uris'],
  },
  ClientRegistrationResponse: {
    type: 'object',
    properties: {
      client_id: { type: 'string' },
      client_id_issued_at: { type: 'integer' },
      client_secret: { type: 'string', description: 'Only for a confidential client; shown once' },
      client_secret_expires_at: { type: 'integer', const: 0 },
      client_name: { type: 'string' },
      redirect_uris: { type: 'array', items: { type: 'string' } },
      grant_types: { type: 'array', items: { type: 'string' } },
      response_types: { type: 'array', items: { type: 'string' } },
      token_endpoint_auth_method: { type: 'string', enum: ['none', 'client_secret_post', 'client_secret_basic'] },
    },
    required: [
      'client_id',
      'client_id_issued_at',
      'client_name',
      'redirect_uris',
      'grant_types',
      'response_types',
      'token_endpoint_auth_method',
    ],
  },
  AuthorizeParameters: {
    type: 'object',
    description:
      'OAuth 2.1 authorization request: code flow with PKCE S256 only; `resource` (RFC 8707) names the MCP URL the token is for',
    properties: {
      response_type: { type: 'string', const: 'code' },
      client_id: { type: 'string', description: 'A registered id, or the https URL of a Client ID Metadata Document' },
      redirect_uri: { type: 'string' },
      code_challenge: { type: 'string' },
      code_challenge_method: { type: 'string', const: 'S256' },
      state: { type: 'string' },
      scope: { type: 'string', description: `Tool categories asked for: ${CATEGORIES.join(', ')}` },
      resource: { type: 'string', description: 'The MCP URL: `…/v1/mcp` or `…/v1/runtimes/{id}/mcp`' },
      org: { type: 'string', description: 'POST only: the organization, from the form the org-wide URL asks' },
    },
  },
  TokenRequest: {
    type: 'object',
    description:
      'RFC 6749 §4.1.3 / §6: `authorization_code` (code, redirect_uri, code_verifier, client_id) or `refresh_token` (refresh_token, client_id; rotated at every use, a reused one revokes the authorization). A confidential client authenticates with `client_secret` or HTTP Basic.',
    properties: {
      grant_type: { type: 'string', enum: ['authorization_code', 'refresh_token'] },
      code: { type: 'string' },
      redirect_uri: { type: 'string' },
      code_verifier: { type: 'string' },
      refresh_token: { type: 'string' },
      client_id: { type: 'string' },
      client_secret: { type: 'string' },
      resource: { type: 'string', description: 'Must be the MCP URL authorized, if given' },
    },
    required: ['grant_type'],
  },
  TokenResponse: {
    type: 'object',
    properties: {
      access_token: { type: 'string', description: 'Short-lived, bound to the one MCP URL authorized (audience)' },
      token_type: { type: 'string', const: 'Bearer' },
      expires_in: { type: 'integer', minimum: 1 },
      refresh_token: { type: 'string' },
      scope: { type: 'string' },
    },
    required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope'],
  },
  RevocationRequest: {
    type: 'object',
    description:
      'RFC 7009: a refresh token of the client (ends its authorization) or an access token (ends that token)',
    properties: {
      token: { type: 'string' },
      token_type_hint: { type: 'string', enum: ['access_token', 'refresh_token'] },
      client_id: { type: 'string' },
      client_secret: { type: 'string' },
    },
    required: ['token'],
  },
  OAuthConsentRequest: (() => {
    const consent = schema(oauthConsentSchema) as { properties: Record<string, unknown>; required: string[] };
    const { shortCode: _omitted, ...properties } = consent.properties;
    return {
      ...consent,
      description: 'A client waiting for consent (without the short code, which the person reads off their page)',
      properties,
      required: consent.required.filter((k) => k !== 'shortCode'),
    };
  })(),
  OAuthApproval: {
    type: 'object',
    additionalProperties: false,
    properties: {
      shortCode: { type: 'string', minLength: 1, maxLength: 32, description: 'The code the authorize page shows' },
      runtimeIds: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1000 },
      categories: { type: 'array', items: { type: 'string', enum: [...CATEGORIES] }, minItems: 1, maxItems: 3 },
      ttlSeconds: { type: 'integer', minimum: 60, maximum: MAX_OAUTH_APPROVAL_SECONDS },
    },
    required: ['shortCode', 'runtimeIds', 'categories', 'ttlSeconds'],
  },
  OAuthAuthorization: schema(oauthAuthorizationSchema),
};

/** The `oauth2` security scheme of the MCP URLs; URLs are absolute, on `origin` (the issuer). */
export function oauthSecurityScheme(origin: string): Record<string, unknown> {
  const categories = Object.fromEntries(
    CATEGORIES.map((c) => [
      c,
      `Tools of the ${c} category (${Object.entries(TOOLS)
        .filter(([, t]) => t.category === c)
        .map(([name]) => name)
        .join(', ')})`,
    ]),
  );
  return {
    type: 'oauth2',
    description:
      'OAuth 2.1 for MCP clients: authorization code with PKCE (S256 only, required of every client), exact redirect URIs, ' +
      'dynamic registration (`/oauth/register`) or a Client ID Metadata Document as client_id. The person approves in Tether Desktop ' +
      '(or an org admin with a platform key), choosing workspaces, categories and a lifetime; the access token works only on the MCP URL named by `resource`. ' +
      'Discovery: the 401 of an MCP URL names its Protected Resource Metadata in `WWW-Authenticate: Bearer resource_metadata="…"`.',
    flows: {
      authorizationCode: {
        authorizationUrl: `${origin}${OAUTH_PATHS.authorize}`,
        tokenUrl: `${origin}${OAUTH_PATHS.token}`,
        refreshUrl: `${origin}${OAUTH_PATHS.token}`,
        scopes: categories,
      },
    },
  };
}

/** Form-encoded (RFC 6749 §3.2) or, as the relay also takes it, JSON. */
const formBody = (name: string) => ({
  required: true,
  content: { 'application/x-www-form-urlencoded': { schema: ref(name) }, 'application/json': { schema: ref(name) } },
});

const errorsOf = (statuses: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(statuses).map(([status, description]) => [status, { description, content: jsonOf('Error') }]),
  );
const adminErrors = {
  '401': 'unauthorized',
  '403': 'forbidden (a grant or OAuth token, not a platform key)',
  '429': 'rate_limited',
};

/** The OAuth paths of the document. */
export const OAUTH_OPENAPI_PATHS: Record<string, unknown> = {
  [`${PROTECTED_RESOURCE_PREFIX}/v1/mcp`]: {
    get: {
      operationId: 'getOrgMcpResourceMetadata',
      summary: 'Protected Resource Metadata (RFC 9728) of the org-wide MCP URL',
      security: [],
      responses: { '200': { description: 'The metadata', content: jsonOf('ProtectedResourceMetadata') } },
    },
    ...corsPreflight('preflightOrgMcpResourceMetadata'),
  },
  [`${PROTECTED_RESOURCE_PREFIX}/v1/runtimes/{id}/mcp`]: {
    get: {
      operationId: 'getRuntimeMcpResourceMetadata',
      summary: 'Protected Resource Metadata (RFC 9728) of a runtime’s MCP URL',
      description: 'Answered for any well-formed runtime id (which runtimes exist is not told).',
      security: [],
      parameters: [idParam],
      responses: {
        '200': { description: 'The metadata', content: jsonOf('ProtectedResourceMetadata') },
        ...errorsOf({ '404': 'not_found: not a well-formed runtime id' }),
      },
    },
    ...corsPreflight('preflightRuntimeMcpResourceMetadata', [idParam]),
  },
  [AUTHORIZATION_SERVER_PATH]: {
    get: {
      operationId: 'getAuthorizationServerMetadata',
      summary: 'Authorization Server Metadata (RFC 8414)',
      security: [],
      responses: { '200': { description: 'The metadata', content: jsonOf('AuthorizationServerMetadata') } },
    },
    ...corsPreflight('preflightAuthorizationServerMetadata'),
  },
  [OAUTH_PATHS.register]: {
    post: {
      operationId: 'registerOAuthClient',
      summary: 'Dynamic Client Registration (RFC 7591)',
      security: [],
      requestBody: { required: true, content: jsonOf('ClientRegistrationRequest') },
      responses: {
        '201': { description: 'Registered', content: jsonOf('ClientRegistrationResponse') },
        '400': badRequest('invalid_client_metadata, invalid_redirect_uri'),
        '413': tooLarge,
        '429': {
          ...oauthError('temporarily_unavailable: too many requests from this address'),
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
        },
      },
    },
    ...corsPreflight('preflightRegisterOAuthClient'),
  },
  [OAUTH_PATHS.authorize]: {
    get: {
      operationId: 'authorizeOAuth',
      summary: 'Authorization endpoint: starts consent in Tether Desktop',
      description:
        'A valid request is sent on (303) to its own page, which shows a short code while the person approves in Tether Desktop. ' +
        'An org-wide URL first asks for the organization (200, a form that POSTs here). Errors that can go back to a checked redirect URI are redirected (302, `error` and `iss`); others are an HTML page.',
      security: [],
      parameters: AUTHORIZE_KEYS.map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
      responses: {
        '200': html('The organization form (org-wide MCP URL)'),
        '302': redirect('Back to the client’s redirect URI with an `error`'),
        '303': redirect('To the request’s consent page (`/oauth/authorize/{id}`), with its browser cookie'),
        '400': html('The request cannot be answered to any client (unknown client, redirect URI mismatch…)'),
        '429': html('Too many requests from this address'),
      },
    },
    post: {
      operationId: 'authorizeOAuthWithOrg',
      summary: 'The organization form of the authorize page, posted',
      security: [],
      requestBody: {
        required: true,
        content: { 'application/x-www-form-urlencoded': { schema: ref('AuthorizeParameters') } },
      },
      responses: {
        '200': html('The organization form again'),
        '302': redirect('Back to the client’s redirect URI with an `error`'),
        '303': redirect('To the request’s consent page'),
        '400': html('Unknown organization (the form again), or a request that cannot be answered'),
        '413': tooLarge,
        '429': html('Too many requests from this address'),
      },
    },
  },
  [`${OAUTH_PATHS.authorize}/{id}`]: {
    get: {
      operationId: 'getOAuthConsentPage',
      summary: 'The page a person keeps open while approving in Tether Desktop; it reloads itself',
      security: [],
      parameters: [idParam, { name: 'tether_oauth', in: 'cookie', required: false, schema: { type: 'string' } }],
      responses: {
        '200': html('Waiting (the short code), or done'),
        '302': redirect('Approved or denied: back to the client with `code` (or `error`), `state` and `iss`'),
        '404': html('No such request in this browser (or it expired)'),
      },
    },
  },
  [OAUTH_PATHS.token]: {
    post: {
      operationId: 'oauthToken',
      summary: 'Token endpoint: exchange a code (PKCE) or rotate a refresh token',
      security: [],
      requestBody: formBody('TokenRequest'),
      responses: {
        '200': { description: 'Tokens (Cache-Control: no-store)', content: jsonOf('TokenResponse') },
        '400': badRequest(
          'invalid_request, invalid_grant (wrong verifier, reused or expired code, revoked authorization), unsupported_grant_type, invalid_target',
        ),
        '401': oauthError('invalid_client'),
        '413': tooLarge,
      },
    },
    ...corsPreflight('preflightOAuthToken'),
  },
  [OAUTH_PATHS.revoke]: {
    post: {
      operationId: 'revokeOAuthToken',
      summary: 'Revocation (RFC 7009): a refresh token ends its authorization, an access token itself',
      security: [],
      requestBody: formBody('RevocationRequest'),
      responses: {
        '200': { description: 'Revoked (also for a token that is not valid, as RFC 7009 asks)' },
        '400': badRequest('invalid_request'),
        '401': oauthError('invalid_client'),
        '413': tooLarge,
      },
    },
    ...corsPreflight('preflightRevokeOAuthToken'),
  },
  '/v1/oauth/requests': {
    get: {
      operationId: 'listOAuthRequests',
      summary: 'MCP clients waiting for consent in the org (platform keys only)',
      responses: {
        '200': {
          description: 'The requests',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { requests: { type: 'array', items: ref('OAuthConsentRequest') } },
                required: ['requests'],
              },
            },
          },
        },
        ...errorsOf(adminErrors),
      },
    },
  },
  '/v1/oauth/requests/{id}/approve': {
    post: {
      operationId: 'approveOAuthRequest',
      summary: 'Approve a waiting client as an org admin, with the short code its page shows',
      parameters: [idParam],
      requestBody: { required: true, content: jsonOf('OAuthApproval') },
      responses: {
        '200': {
          description: 'Approved; the client’s browser is sent back with a code',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { client: ref('OAuthAuthorization') }, required: ['client'] },
            },
          },
        },
        ...errorsOf({
          '400': 'invalid_request',
          ...adminErrors,
          '403': 'forbidden (not a platform key, or another runtime than the one asked for), short_code_mismatch',
          '404': 'not_found (request or runtime)',
          '409': 'conflict: settled already or expired',
          '413': 'too_large',
        }),
      },
    },
  },
  '/v1/oauth/requests/{id}/deny': {
    post: {
      operationId: 'denyOAuthRequest',
      summary: 'Deny a waiting client',
      parameters: [idParam],
      responses: {
        '200': {
          description: 'Denied',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { denied: { type: 'boolean', const: true } },
                required: ['denied'],
              },
            },
          },
        },
        ...errorsOf({ ...adminErrors, '404': 'not_found' }),
      },
    },
  },
  '/v1/oauth/clients': {
    get: {
      operationId: 'listOAuthClients',
      summary: 'Approved MCP clients of the org',
      responses: {
        '200': {
          description: 'The clients',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { clients: { type: 'array', items: ref('OAuthAuthorization') } },
                required: ['clients'],
              },
            },
          },
        },
        ...errorsOf(adminErrors),
      },
    },
  },
  '/v1/oauth/clients/{id}/revoke': {
    post: {
      operationId: 'revokeOAuthClient',
      summary: 'Revoke an approved client: its tokens stop working at once',
      parameters: [idParam],
      responses: {
        '200': {
          description: 'Revoked',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { revoked: { type: 'boolean', const: true } },
                required: ['revoked'],
              },
            },
          },
        },
        ...errorsOf({ ...adminErrors, '404': 'not_found' }),
      },
    },
  },
};
