import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { TetherError, type ChannelMessage, type DesktopEvent, type DesktopEventPayload } from '@tether/shared';
import type { HostApi, HostEventListener, SubscribeOptions } from '../host-api.js';
import { INSTANCE_PATH, UI_PROTOCOL, UI_SECRET_PROTOCOL_PREFIX, serveUi, type UiServer } from './ui-server.js';

/**
 * A transport-level HostApi (the real host is tested on its own): it records answers to
 * confirmations and counts subscribers that answer them, which is what the server must guard.
 */
class RecordingHost implements HostApi {
  readonly answers: unknown[] = [];
  readonly listeners = new Set<{ listener: HostEventListener; options: SubscribeOptions }>();
  async request(method: string, params: unknown): Promise<never> {
    if (method === 'confirm:answer') {
      this.answers.push(params);
      return { accepted: true } as never;
    }
    if (method === 'state:get') return { ok: 'state' } as never;
    throw new TetherError('not_found', `no ${method}`);
  }
  subscribe(listener: HostEventListener, options: SubscribeOptions = {}): () => void {
    const entry = { listener, options };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }
  answerers(): number {
    return [...this.listeners].filter((l) => l.options.answersConfirmations).length;
  }
  emit<E extends DesktopEvent>(event: E, payload: DesktopEventPayload<E>): void {
    for (const { listener } of this.listeners) listener(event, payload);
  }
}

let dir: string;
let host: RecordingHost;
let ui: UiServer;
let secret: string;
let origin: string;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-ui-'));
  await mkdir(join(dir, 'static', 'assets'), { recursive: true });
  await writeFile(join(dir, 'static', 'index.html'), '<!doctype html><title>Tether</title>');
  await writeFile(join(dir, 'static', 'assets', 'app.js'), 'console.log(1)');
  await writeFile(join(dir, 'outside.txt'), 'secret file');
  host = new RecordingHost();
  ui = await serveUi(host, { port: 0, staticDir: join(dir, 'static') });
  secret = new URL(ui.url).hash.replace('#secret=', '');
  origin = `http://127.0.0.1:${ui.port}`;
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await ui.dispose();
  await rm(dir, { recursive: true, force: true });
});

interface ConnectOptions {
  secret?: string | null;
  origin?: string | null;
  host?: string;
}

/** Opens a WebSocket to the API; resolves with the socket or the refusal's HTTP status. */
function connect(opts: ConnectOptions = {}): Promise<{ ws: WebSocket } | { status: number }> {
  const s = opts.secret === undefined ? secret : opts.secret;
  const protocols = s === null ? [UI_PROTOCOL] : [UI_PROTOCOL, UI_SECRET_PROTOCOL_PREFIX + s];
  const headers: Record<string, string> = {};
  if (opts.host) headers.host = opts.host;
  const o = opts.origin === undefined ? origin : opts.origin;
  const ws = new WebSocket(`ws://127.0.0.1:${ui.port}/api`, protocols, {
    headers,
    ...(o === null ? {} : { origin: o }),
  });
  sockets.push(ws);
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', () => resolve({ status: -1 }));
  });
}

function nextMessage(ws: WebSocket): Promise<ChannelMessage> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()) as ChannelMessage)));
}

function get(
  path: string,
  hostHeader = `127.0.0.1:${ui.port}`,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: ui.port, path, method, headers: { host: hostHeader } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('serveUi', () => {
  describe('url', () => {
    it('binds 127.0.0.1 and carries a 256-bit secret in the fragment only', () => {
      const url = new URL(ui.url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.pathname).toBe('/');
      expect(url.search).toBe('');
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    });
  });

  describe('WebSocket upgrade', () => {
    it('serves requests and answers confirmations with the right secret, Origin and Host', async () => {
      const res = await connect();
      if (!('ws' in res)) throw new Error(`refused with ${res.status}`);
      expect(res.ws.protocol).toBe(UI_PROTOCOL);
      expect(host.answerers()).toBe(1);
      const reply = nextMessage(res.ws);
      res.ws.send(
        JSON.stringify({
          kind: 'request',
          id: 7,
          method: 'confirm:answer',
          params: { confirmationId: 'c1', decision: 'allow_once' },
        }),
      );
      expect(await reply).toEqual({ kind: 'response', id: 7, ok: true, result: { accepted: true } });
      expect(host.answers).toEqual([{ confirmationId: 'c1', decision: 'allow_once' }]);
    });

    it('accepts localhost:PORT as Host with its own origin', async () => {
      const res = await connect({ host: `localhost:${ui.port}`, origin: `http://localhost:${ui.port}` });
      expect('ws' in res).toBe(true);
    });

    it.each([
      ['a wrong secret', { secret: 'A'.repeat(43) }, 401],
      ['no secret', { secret: null }, 401],
      ['another site as Origin', { origin: 'http://evil.example' }, 403],
      ['another local port as Origin', { origin: 'http://127.0.0.1:1' }, 403],
      ['no Origin (a local process)', { origin: null }, 403],
      ['a rebinding Host', { host: `evil.example:1234` }, 403],
    ] as const)('refuses %s before the upgrade, and nothing can answer', async (_name, opts, status) => {
      const res = await connect(opts);
      expect(res).toEqual({ status });
      expect(host.answerers()).toBe(0);
      expect(host.answers).toEqual([]);
    });

    it('answers errors as code and message values and ignores malformed messages', async () => {
      const res = await connect();
      if (!('ws' in res)) throw new Error('refused');
      res.ws.send('not json');
      res.ws.send(JSON.stringify({ kind: 'response', id: 1, ok: true, result: 1 }));
      let reply = nextMessage(res.ws);
      res.ws.send(JSON.stringify({ kind: 'request', id: 1, method: 'workspace:remove', params: { id: 'x' } }));
      expect(await reply).toEqual({
        kind: 'response',
        id: 1,
        ok: false,
        error: { code: 'not_found', message: 'no workspace:remove' },
      });
      reply = nextMessage(res.ws);
      res.ws.send(JSON.stringify({ kind: 'request', id: 2, method: 'shell:exec', params: {} }));
      expect(await reply).toMatchObject({ kind: 'response', id: 2, ok: false, error: { code: 'invalid_request' } });
      reply = nextMessage(res.ws);
      res.ws.send(JSON.stringify({ kind: 'request', id: 3, method: 'state:get', extra: true }));
      expect(await reply).toMatchObject({ kind: 'response', id: 3, ok: false, error: { code: 'invalid_request' } });
    });

    it('forwards host events and detaches when the socket closes', async () => {
      const res = await connect();
      if (!('ws' in res)) throw new Error('refused');
      const msg = nextMessage(res.ws);
      host.emit('confirm:resolved', { confirmationId: 'c9', outcome: 'denied' });
      expect(await msg).toEqual({
        kind: 'event',
        event: 'confirm:resolved',
        payload: { confirmationId: 'c9', outcome: 'denied' },
      });
      res.ws.close();
      await expect.poll(() => host.answerers()).toBe(0);
    });
  });

  describe('static files', () => {
    it('serves the UI with a strict CSP and nosniff', async () => {
      const res = await get('/');
      expect(res.status).toBe(200);
      expect(res.body).toContain('<title>Tether</title>');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${ui.port} ws://localhost:${ui.port}`);
      expect(csp).not.toContain('unsafe-inline');
      expect((await get('/assets/app.js')).headers['content-type']).toContain('text/javascript');
    });

    it('names its instance without the secret, the same until it restarts, for foreign Hosts never', async () => {
      const first = await get(INSTANCE_PATH);
      expect(first.status).toBe(200);
      const { instance } = JSON.parse(first.body) as { instance: string };
      expect(instance).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(ui.url).not.toContain(instance);
      expect(JSON.parse((await get(INSTANCE_PATH)).body)).toEqual({ instance });
      expect((await get(INSTANCE_PATH, 'evil.example:80')).status).toBe(403);
      const other = await serveUi(host, { port: 0, staticDir: join(dir, 'static') });
      try {
        const res = await new Promise<string>((resolve, reject) => {
          const req = httpRequest(
            { host: '127.0.0.1', port: other.port, path: INSTANCE_PATH, headers: { host: `127.0.0.1:${other.port}` } },
            (r) => {
              let body = '';
              r.setEncoding('utf8');
              r.on('data', (c: string) => (body += c));
              r.on('end', () => resolve(body));
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect((JSON.parse(res) as { instance: string }).instance).not.toBe(instance);
      } finally {
        await other.dispose();
      }
    });

    it.each(['/../outside.txt', '/%2e%2e/outside.txt', '/assets/..%2f..%2foutside.txt', '/..%5coutside.txt'])(
      'refuses path traversal %s',
      async (path) => {
        const res = await get(path);
        expect([403, 404]).toContain(res.status);
        expect(res.body).not.toContain('secret file');
      },
    );

    it('refuses a foreign Host (DNS rebinding)', async () => {
      const res = await get('/', 'evil.example');
      expect(res.status).toBe(403);
      expect(res.body).not.toContain('Tether');
    });

    it('answers HEAD without a body and refuses other methods', async () => {
      const head = await get('/', undefined, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      expect((await get('/', undefined, 'POST')).status).toBe(405);
    });

    it('says the UI is not built when index.html is missing', async () => {
      await rm(join(dir, 'static', 'index.html'));
      const res = await get('/');
      expect(res.status).toBe(503);
      expect(res.body).toContain('npm run build');
    });
  });
});
