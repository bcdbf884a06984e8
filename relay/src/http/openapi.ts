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
  TOOLS,
  toolInputJsonSchema,
  toolResultJsonSchema,
  type ErrorCode,
  type ToolName,
} from '@tether/shared';

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
  return { ...openApiBody(), servers: [{ url: serverUrl }] };
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
          properties: { runtimes: { type: 'array', items: { $ref: '#/components/schemas/RuntimeView' } } },
          required: ['runtimes'],
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
      },
    },
    paths: {
      '/v1/runtimes': {
        get: {
          operationId: 'listRuntimes',
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
            'An `idempotencyKey` gives a repeated call the same id, so the desktop runs it once. Closing the connection cancels the call.',
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
            'Events: `state` {runtimeId, state, reason?, lastSeenAt} (first the current one), `files` {runtimeId, changes, dropped}. ' +
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
        post: {
          operationId: 'runtimeMcp',
          summary: 'The runtime’s tools as a Model Context Protocol server (Streamable HTTP, stateless)',
          description:
            'MCP revisions 2026-07-28 (no handshake, `server/discover`, per-request `_meta`, `Mcp-Method`/`Mcp-Name` headers) and 2025-11-25 (`initialize` first). ' +
            'A browser `Origin` other than loopback or one of `--allowed-origins` is 403. GET and DELETE answer 405.',
          parameters: [idParam],
          requestBody: mcpBody,
          responses: mcpResponses,
        },
      },
      '/v1/mcp': {
        post: {
          operationId: 'orgMcp',
          summary: 'Every runtime the token may use as one MCP server; each tool takes a `runtime` argument',
          description:
            'The same protocol as `/v1/runtimes/{id}/mcp`, plus a `list_runtimes` tool. A grant sees only its runtimes and tools.',
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
