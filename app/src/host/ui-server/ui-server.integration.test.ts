import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startRelay } from '@tether/relay';
import { channelMessageSchema, confirmationRequestSchema, type ChannelMessage } from '@tether/shared';
import { startStack, type StartRelay } from '../test-stack.js';
import { UI_PROTOCOL, UI_SECRET_PROTOCOL_PREFIX, serveUi, type UiServer } from './ui-server.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

let stack: Stack;
let ui: UiServer;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  stack = await startStack(startRelay as unknown as StartRelay, { host: { confirmationTimeoutMs: 20_000 } });
  ui = await serveUi(stack.host.api, { port: 0, staticDir: join(stack.dir, 'no-ui') });
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await ui.dispose();
  await stack.dispose();
});

/** A UI client: resolves once open (or with the refusal status), collecting every message. */
function client(
  origin: string,
  secret: string,
): Promise<{ ws: WebSocket; inbox: ChannelMessage[] } | { status: number }> {
  const ws = new WebSocket(`ws://127.0.0.1:${ui.port}/api`, [UI_PROTOCOL, UI_SECRET_PROTOCOL_PREFIX + secret], {
    origin,
  });
  sockets.push(ws);
  // A refused socket reports an error when terminated in cleanup; the status is what counts.
  ws.on('error', () => {});
  const inbox: ChannelMessage[] = [];
  ws.on('message', (data) => inbox.push(channelMessageSchema.parse(JSON.parse(data.toString()))));
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws, inbox }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
  });
}

async function waitFor<T>(fn: () => T | undefined, what: string): Promise<T> {
  const until = Date.now() + 15_000;
  for (;;) {
    const value = fn();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('serveUi with a real host and relay', () => {
  describe('confirmations', () => {
    it('lets only the page with the secret answer: a refused client leaves the call unanswerable', async () => {
      const secret = new URL(ui.url).hash.replace('#secret=', '');
      const own = `http://127.0.0.1:${ui.port}`;
      const runtime = await stack.runtimeIn('running');

      expect(await client('http://evil.example', secret)).toEqual({ status: 403 });
      expect(await client(own, 'x'.repeat(43))).toEqual({ status: 401 });
      // Nobody legitimate is attached: an `ask` call cannot be confirmed by the refused ones.
      const unanswered = await stack.call(runtime.id, 'write_file', { path: 'evil.txt', content: 'x' });
      expect(unanswered.error?.code).toBe('confirmation_unavailable');

      const page = await client(own, secret);
      if (!('ws' in page)) throw new Error(`refused with ${page.status}`);
      const call = stack.call(runtime.id, 'write_file', { path: 'ok.txt', content: 'from the UI\n' });
      const request = await waitFor(() => {
        const msg = page.inbox.find((m) => m.kind === 'event' && m.event === 'confirm:request');
        return msg?.kind === 'event' ? confirmationRequestSchema.parse(msg.payload) : undefined;
      }, 'confirm:request');
      expect(request.detail).toMatchObject({ kind: 'write', path: 'ok.txt', isNew: true });
      page.ws.send(
        JSON.stringify({
          kind: 'request',
          id: 1,
          method: 'confirm:answer',
          params: { confirmationId: request.id, decision: 'allow_once' },
        }),
      );
      expect((await call).status).toBe(200);
      expect(await readFile(join(stack.workspaceDir, 'ok.txt'), 'utf8')).toBe('from the UI\n');
      const response = page.inbox.find((m) => m.kind === 'response' && m.id === 1);
      expect(response).toEqual({ kind: 'response', id: 1, ok: true, result: { accepted: true } });
    });
  });

  describe('requests', () => {
    it('answers state:get with the host state and bad params with invalid_args', async () => {
      const secret = new URL(ui.url).hash.replace('#secret=', '');
      const page = await client(`http://localhost:${ui.port}`, secret);
      if (!('ws' in page)) throw new Error(`refused with ${page.status}`);
      page.ws.send(JSON.stringify({ kind: 'request', id: 1, method: 'state:get', params: {} }));
      page.ws.send(JSON.stringify({ kind: 'request', id: 2, method: 'workspace:add', params: { root: '' } }));
      const one = await waitFor(() => page.inbox.find((m) => m.kind === 'response' && m.id === 1), 'state');
      const two = await waitFor(() => page.inbox.find((m) => m.kind === 'response' && m.id === 2), 'error');
      expect(one).toMatchObject({ ok: true, result: { hasToken: true, workspaces: [{ root: stack.workspaceDir }] } });
      expect(two).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    });
  });
});
