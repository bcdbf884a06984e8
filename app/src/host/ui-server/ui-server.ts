import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Duplex } from 'node:stream';
import { extname, resolve, sep } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import type { HostApi } from '../host-api.js';
import { serveChannel } from './channel-server.js';

/** The WebSocket subprotocol the UI speaks; the server echoes it, never the secret. */
export const UI_PROTOCOL = 'tether.v1';
/** Prefix of the second subprotocol, which carries the secret (a header, so never in a URL or log line). */
export const UI_SECRET_PROTOCOL_PREFIX = 'tether.secret.';
/** The path of the API WebSocket. */
export const UI_API_PATH = '/api';

/** Largest UI message: settings, answers and filters are tiny; 1 MiB leaves room and bounds memory. */
const MAX_UI_MESSAGE_BYTES = 1024 * 1024;
/** A UI tab that vanished without a close frame must stop counting as "someone answers confirmations". */
const UI_HEARTBEAT_INTERVAL_MS = 15_000;
/** One person, a few tabs at most; more is a sign of something scripted. */
const MAX_UI_CONNECTIONS = 8;
/** Where a tab asks which host instance serves it (no secret needed; see `serveUi`). */
export const INSTANCE_PATH = '/instance.json';

/** Bytes of the URL secret: 256 bits. */
const SECRET_BYTES = 32;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Options of `serveUi`. */
export interface ServeUiOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Folder of the built UI (index.html and assets). */
  staticDir: string;
}

/** A running headless UI server. */
export interface UiServer {
  /** The page to open: `http://127.0.0.1:PORT/#secret=…` (the secret sits in the fragment, never sent). */
  url: string;
  /** The port actually bound. */
  port: number;
  /** Closes every UI connection and the server. */
  dispose(): Promise<void>;
}

/**
 * Serves the built UI and the DesktopApi over a local WebSocket, for `tether-desktop
 * --headless --ui PORT`. Bound to 127.0.0.1 only. A browser page answers confirmations, so
 * nothing else may reach the API: the WebSocket upgrade needs the random secret of the page
 * URL (compared in constant time), a Host of 127.0.0.1:PORT or localhost:PORT (DNS
 * rebinding), and an Origin equal to this server's own; anything else gets 401/403 before the
 * upgrade.
 */
export async function serveUi(api: HostApi, options: ServeUiOptions): Promise<UiServer> {
  const staticRoot = resolve(options.staticDir);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const secretDigest = sha256(secret);
  // Not a secret: it tells an open tab whether the host it talks to is still the one that
  // served it, so a tab left open over a restart can say so (its secret died with the old one).
  const instance = randomBytes(12).toString('base64url');
  let port = options.port;
  const allowedHosts = (): string[] => [`127.0.0.1:${port}`, `localhost:${port}`];
  const allowedOrigins = (): string[] => allowedHosts().map((h) => `http://${h}`);

  const server = createServer((req, res) => {
    void serveStatic(req, res, staticRoot, port, allowedHosts(), instance).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Internal error\n');
    });
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_UI_MESSAGE_BYTES,
    handleProtocols: (protocols) => (protocols.has(UI_PROTOCOL) ? UI_PROTOCOL : false),
  });
  const alive = new WeakMap<WebSocket, boolean>();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = checkUpgrade(req, allowedHosts(), allowedOrigins(), secretDigest);
    if (refusal) return refuse(socket, refusal.status, refusal.reason);
    if (wss.clients.size >= MAX_UI_CONNECTIONS) return refuse(socket, 503, 'Too many UI connections');
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true);
      ws.on('error', () => ws.terminate());
      ws.on('pong', () => alive.set(ws, true));
      serveChannel(api, wsPort(ws), { answersConfirmations: true });
    });
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, UI_HEARTBEAT_INTERVAL_MS);
  heartbeat.unref();

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The UI server has no TCP address');
  port = address.port;

  let disposed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/#secret=${secret}`,
    port,
    dispose: () => {
      disposed ??= (async () => {
        clearInterval(heartbeat);
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      })();
      return disposed;
    },
  };
}

/** Why an upgrade is refused, or undefined when it may proceed. */
function checkUpgrade(
  req: IncomingMessage,
  hosts: string[],
  origins: string[],
  secretDigest: Buffer,
): { status: number; reason: string } | undefined {
  const path = (req.url ?? '').split('?')[0];
  if (path !== UI_API_PATH) return { status: 404, reason: 'Not Found' };
  if (!hosts.includes(req.headers.host ?? '')) return { status: 403, reason: 'Forbidden' };
  if (!origins.includes(req.headers.origin ?? '')) return { status: 403, reason: 'Forbidden' };
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const secretProtocol = offered.find((p) => p.startsWith(UI_SECRET_PROTOCOL_PREFIX));
  if (!offered.includes(UI_PROTOCOL) || secretProtocol === undefined) return { status: 401, reason: 'Unauthorized' };
  // Comparing digests keeps the comparison constant-time whatever the offered length.
  const given = sha256(secretProtocol.slice(UI_SECRET_PROTOCOL_PREFIX.length));
  if (!timingSafeEqual(given, secretDigest)) return { status: 401, reason: 'Unauthorized' };
  return undefined;
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Adapts a ws socket to the channel port of `serveChannel` (JSON text messages). */
function wsPort(ws: WebSocket): Parameters<typeof serveChannel>[1] {
  return {
    send: (msg) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    },
    onMessage: (cb) =>
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.toString());
        } catch {
          return;
        }
        cb(parsed);
      }),
    onClose: (cb) => ws.on('close', cb),
  };
}

function securityHeaders(port: number): Record<string, string> {
  return {
    'Content-Security-Policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "form-action 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

/** Serves one file of the built UI; refuses foreign Hosts, other methods and paths outside the folder. */
async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  port: number,
  hosts: string[],
  instance: string,
): Promise<void> {
  const headers = securityHeaders(port);
  const fail = (status: number, text: string): void => {
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${text}\n`);
  };
  if (!hosts.includes(req.headers.host ?? '')) return fail(403, 'Forbidden');
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'Method Not Allowed');
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
  } catch {
    return fail(400, 'Bad Request');
  }
  if (pathname.includes('\0')) return fail(400, 'Bad Request');
  if (pathname === INSTANCE_PATH) {
    const body = JSON.stringify({ instance });
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (pathname === '/' || pathname === '') pathname = '/index.html';
  const file = resolve(root, `.${pathname}`);
  if (file !== root && !file.startsWith(root + sep)) return fail(403, 'Forbidden');
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    if (pathname === '/index.html') return fail(503, 'The UI is not built yet: run `npm run build`.');
    return fail(404, 'Not Found');
  }
  const body = await readFile(file);
  res.writeHead(200, {
    ...headers,
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': String(body.length),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
