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
  TOOLS,
  toolInputJsonSchema,
  toolResultJsonSchema,
  type ErrorCode,
  type ToolName,
} from '@tether/shared';
import { OAUTH_OPENAPI_PATHS, OAUTH_SCHEMAS, oauthSecurityScheme } from './openapi-oauth.js';

/** OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits; the dialect is the document's. */
const schema = (s: z.ZodType, io: 'input' | 'output' = 'output') => {
  const json = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
};
const withoutDialect = (json: Record<string, unknown>) => {
  const { $schema, ...rest } = json;
  void $schema;
  return rest;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/**
 * `POST …/calls` bodies, one per tool, discriminated by `tool`: each with its typed `args`
 * (components `ToolArgs_<tool>`), so a generated client knows the arguments of each tool.
 */
function callBodySchemas(): Record<string, unknown> {
  const base = schema(callRequestSchema, 'input') as { properties: Record<string, unknown> };
  const bodies: Record<string, unknown> = {};
  for (const name of TOOL_NAMES) {
    // A tool with required arguments needs `args`; for the others `{}` is the default.
    const needsArgs = ((toolInputJsonSchema(name).required as string[] | undefined) ?? []).length > 0;
    bodies[`CallRequest_${name}`] = {
      type: 'object',
      description: `Call \`${name}\`: ${TOOLS[name].description}`,
      properties: {
        ...base.properties,
        tool: { type: 'string', const: name },
        args: ref(`ToolArgs_${name}`),
      },
      required: needsArgs ? ['tool', 'args'] : ['tool'],
      additionalProperties: false,
    };
  }
  return bodies;
}

/** `POST …/calls` answers: `{ callId, result }` with each tool's result type. */
function callResponseSchemas(): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const name of TOOL_NAMES)
    responses[`CallResponse_${name}`] = {
      type: 'object',
      properties: { callId: { type: 'string' }, result: ref(`ToolResult_${name}`) },
      required: ['callId', 'result'],
    };
  return responses;
}

/** Every code a tool call can answer with: the relay's checks, and each refusal of the desktop. */
const CALL_ERROR_CODES = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => code !== 'unavailable');

/** The events of an SSE call stream, as `text/event-stream` schemas cannot say them. */
const CALL_EVENTS = {
  SseCallEvent: {
    type: 'object',
    description: 'SSE event `call`: first, with the call id (for cancel).',
    properties: { callId: { type: 'string' } },
    required: ['callId'],
  },
  SseStatusEvent: {
    type: 'object',
    description: 'SSE event `status`: the call waits for the person’s confirmation, or runs.',
    properties: { status: { type: 'string', enum: ['awaiting_confirmation', 'running'] } },
    required: ['status'],
  },
  SseOutputEvent: {
    type: 'object',
    description: 'SSE event `output`: a chunk of a command’s output while it runs.',
    properties: { chunk: { type: 'string' } },
    required: ['chunk'],
  },
  SseResultEvent: {
    type: 'object',
    description: 'SSE event `result`: the call succeeded; last event.',
    properties: { callId: { type: 'string' }, result: {} },
    required: ['callId', 'result'],
  },
  SseErrorEvent: {
    type: 'object',
    description: 'SSE event `error`: the call failed; last event.',
    properties: { callId: { type: 'string' }, error: ref('ToolError') },
    required: ['callId', 'error'],
  },
};

const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const errors = (...listed: ErrorCode[]) => {
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
const mcpBody = {
  required: true,
  content: {
    'application/json': { schema: { type: 'object', description: 'A JSON-RPC 2.0 request or notification' } },
  },
};
/** An MCP URL takes a platform key, a grant, or an OAuth access token issued for that very URL. */
const mcpSecurity = [{ bearer: [] }, { oauth: [] }];
/** GET (standalone stream) and DELETE (end a session) of an MCP URL: the endpoint is stateless. */
const mcpNotAllowed = (getId: string, deleteId: string, parameters: unknown[] = []) => {
  const operation = (operationId: string, summary: string) => ({
    operationId,
    summary,
    parameters,
    security: mcpSecurity,
    responses: {
      '405': {
        description: 'Not allowed (`Allow: POST`): a JSON-RPC error, the endpoint keeps no sessions',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      ...errors('unauthorized', 'forbidden', 'not_found'),
    },
  });
  return {
    get: operation(getId, 'No standalone server-to-client stream (stateless endpoint): 405'),
    delete: operation(deleteId, 'No session to end (stateless endpoint): 405'),
  };
};
const mcpResponses = {
  '200': {
    description: 'The JSON-RPC answer, as JSON or an SSE stream',
    content: {
      'application/json': { schema: { type: 'object' } },
      'text/event-stream': { schema: { type: 'string' } },
    },
  },
  '202': { description: 'A notification, accepted' },
  ...errors('invalid_request', 'unauthorized', 'forbidden', 'not_found', 'too_large'),
};

/**
 * The OpenAPI 3.1 document of the platform API, built from the zod schemas in `shared`
 * (the same ones that validate requests), so the document cannot drift from the code.
 * `serverUrl` is the relay's public URL (`--public-url`, or the scheme and host the request
 * for the document came with).
 */
export function buildOpenApiDocument(serverUrl: string): Record<string, unknown> {
  const body = openApiBody() as { components: { securitySchemes: Record<string, unknown> } };
  // The OAuth flow's URLs are absolute, on the issuer (the origin the MCP clients reach).
  const securitySchemes = { ...body.components.securitySchemes, oauth: oauthSecurityScheme(new URL(serverUrl).origin) };
  return { ...body, components: { ...body.components, securitySchemes }, servers: [{ url: serverUrl }] };
}

let cachedBody: Record<string, unknown> | null = null;
/** The document without `servers` (built once: the schemas never change at run time). */
function openApiBody(): Record<string, unknown> {
  cachedBody ??= buildBody();
  return cachedBody;
}

function buildBody(): Record<string, unknown> {
  const toolArgs = Object.fromEntries(
    TOOL_NAMES.map((name) => [`ToolArgs_${name}`, withoutDialect(toolInputJsonSchema(name))]),
  );
  const toolResults = Object.fromEntries(
    TOOL_NAMES.map((name: ToolName) => [`ToolResult_${name}`, withoutDialect(toolResultJsonSchema(name))]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tether Relay platform API',
      version: '1',
      description:
        'Lists runtimes (folders on people’s computers offered by Tether Desktop) and sends them tool calls. ' +
        'Authenticate with `Authorization: Bearer tpk_…` (platform key) or `tgr_…` (grant). A runtime of another org, ' +
        'or outside a grant, is always 404. Failed calls answer with the HTTP status of their error code. ' +
        'Too many requests with one token, or too many refused tokens from one address, are 429 `rate_limited` with `Retry-After` (seconds).',
    },
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
              type: ['string', 'null'],
              description: 'Pass as `cursor` for the next page; null on the last page',
            },
          },
          required: ['runtimes', 'nextCursor'],
        },
        Capabilities: schema(capabilitiesSchema),
        ToolError: (schema(errorResponseSchema) as { properties: { error: unknown } }).properties.error,
        CallRequest: {
          oneOf: TOOL_NAMES.map((name) => ref(`CallRequest_${name}`)),
          discriminator: {
            propertyName: 'tool',
            mapping: Object.fromEntries(TOOL_NAMES.map((name) => [name, `#/components/schemas/CallRequest_${name}`])),
          },
        },
        ...callBodySchemas(),
        CallResponse: {
          ...schema(callResponseSchema),
          properties: {
            callId: { type: 'string' },
            result: { anyOf: TOOL_NAMES.map((name) => ref(`ToolResult_${name}`)) },
          },
        },
        ...callResponseSchemas(),
        ...CALL_EVENTS,
        GrantRequest: schema(grantRequestSchema, 'input'),
        GrantResponse: schema(grantResponseSchema),
        ...toolArgs,
        ...toolResults,
        ...OAUTH_SCHEMAS,
      },
    },
    paths: {
      '/v1/runtimes': {
        get: {
          operationId: 'listRuntimes',
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
          operationId: 'getRuntime',
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
          operationId: 'getRuntimeCapabilities',
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
          operationId: 'callTool',
          summary: 'Call a tool on the runtime',
          description:
            '`args` is validated against the tool’s schema (components `ToolArgs_<tool>`) before forwarding; a failure is `invalid_args` with the field paths. ' +
            'With `Accept: text/event-stream` the answer is an SSE stream: `call` {callId}, then `status` {status} and `output` {chunk} while it runs, then `result` {callId, result} or `error` {callId, error}. ' +
            'A reader more than 1 MiB behind misses `output` events until it catches up, and is then sent `gap` {droppedEvents, droppedBytes} (the UTF-8 bytes of the skipped events’ data) before any later event; the `result` still carries the whole (capped) output. ' +
            'An `idempotencyKey` gives a repeated call the same id, so the desktop runs it once: a retry within the idempotency window (24 h from the first attempt by default) gets the first attempt’s result, later it is refused with `idempotency_expired` and never run again. ' +
            'Closing the connection cancels the call; a relay restart does not (the caller gets `unavailable`, the call goes on on the desktop, and a retry or `GET …/calls/{callId}` gets its result).',
          parameters: [idParam],
          requestBody: { required: true, content: json('CallRequest') },
          responses: {
            '200': {
              description:
                'The result (JSON, `CallResponse_<tool>` for the tool called), or with `Accept: text/event-stream` the SSE stream ' +
                '(events `call` SseCallEvent, `status` SseStatusEvent, `output` SseOutputEvent, then `result` SseResultEvent or `error` SseErrorEvent)',
              content: {
                ...json('CallResponse'),
                'text/event-stream': {
                  schema: {
                    type: 'string',
                    description:
                      'Server-Sent Events; each `data:` is one of the Sse*Event schemas, named by its `event:`',
                  },
                },
              },
            },
            ...errors(...CALL_ERROR_CODES),
          },
        },
      },
      '/v1/runtimes/{id}/calls/{callId}': {
        get: {
          operationId: 'getCall',
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
          operationId: 'cancelCall',
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
          operationId: 'streamRuntimeEvents',
          summary: 'Server-Sent Events of the runtime: its state, and file changes in its folder',
          description:
            'Events: `state` {runtimeId, state, reason?, lastSeenAt} (first the current one), `files` {runtimeId, changes, dropped}, and `gap` {droppedEvents, droppedBytes} after `files` events a lagging reader missed. ' +
            'A comment line keeps the stream alive.',
          parameters: [idParam],
          responses: {
            '200': { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/archive': {
        post: {
          operationId: 'archiveRuntime',
          summary: 'Archive the runtime (platform keys only); it stays archived',
          parameters: [idParam],
          responses: {
            '200': { description: 'The archived runtime', content: json('RuntimeView') },
            ...errors('unauthorized', 'forbidden', 'not_found'),
          },
        },
      },
      '/v1/runtimes/{id}/mcp': {
        ...mcpNotAllowed('runtimeMcpGet', 'runtimeMcpDelete', [idParam]),
        post: {
          operationId: 'runtimeMcp',
          summary: 'The runtime’s tools as a Model Context Protocol server (Streamable HTTP, stateless)',
          description:
            'MCP revisions 2026-07-28 (no handshake, `server/discover`, per-request `_meta`, `Mcp-Method`/`Mcp-Name` headers) and 2025-11-25 (`initialize` first). ' +
            'A browser `Origin` other than loopback or one of `--allowed-origins` is 403. GET and DELETE answer 405. ' +
            'Workspace files are resources (`file:///{+path}`, read through read_file); a 2026-07-28 `subscriptions/listen` with `resourceSubscriptions` is an SSE stream of `notifications/resources/updated` from the desktop’s watcher.',
          parameters: [idParam],
          security: mcpSecurity,
          requestBody: mcpBody,
          responses: mcpResponses,
        },
      },
      '/v1/mcp': {
        ...mcpNotAllowed('orgMcpGet', 'orgMcpDelete'),
        post: {
          operationId: 'orgMcp',
          summary: 'Every runtime the token may use as one MCP server; each tool takes a `runtime` argument',
          description:
            'The same protocol as `/v1/runtimes/{id}/mcp`, plus a `list_runtimes` tool; files are `tether://{runtime}/{+path}`. A grant sees only its runtimes and tools.',
          security: mcpSecurity,
          requestBody: mcpBody,
          responses: mcpResponses,
        },
      },
      '/v1/grants': {
        post: {
          operationId: 'createGrant',
          summary: 'Mint a grant (platform keys only): a `tgr_` token limited to runtimes, tools and a TTL',
          requestBody: { required: true, content: json('GrantRequest') },
          responses: {
            '200': { description: 'The grant; its token is shown once', content: json('GrantResponse') },
            ...errors('invalid_request', 'unauthorized', 'forbidden', 'not_found', 'too_large'),
          },
        },
      },
      ...OAUTH_OPENAPI_PATHS,
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          summary: 'This document',
          security: [],
          responses: {
            '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } },
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'getHealth',
          summary: 'Liveness',
          security: [],
          responses: { '200': { description: 'Alive' } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'getReadiness',
          summary: 'Readiness (503 while shutting down)',
          security: [],
          responses: { '200': { description: 'Ready' }, ...errors('unavailable') },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
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
