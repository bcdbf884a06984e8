import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { MAX_FRAME_BYTES, errorValue, httpStatusOf, type ErrorCode, type RuntimeView } from '@tether/shared';
import type { Principal, RelayServices } from '../services.js';
import { McpCallRegistry } from './mcp-call-registry.js';
import { createRuntimeMcpServer } from './runtime-mcp-server.js';

/** Path of a runtime's MCP endpoint (Streamable HTTP). */
export const MCP_ROUTE = '/v1/runtimes/:id/mcp';

/**
 * Largest MCP request body: a `write_file` may carry up to MAX_WRITE_BYTES (base64 grows it),
 * the same bound as one desktop frame. Fastify's 1 MiB default would refuse legitimate writes.
 */
export const MAX_MCP_BODY_BYTES = MAX_FRAME_BYTES;

interface RuntimeParams {
  id: string;
}

function sendError(reply: FastifyReply, code: ErrorCode, message?: string): FastifyReply {
  if (code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
  return reply.code(httpStatusOf(code)).send({ error: errorValue(code, message) });
}

/**
 * Authenticates the caller and finds the runtime it may see, or answers the request itself
 * (401 without a valid platform key or grant, 404 for a runtime it may not see) and returns null.
 */
async function admit(
  services: RelayServices,
  request: FastifyRequest<{ Params: RuntimeParams }>,
  reply: FastifyReply,
): Promise<{ principal: Principal; runtime: RuntimeView } | null> {
  // The access guard has authenticated every /v1 request already; the fallback keeps this route safe on its own.
  const principal = request.principal ?? (await services.authenticatePlatform(request.headers.authorization));
  if (!principal) {
    await sendError(reply, 'unauthorized');
    return null;
  }
  const runtimeId = request.params.id;
  // Defence in depth: the core scopes getRuntime too, but a grant's runtime list is cheap to check here.
  const runtime =
    principal.runtimeIds !== null && !principal.runtimeIds.includes(runtimeId)
      ? null
      : await services.getRuntime(principal, runtimeId);
  if (!runtime) {
    await sendError(reply, 'not_found', 'There is no runtime with that id.');
    return null;
  }
  return { principal, runtime };
}

/**
 * Serves `/v1/runtimes/:id/mcp`: the runtime's tools as a Model Context Protocol server over
 * Streamable HTTP, so any MCP client can use a runtime directly. Stateless: every POST gets a
 * fresh MCP server and transport, so nothing is kept between requests and any relay node can
 * answer. GET (a standalone server→client stream) and DELETE (end a session) mean nothing
 * without sessions and are answered 405, which the MCP spec allows.
 */
export async function registerMcpRoutes(app: FastifyInstance, services: RelayServices): Promise<void> {
  const logError = (message: string, err: unknown): void => app.log.error({ err }, message);
  const inFlight = new McpCallRegistry();

  app.post<{ Params: RuntimeParams }>(MCP_ROUTE, { bodyLimit: MAX_MCP_BODY_BYTES }, async (request, reply) => {
    const admitted = await admit(services, request, reply);
    if (!admitted) return reply;

    const server = createRuntimeMcpServer({ services, ...admitted, inFlight, logError });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // The raw response is ours from here on; Fastify must not answer it a second time.
    reply.hijack();
    // When the HTTP exchange ends (answered, or the client went away) the server closes,
    // which aborts the handler's signal and so cancels a call still running on the desktop.
    reply.raw.on('close', () => {
      transport.close().catch(() => undefined);
      server.close().catch(() => undefined);
    });
    transport.onerror = (err) => request.log.debug({ err }, 'MCP transport refused a message');
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (err) {
      logError('MCP request failed', err);
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }));
      }
    }
    return reply;
  });

  const methodNotAllowed = async (request: FastifyRequest<{ Params: RuntimeParams }>, reply: FastifyReply) => {
    const admitted = await admit(services, request, reply);
    if (!admitted) return reply;
    return reply
      .code(405)
      .header('allow', 'POST')
      .send({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Method not allowed: this endpoint is stateless, use POST.' },
        id: null,
      });
  };
  app.get<{ Params: RuntimeParams }>(MCP_ROUTE, methodNotAllowed);
  app.delete<{ Params: RuntimeParams }>(MCP_ROUTE, methodNotAllowed);
}
