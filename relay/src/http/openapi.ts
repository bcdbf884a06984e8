import { z } from 'zod';
import {
  ERROR_CODES,
  TOOL_NAMES,
  callRequestSchema,
  callResponseSchema,
  capabilitiesSchema,
  errorResponseSchema,
  grantRequestSchema,
  grantResponseSchema,
  runtimeStateSchema,
  runtimeViewSchema,
  toolInputJsonSchema,
} from '@tether/shared';

const schema = (s: z.ZodType, io: 'input' | 'output' = 'output') => {
  const json = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
};

const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const errors = (...listed: Array<keyof typeof ERROR_CODES>) => {
  // Every authenticated route is rate-limited (AccessGuard).
  const codes = listed.includes('unauthorized') ? [...listed, 'rate_limited' as const] : listed;
  const byStatus = new Map<number, string[]>();
  for (const code of codes)
    byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [String(status), { description: list.join(', '), content: json('Error') }]),
  );
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

/**
 * The OpenAPI 3.0 document of the platform API, built from the zod schemas in `shared`
 * (the same ones that validate requests), so the document cannot drift from the code.
 */
export function buildOpenApiDocument(serverUrl: string): Record<string, unknown> {
  const toolArgs = Object.fromEntries(TOOL_NAMES.map((name) => [`ToolArgs_${name}`, toolInputJsonSchema(name)]));
  for (const value of Object.values(toolArgs)) delete (value as Record<string, unknown>).$schema;
  return {
    openapi: '3.0.3',
    info: {
      title: 'Tether Relay platform API',
      version: '1',
      description:
        'Lists runtimes (folders on people’s computers offered by Tether Desktop) and sends them tool calls. ' +
        'Authenticate with `Authorization: Bearer tpk_…` (platform key) or `tgr_…` (grant). A runtime of another org, ' +
        'or outside a grant, is always 404. Failed calls answer with the HTTP status of their error code. ' +
        'Too many requests with one token, or too many refused tokens from one address, are 429 `rate_limited` with `Retry-After` (seconds).',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The relay’s metrics token (not a platform key)' },
      },
      schemas: {
        Error: schema(errorResponseSchema),
        RuntimeView: schema(runtimeViewSchema),
        RuntimeList: {
          type: 'object',
          properties: { runtimes: { type: 'array', items: { $ref: '#/components/schemas/RuntimeView' } } },
          required: ['runtimes'],
        },
        Capabilities: schema(capabilitiesSchema),
        CallRequest: schema(callRequestSchema, 'input'),
        CallResponse: schema(callResponseSchema),
        GrantRequest: schema(grantRequestSchema, 'input'),
        GrantResponse: schema(grantResponseSchema),
        ...toolArgs,
      },
    },
    paths: {
      '/v1/runtimes': {
        get: {
          summary: 'List the runtimes this token may see',
          parameters: [{ name: 'state', in: 'query', required: false, schema: schema(runtimeStateSchema) }],
          responses: {
            '200': { description: 'The runtimes', content: json('RuntimeList') },
            ...errors('invalid_request', 'unauthorized'),
          },
        },
      },
      '/v1/runtimes/{id}': {
        get: {
          summary: 'One runtime',
          parameters: [idParam],
          responses: {
            '200': { description: 'The runtime', content: json('RuntimeView') },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/capabilities': {
        get: {
          summary: "The runtime's policy and switched-on tools (a grant sees only its tools)",
          parameters: [idParam],
          responses: {
            '200': { description: 'Capabilities', content: json('Capabilities') },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/calls': {
        post: {
          summary: 'Call a tool on the runtime',
          description:
            '`args` is validated against the tool’s schema (components `ToolArgs_<tool>`) before forwarding; a failure is `invalid_args` with the field paths. ' +
            'With `Accept: text/event-stream` the answer is an SSE stream: `call` {callId}, then `status` {status} and `output` {chunk} while it runs, then `result` {callId, result} or `error` {callId, error}. ' +
            'An `idempotencyKey` gives a repeated call the same id, so the desktop runs it once: a retry within the idempotency window (24 h from the first attempt by default) gets the first attempt’s result, later it is refused with `idempotency_expired` and never run again. ' +
            'Closing the connection cancels the call; a relay restart does not (the caller gets `unavailable`, the call goes on on the desktop, and a retry or `GET …/calls/{callId}` gets its result).',
          parameters: [idParam],
          requestBody: { required: true, content: json('CallRequest') },
          responses: {
            '200': {
              description: 'The result (JSON), or the SSE stream',
              content: { ...json('CallResponse'), 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errors(
              'invalid_request',
              'invalid_args',
              'unknown_tool',
              'unauthorized',
              'forbidden',
              'tool_disabled',
              'policy_denied',
              'path_outside_workspace',
              'not_found',
              'runtime_paused',
              'cancelled',
              'interrupted',
              'idempotency_expired',
              'runtime_archived',
              'too_large',
              'busy',
              'runtime_offline',
              'runtime_error',
              'timeout',
              'no_space',
              'unavailable',
              'internal',
            ),
          },
        },
      },
      '/v1/runtimes/{id}/calls/{callId}': {
        get: {
          summary: 'The result of a call made before',
          description:
            'Asks the desktop holding the runtime for the call’s result, without running anything: for a call whose answer was lost (a relay restart answered `unavailable`). ' +
            'Only calls of the key’s org (a grant: only its own calls) in the call log are known; others are `not_found`. ' +
            'A write or shell call’s result is kept for the idempotency window; reads are never kept (`not_found`: run the read again). ' +
            'A call still running is waited on for up to `waitMs` (default 0), then answered 202 {callId, status: "running"}. The result’s status and body are those the call itself would have answered.',
          parameters: [
            idParam,
            { name: 'callId', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'waitMs', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 60000 } },
          ],
          responses: {
            '200': { description: 'The call’s result', content: json('CallResponse') },
            '202': { description: 'The call is still running on the desktop' },
            ...errors(
              'invalid_request',
              'unauthorized',
              'not_found',
              'interrupted',
              'runtime_offline',
              'unavailable',
              'timeout',
            ),
          },
        },
      },
      '/v1/runtimes/{id}/calls/{callId}/cancel': {
        post: {
          summary: 'Cancel a running call',
          parameters: [idParam, { name: 'callId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'Cancelled; the call answers `cancelled`' },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/events': {
        get: {
          summary:
            'Server-Sent Events: `state` {runtimeId, state, reason?, lastSeenAt} (first the current one), `files` {runtimeId, changes, dropped}',
          parameters: [idParam],
          responses: {
            '200': { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/archive': {
        post: {
          summary: 'Archive the runtime (platform keys only); it stays archived',
          parameters: [idParam],
          responses: {
            '200': { description: 'The archived runtime', content: json('RuntimeView') },
            ...errors('unauthorized', 'forbidden', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/mcp': {
        post: {
          summary: 'The runtime’s tools as a Model Context Protocol server (Streamable HTTP, stateless)',
          parameters: [idParam],
          responses: {
            '200': { description: 'JSON-RPC answer or SSE stream' },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/grants': {
        post: {
          summary: 'Mint a grant (platform keys only): a `tgr_` token limited to runtimes, tools and a TTL',
          requestBody: { required: true, content: json('GrantRequest') },
          responses: {
            '200': { description: 'The grant; its token is shown once', content: json('GrantResponse') },
            ...errors('invalid_request', 'unauthorized', 'forbidden', 'not_found'),
          },
        },
      },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'Alive' } } } },
      '/readyz': {
        get: {
          summary: 'Readiness (503 while shutting down)',
          security: [],
          responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          description:
            'With a metrics token configured (`--metrics-token`), it must be sent as `Authorization: Bearer`; without one, only loopback clients are answered.',
          security: [{ metricsToken: [] }, {}],
          responses: {
            '200': { description: 'Text exposition format' },
            ...errors('unauthorized', 'forbidden'),
          },
        },
      },
    },
  };
}
