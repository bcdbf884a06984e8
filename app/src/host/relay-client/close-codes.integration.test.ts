import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startRelay, type RelayHandle } from '@tether/relay';
import { MAX_JSON_DEPTH, type AppEvent, type CallFrame, type Result, type WorkspaceAnnouncement } from '@tether/shared';
import type { BackoffOptions } from './backoff.js';
import { RUNTIME_LIMIT_RETRY_MS } from './connection-failure.js';
import { RelayClient, type CallDispatcher } from './relay-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const announce = (workspaceId: string): WorkspaceAnnouncement => ({
  workspaceId,
  name: workspaceId,
  description: '',
  state: 'running',
  capabilities: { policy: { read: 'allow', write: 'ask', shell: 'ask' }, tools: ['stat'] },
});

/** A value nested one level past the frame bounds (its frame is refused from its raw text). */
function tooDeep(): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) value = [value];
  return value;
}

async function relay(limits: Parameters<typeof startRelay>[0]['limits'] = {}): Promise<RelayHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-close-codes-'));
  const handle = await startRelay({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'silent', limits });
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => handle.close());
  await handle.admin.createOrg('acme');
  return handle;
}

function client(
  url: string,
  token: string,
  options: { workspaces?: WorkspaceAnnouncement[]; calls?: CallDispatcher; backoff?: BackoffOptions } = {},
): { client: RelayClient; logs: string[] } {
  const logs: string[] = [];
  const c = new RelayClient({
    relayUrl: url,
    token,
    device: () => ({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }),
    appVersion: '0.1.0',
    announcements: () => options.workspaces ?? [announce('ws1')],
    calls: options.calls ?? { run: () => Promise.resolve({ ok: true, value: 'ran' }), cancel: () => undefined },
    backoff: options.backoff ?? { baseMs: 10, maxMs: 50 },
    log: (line) => logs.push(line),
  });
  cleanups.push(() => c.dispose());
  return { client: c, logs };
}

const plannedDelays = (logs: string[]): number[] =>
  logs.flatMap((l) => /reconnecting in (\d+) ms/.exec(l)?.[1] ?? []).map(Number);

describe('RelayClient and the close codes of a real relay', () => {
  it('after 4429 (the org at its runtime limit) waits minutes before trying again, and says so in its state', async () => {
    const handle = await relay({ maxRuntimesPerOrg: 1 });
    const { token } = await handle.admin.createToken({ org: 'acme', kind: 'desktop' });
    const { client: c, logs } = client(handle.url, token, { workspaces: [announce('ws1'), announce('ws2')] });
    await waitFor(() => plannedDelays(logs).length === 1, 'the retry to be planned');
    expect(plannedDelays(logs)[0]).toBeGreaterThanOrEqual(RUNTIME_LIMIT_RETRY_MS); // the backoff alone: 0-10 ms
    expect(c.status.state).toBe('connecting');
    expect(c.status.reason).toMatch(/runtime limit \(4429: the org has \d+ runtimes; the relay's limit is 1\)/);
    expect(c.status.reason).toMatch(/retrying in 5 min$/);
    // With a 10-50 ms backoff, a hot loop would have reconnected many times by now.
    await new Promise((r) => setTimeout(r, 300));
    expect(plannedDelays(logs)).toHaveLength(1);
  });

  it('after 4413 (a frame of this desktop too complex) logs it and backs off from the longest delay, doubling, though each connection was welcomed', async () => {
    const handle = await relay();
    const { token } = await handle.admin.createToken({ org: 'acme', kind: 'desktop' });
    // random() = 0: the plain backoff would retry at once every time (the welcome's pong resets it).
    const { client: c, logs } = client(handle.url, token, { backoff: { baseMs: 10, maxMs: 100, random: () => 0 } });
    // A desktop bug: an event frame nested past the bounds (the types forbid it; the relay must still refuse it).
    const badEvent = { kind: 'health', workspaceId: 'ws1', state: 'running', reason: tooDeep() } as unknown as AppEvent;
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => c.status.state === 'connected', `connection ${i}`);
      await new Promise((r) => setTimeout(r, 50)); // the welcome's heartbeat goes there and back: backoff reset
      c.sendEvents([badEvent]);
      await waitFor(() => plannedDelays(logs).length === i, `the close of connection ${i}`);
    }
    expect(plannedDelays(logs)).toEqual([100, 200, 400]);
    expect(
      logs.filter((l) => /too large or too complex \(4413: frame refused: JSON nested deeper/.test(l)),
    ).toHaveLength(3);
    expect(c.status.reason).toMatch(/bug in Tether Desktop/);
  });

  it('answers a call whose result is past the bounds with too_large, and stays connected', async () => {
    const handle = await relay();
    const { token } = await handle.admin.createToken({ org: 'acme', kind: 'desktop' });
    const platform = await handle.admin.createToken({ org: 'acme', kind: 'platform' });
    const calls: CallDispatcher = {
      run: (_call: CallFrame): Promise<Result<unknown>> => Promise.resolve({ ok: true, value: tooDeep() }),
      cancel: () => undefined,
    };
    const { client: c, logs } = client(handle.url, token, { calls });
    await waitFor(() => c.status.state === 'connected' && c.runtimes.length === 1, 'connected');
    const res = await fetch(`${handle.url}/v1/runtimes/${c.runtimes[0]!.runtimeId}/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'stat', args: { path: 'a.txt' } }),
    });
    const body = (await res.json()) as { error?: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'too_large', message: expect.stringMatching(/too complex to send/) });
    expect(c.status.state).toBe('connected');
    expect(plannedDelays(logs)).toEqual([]);
  });
});

describe('frame masking', () => {
  it('masks with a fresh random key as RFC 6455 asks (the native addon makes that cheap), and offers no deflate', async () => {
    // A real ws server, its raw socket tapped to read the key of the first frame the client sends.
    const wss = new WebSocketServer({ noServer: true });
    const raw: Buffer[] = [];
    const offers: Array<string | undefined> = [];
    const http = createServer();
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      offers.push(req.headers['sec-websocket-extensions']);
      // A copy: the server unmasks the chunk in place once it reads it.
      socket.on('data', (chunk: Buffer) => raw.push(Buffer.from(chunk)));
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('error', () => undefined));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const ws of wss.clients) ws.terminate();
          http.closeAllConnections();
          http.close(() => resolve());
        }),
    );
    client(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, 'tdt_any');
    /** The first frame's header: where its key is and how long its payload. */
    const header = (b: Buffer): { keyAt: number; length: number } | null => {
      if (b.length < 2) return null;
      const len = b[1]! & 0x7f;
      if (len < 126) return { keyAt: 2, length: len };
      if (len === 126) return b.length < 4 ? null : { keyAt: 4, length: b.readUInt16BE(2) };
      return b.length < 10 ? null : { keyAt: 10, length: Number(b.readBigUInt64BE(2)) };
    };
    const complete = (): boolean => {
      const b = Buffer.concat(raw);
      const h = header(b);
      return h !== null && b.length >= h.keyAt + 4 + h.length;
    };
    await waitFor(complete, 'the hello frame');
    const frame = Buffer.concat(raw);
    const { keyAt, length } = header(frame)!;
    expect(frame[0]).toBe(0x81); // FIN, text
    expect(frame[1]! & 0x80).toBe(0x80); // masked, as a client must
    const key = frame.subarray(keyAt, keyAt + 4);
    expect([...key]).not.toEqual([0, 0, 0, 0]);
    // No per-message deflate offered (a 2 MiB result would be compressed and inflated again).
    expect(offers).toEqual([undefined]);
    // Unmasked with that key, the payload is the hello.
    const payload = Buffer.from(frame.subarray(keyAt + 4, keyAt + 4 + length).map((b, i) => b ^ key[i % 4]!));
    expect(JSON.parse(payload.toString('utf8'))).toMatchObject({ type: 'hello' });
  });

  it('runs ws with its native masking addon (bufferutil), not the JS fallback', async () => {
    // ws loads bufferutil when it can; without it every byte of a 2 MiB result is masked in JS.
    const { createRequire } = await import('node:module');
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask?: unknown };
    expect(typeof bufferutil.mask).toBe('function');
    expect(process.env.WS_NO_BUFFER_UTIL).toBeUndefined();
  });
});

describe('per-message deflate', () => {
  it('is not negotiated by a real relay even when a client offers it', async () => {
    const handle = await relay();
    const { token } = await handle.admin.createToken({ org: 'acme', kind: 'desktop' });
    const ws = new WebSocket(`${handle.url.replace(/^http/, 'ws')}/v1/connect`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: true,
    });
    cleanups.push(() => ws.terminate());
    ws.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    expect(ws.extensions).toBe('');
  });
});
