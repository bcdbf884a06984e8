import { z } from 'zod';
import {
  DEFAULT_RUNTIMES_PAGE,
  MAX_RUNTIMES_PAGE,
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
          properties: {
            runtimes: { type: 'array', items: { $ref: '#/components/schemas/RuntimeView' } },
            nextCursor: {
              type: 'string',
              nullable: true,
              description: 'Pass as `cursor` for the next page; null on the last page',
            },
          },
          required: ['runtimes', 'nextCursor'],
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
          description: `In pages, oldest first: \`limit\` runtimes (default ${DEFAULT_RUNTIMES_PAGE}, at most ${MAX_RUNTIMES_PAGE}), then \`nextCursor\` for the rest.`,
          parameters: [
            { name: 'state', in: 'query', required: false, schema: schema(runtimeStateSchema) },
            {
              name: 'limit',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 1, maximum: MAX_RUNTIMES_PAGE, default: DEFAULT_RUNTIMES_PAGE },
            },
            {
              name: 'cursor',
              in: 'query',
              required: false,
              description: 'The `nextCursor` of the previous page',
              schema: { type: 'string' },
            },
          ],
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
            'A reader more than 1 MiB behind misses `output` events until it catches up, and is then sent `gap` {droppedEvents, droppedBytes} (the UTF-8 bytes of the skipped events’ data) before any later event; the `result` still carries the whole (capped) output. ' +
            'An `idempotencyKey` gives a repeated call the same id, so the desktop runs it once. Closing the connection cancels the call.',
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
              'runtime_archived',
              'too_large',
              'busy',
              'runtime_offline',
              'runtime_error',
              'timeout',
              'internal',
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
            'Server-Sent Events: `state` {runtimeId, state, reason?, lastSeenAt} (first the current one), `files` {runtimeId, changes, dropped}, and `gap` {droppedEvents, droppedBytes} after `files` events a lagging reader missed',
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
