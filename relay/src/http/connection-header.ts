import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';

/** Whether the client (often a proxy) asked for the connection to end after this exchange. */
function wantsClose(req: IncomingMessage): boolean {
  const connection = req.headers.connection;
  if (connection !== undefined) return /(?:^|,)\s*close\s*(?:,|$)/i.test(connection);
  // HTTP/1.0 closes unless it asked to keep the connection.
  return req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
}

function withoutConnection(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  if (Array.isArray(headers)) {
    // [[name, value], …] or [name, value, name, value, …]
    if (headers.every((h) => Array.isArray(h)))
      return headers.filter((h) => String((h as unknown[])[0]).toLowerCase() !== 'connection');
    const kept: unknown[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2)
      if (String(headers[i]).toLowerCase() !== 'connection') kept.push(headers[i], headers[i + 1]);
    return kept;
  }
  return Object.fromEntries(
    Object.entries(headers as OutgoingHttpHeaders).filter(([name]) => name.toLowerCase() !== 'connection'),
  );
}

/**
 * Makes every answer honour a request's `Connection: close`. A response that sets
 * `Connection: keep-alive` itself (the MCP SDK's streams do) makes Node keep the connection
 * open against the client's wish, and answers it `keep-alive`: behind nginx with upstream
 * keepalive (`proxy_set_header Connection close` for non-upgrade requests) every request after
 * such a stream then failed. For those requests a `connection` header set by a handler is
 * dropped, so Node answers `Connection: close` and closes as asked.
 */
export function honourConnectionClose(server: Server): void {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!wantsClose(req)) return;
    const setHeader = res.setHeader.bind(res);
    res.setHeader = (name, value) => (name.toLowerCase() === 'connection' ? res : setHeader(name, value));
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => writeHead(...args.map(withoutConnection))) as ServerResponse['writeHead'];
  });
}
