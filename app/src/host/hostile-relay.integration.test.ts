import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, type ToolErrorValue } from '@tether/shared';
import { startHost, type Host } from './host.js';
import { waitFor } from './test-stack.js';

/**
 * A malicious relay: a raw `ws` server the real host connects to, sending `call` frames the
 * real relay would never send (unknown tools, arguments it would have refused, re-used ids,
 * another workspace's id, absurd deadlines, prototype-pollution keys, frames over the size
 * limit, deep nesting). The desktop trusts neither relay nor platform: every one of these must
 * be answered with an error value (or ignored), run nothing it should not, leave the host up,
 * and touch nothing outside the workspaces.
 */

const SECRET = 'HOSTILE-SECRET-5e1f';
const WAIT_MS = 20_000;

interface ResultFrame {
  type: 'result';
  id: string;
  ok: boolean;
  value?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  error?: ToolErrorValue;
}

/** The fake relay: accepts any upgrade, sends a challenge, answers `hello` with `welcome`, records what the app sends. */
class HostileRelay {
  readonly wss: WebSocketServer;
  socket: WebSocket | null = null;
  hellos: Array<{ workspaces: Array<{ workspaceId: string; name: string }> }> = [];
  results = new Map<string, ResultFrame>();
  closes: number[] = [];
  url = '';

  constructor() {
    this.wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 * 1024 * 1024 });
    this.wss.on('connection', (ws) => {
      this.socket = ws;
      ws.on('close', (code) => this.closes.push(code));
      // As a relay does: the desktop says hello (with its device proof) only after the challenge.
      ws.send(JSON.stringify({ type: 'challenge', nonce: 'h'.repeat(43) }));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data));
        if (frame.type === 'hello') {
          this.hellos.push(frame);
          const runtimes = frame.workspaces.map((w: { workspaceId: string }, i: number) => ({
            workspaceId: w.workspaceId,
            runtimeId: `rt${i}`,
          }));
          ws.send(
            JSON.stringify({
              type: 'welcome',
              sessionId: `s${this.hellos.length}`,
              runtimes,
              limits: { maxFrameBytes: MAX_FRAME_BYTES, maxInFlightPerRuntime: 8 },
              heartbeatIntervalMs: 5_000,
            }),
          );
        } else if (frame.type === 'result') {
          this.results.set(frame.id, frame);
        }
      });
    });
  }

  async listening(): Promise<void> {
    await new Promise<void>((resolve) => this.wss.once('listening', () => resolve()));
    this.url = `http://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** Sends raw text (or a frame object) on the current connection. */
  send(frame: unknown): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.socket?.send(text);
  }

  async result(id: string): Promise<ResultFrame> {
    return waitFor(() => this.results.get(id), `the result of ${id}`, WAIT_MS);
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

let dir: string;
let ws1: string;
let ws2: string;
let outside: string;
let relay: HostileRelay;
let host: Host;
let ids: { ws1: string; ws2: string };
let seq = 0;

function frame(tool: string, args: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    type: 'call',
    id: `c${seq}`,
    runtimeId: 'rt0',
    workspaceId: ids.ws1,
    tool,
    args,
    deadline: Date.now() + WAIT_MS,
    caller: 'hostile relay',
    ...extra,
  };
}

/** Sends a call frame and waits for its result. */
async function call(tool: string, args: unknown, extra: Record<string, unknown> = {}): Promise<ResultFrame> {
  const f = frame(tool, args, extra);
  relay.send(f);
  return relay.result(f.id as string);
}

/**
 * Sends `bad` (a frame the host must drop), then a harmless read on the same connection:
 * frames are handled in order, so once the read is answered the bad one was seen and dropped.
 */
async function expectDropped(bad: unknown, badId: string | undefined): Promise<void> {
  const socket = relay.socket;
  relay.send(bad);
  const probe = await call('stat', { path: '.' });
  expect(probe.ok).toBe(true);
  if (badId !== undefined) expect(relay.results.has(badId)).toBe(false);
  expect(relay.socket).toBe(socket); // same connection: a bad frame is ignored, not fatal
}

function expectCanaryIntact(): void {
  expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe(`${SECRET}\n`);
  expect(existsSync(path.join(outside, 'pwned.txt'))).toBe(false);
  expect(readFileSync(path.join(ws2, 'ws2-only.txt'), 'utf8')).toBe('ws2\n');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tether-hostile-'));
  ws1 = path.join(dir, 'ws1');
  ws2 = path.join(dir, 'ws2');
  outside = path.join(dir, 'outside');
  for (const d of [ws1, ws2, outside]) mkdirSync(d);
  writeFileSync(path.join(ws1, 'hello.txt'), 'hello\n');
  writeFileSync(path.join(ws2, 'ws2-only.txt'), 'ws2\n');
  writeFileSync(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  relay = new HostileRelay();
  await relay.listening();
  host = await startHost({
    configDir: path.join(dir, 'config'),
    relayUrl: relay.url,
    token: 'tdt_hostile-relay-test',
    workspaces: [
      { path: ws1, policy: { read: 'allow', write: 'allow', shell: 'allow' } },
      { path: ws2, policy: { read: 'allow', write: 'deny', shell: 'deny' } },
    ],
    useKeychain: false,
    env: {},
    healthIntervalMs: 200,
    backoff: { baseMs: 50, maxMs: 400 },
  });
  await waitFor(() => host.relay.status.state === 'connected', 'the host to connect', WAIT_MS);
  const announced = relay.hellos[0]?.workspaces ?? [];
  const idOf = (name: string): string => {
    const w = announced.find((x) => x.name === name);
    if (!w) throw new Error(`workspace ${name} not announced`);
    return w.workspaceId;
  };
  ids = { ws1: idOf('ws1'), ws2: idOf('ws2') };
  expect(announced.map((w) => w.workspaceId)[0]).toBe(ids.ws1); // rt0 is ws1
}, 60_000);

afterAll(async () => {
  await host?.dispose();
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a hostile relay', () => {
  describe('frames the host must drop (the connection stays up)', () => {
    it.each<[string, (f: Record<string, unknown>) => Record<string, unknown>]>([
      ['an unknown tool', (f: Record<string, unknown>) => ({ ...f, tool: 'rm_rf' })],
      ['tool __proto__', (f: Record<string, unknown>) => ({ ...f, tool: '__proto__' })],
      ['tool constructor', (f: Record<string, unknown>) => ({ ...f, tool: 'constructor' })],
      ['tool toString', (f: Record<string, unknown>) => ({ ...f, tool: 'toString' })],
      ['a negative deadline', (f: Record<string, unknown>) => ({ ...f, deadline: -1 })],
      ['a fractional deadline', (f: Record<string, unknown>) => ({ ...f, deadline: Date.now() + 0.5 })],
      ['a string deadline', (f: Record<string, unknown>) => ({ ...f, deadline: String(Date.now() + WAIT_MS) })],
      ['an id with a path in it', (f: Record<string, unknown>) => ({ ...f, id: '../../etc/passwd' })],
      ['an id of 129 characters', (f: Record<string, unknown>) => ({ ...f, id: 'x'.repeat(129) })],
      ['an extra field', (f: Record<string, unknown>) => ({ ...f, sudo: true })],
      ['a caller label over the limit', (f: Record<string, unknown>) => ({ ...f, caller: 'x'.repeat(10_000) })],
      ['no workspace id', (f: Record<string, unknown>) => ({ ...f, workspaceId: undefined })],
    ])('drops a call with %s, and nothing runs', async (_name, mutate) => {
      const f = mutate(frame('write_file', { path: 'dropped.txt', content: 'pwned' }));
      await expectDropped(f, typeof f.id === 'string' ? f.id : undefined);
      expect(existsSync(path.join(ws1, 'dropped.txt'))).toBe(false);
      expectCanaryIntact();
    });

    it.each([
      ['not JSON', '{"type":"call",'],
      ['JSON null', 'null'],
      ['an array', '[1,2,3]'],
      ['an unknown frame type', JSON.stringify({ type: 'exec', command: 'touch pwned.txt' })],
      [
        'a second welcome',
        JSON.stringify({
          type: 'welcome',
          sessionId: 'evil',
          runtimes: [],
          limits: { maxFrameBytes: 1, maxInFlightPerRuntime: 1 },
          heartbeatIntervalMs: 1,
        }),
      ],
      ['a cancel for an unknown id', JSON.stringify({ type: 'cancel', id: 'nope' })],
      ['a __proto__ frame', '{"__proto__":{"polluted":true},"type":"cancel","id":"x"}'],
    ])('ignores %s', async (_name, text) => {
      await expectDropped(text, undefined);
      expectCanaryIntact();
    });
  });

  describe('arguments the real relay would have refused', () => {
    it.each<[string, string, unknown, string]>([
      ['args null', 'read_file', null, 'invalid_args'],
      ['args an array', 'read_file', ['hello.txt'], 'invalid_args'],
      ['args a string', 'read_file', 'hello.txt', 'invalid_args'],
      ['a number as path', 'read_file', { path: 7 }, 'invalid_args'],
      ['an empty path', 'read_file', { path: '' }, 'invalid_args'],
      ['a path over 4096 bytes', 'read_file', { path: 'a/'.repeat(2100) }, 'invalid_args'],
      ['an unknown argument', 'read_file', { path: 'hello.txt', followSymlinks: true }, 'invalid_args'],
      ['a negative offset', 'read_file', { path: 'hello.txt', offset: -1 }, 'invalid_args'],
      ['an outside path', 'read_file', { path: '../outside/secret.txt' }, 'path_outside_workspace'],
      [
        'an absolute outside path',
        'write_file',
        { path: '<outside>/pwned.txt', content: 'x' },
        'path_outside_workspace',
      ],
      ['move out', 'move', { from: 'hello.txt', to: '../outside/pwned.txt' }, 'path_outside_workspace'],
      ['a cwd outside', 'run_command', { command: 'touch pwned.txt', cwd: '<outside>' }, 'path_outside_workspace'],
      ['a forbidden env', 'run_command', { command: 'true', env: { LD_PRELOAD: '/tmp/x.so' } }, 'invalid_args'],
      ['a negative timeout', 'run_command', { command: 'true', timeoutMs: -5 }, 'invalid_args'],
      [
        'content over the write limit',
        'write_file',
        { path: 'big.txt', content: 'x'.repeat(4 * 1024 * 1024 + 1) },
        'too_large',
      ],
      ['edits not an array', 'edit_file', { path: 'hello.txt', edits: { oldText: 'h', newText: 'H' } }, 'invalid_args'],
      ['a session id of 10,000 chars', 'shell_read', { sessionId: 'x'.repeat(10_000) }, 'invalid_args'],
    ])('refuses %s', async (_name, tool, rawArgs, code) => {
      const args = JSON.parse(
        JSON.stringify(rawArgs ?? null)
          .split('<outside>')
          .join(outside),
      );
      const r = await call(tool, args);
      expect(r.ok, JSON.stringify(r).slice(0, 300)).toBe(false);
      expect(r.error?.code).toBe(code);
      expect(JSON.stringify(r)).not.toContain(SECRET);
      expect(JSON.stringify(r)).not.toContain(dir);
      expect(existsSync(path.join(ws1, 'big.txt'))).toBe(false);
      expectCanaryIntact();
    });

    it.each([
      ['__proto__ in args', '{"path":"hello.txt","__proto__":{"polluted":true}}'],
      ['constructor.prototype in args', '{"path":"hello.txt","constructor":{"prototype":{"polluted":true}}}'],
      [
        '__proto__ in an edit',
        '{"path":"hello.txt","edits":[{"oldText":"hello","newText":"HELLO","__proto__":{"replaceAll":true,"polluted":true}}],"dryRun":true}',
      ],
      ['__proto__ as an env name', '{"command":"true","env":{"__proto__":"x"}}'],
      [
        'an env whose __proto__ carries PATH',
        '{"command":"echo \\"P=$PATH\\"","env":{"__proto__":{"PATH":"/evil","LD_PRELOAD":"/tmp/x.so"}}}',
      ],
    ])('never lets %s pollute a prototype or change a call', async (name, argsText) => {
      const tool = name.includes('edit') ? 'edit_file' : name.includes('env') ? 'run_command' : 'read_file';
      // Spliced in as text: JSON.stringify of a parsed object would hide the own __proto__ key.
      const f = frame(tool, null);
      const text = JSON.stringify(f).replace('"args":null', `"args":${argsText}`);
      relay.send(text);
      const r = await relay.result(f.id as string);
      if (r.ok) {
        expect(JSON.stringify(r.value)).not.toContain('polluted');
        expect(JSON.stringify(r.value)).not.toContain('/evil'); // an inherited PATH never reaches a command
      } else expect(r.error?.code).toBe('invalid_args');
      expect(readFileSync(path.join(ws1, 'hello.txt'), 'utf8')).toBe('hello\n');
      expectCanaryIntact();
    });
  });

  describe('ids', () => {
    it('answers a re-used id with different arguments with conflict, and never runs it', async () => {
      const first = frame('write_file', { path: 'once.txt', content: 'one' });
      relay.send(first);
      expect((await relay.result(first.id as string)).ok).toBe(true);
      relay.results.delete(first.id as string);
      relay.send({ ...first, args: { path: 'once.txt', content: 'two' } });
      expect((await relay.result(first.id as string)).error?.code).toBe('conflict');
      relay.results.delete(first.id as string);
      relay.send({ ...first, workspaceId: ids.ws2 });
      expect((await relay.result(first.id as string)).error?.code).toBe('conflict');
      relay.results.delete(first.id as string);
      relay.send({ ...first, tool: 'delete', args: { path: 'once.txt' } });
      expect((await relay.result(first.id as string)).error?.code).toBe('conflict');
      expect(readFileSync(path.join(ws1, 'once.txt'), 'utf8')).toBe('one');
    });

    it('answers a re-delivered call from memory: a command never runs twice', async () => {
      const f = frame('run_command', { command: 'echo run >> count.txt' });
      relay.send(f);
      expect((await relay.result(f.id as string)).ok).toBe(true);
      relay.results.delete(f.id as string);
      relay.send({ ...f, deadline: Date.now() + WAIT_MS }); // a new deadline is still the same call
      const again = await relay.result(f.id as string);
      expect(again.ok === true || again.error?.code === 'conflict').toBe(true);
      expect(readFileSync(path.join(ws1, 'count.txt'), 'utf8')).toBe('run\n');
    });
  });

  describe('workspace ids', () => {
    it("applies the other workspace's own root and policy to a call naming it (any runtime id)", async () => {
      const read = await call('read_file', { path: 'ws2-only.txt' }, { workspaceId: ids.ws2 });
      expect(read.ok).toBe(true);
      const escape = await call('read_file', { path: '../ws1/hello.txt' }, { workspaceId: ids.ws2 });
      expect(escape.error?.code).toBe('path_outside_workspace');
      const write = await call('write_file', { path: 'ws2-only.txt', content: 'pwned' }, { workspaceId: ids.ws2 });
      expect(write.error?.code).toBe('policy_denied');
      const shell = await call('run_command', { command: 'echo pwned > ws2-only.txt' }, { workspaceId: ids.ws2 });
      expect(shell.error?.code).toBe('policy_denied');
      const notHere = await call('read_file', { path: 'hello.txt' }, { workspaceId: ids.ws2 });
      expect(notHere.error?.code).toBe('not_found');
      expectCanaryIntact();
    });

    it.each(['ws-unknown', '__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
      'answers not_found for workspace id %s',
      async (workspaceId) => {
        const r = await call('write_file', { path: 'pwned.txt', content: 'x' }, { workspaceId });
        expect(r.error?.code).toBe('not_found');
        expect(existsSync(path.join(ws1, 'pwned.txt'))).toBe(false);
      },
    );
  });

  describe('deadlines', () => {
    it('does not run a call whose deadline has passed', async () => {
      for (const deadline of [1, Date.now() - 1_000]) {
        const r = await call('write_file', { path: 'late.txt', content: 'x' }, { deadline });
        expect(r.error?.code).toBe('timeout');
        expect(existsSync(path.join(ws1, 'late.txt'))).toBe(false);
      }
    });

    it('runs a call with an absurdly far deadline normally (no timer overflow firing at once)', async () => {
      const r = await call('run_command', { command: 'echo far' }, { deadline: Number.MAX_SAFE_INTEGER });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(r.value.output).toContain('far');
    });
  });

  describe('size and shape', () => {
    it('survives a deeply nested argument (no stack overflow takes the host down)', async () => {
      const depth = 200_000;
      const f = frame('read_file', null);
      const text = JSON.stringify(f).replace('"args":null', `"args":${'['.repeat(depth)}${']'.repeat(depth)}`);
      expect(text.length).toBeLessThan(MAX_FRAME_BYTES);
      relay.send(text);
      const r = await relay.result(f.id as string);
      expect(r.ok).toBe(false);
      const probe = await call('stat', { path: '.' });
      expect(probe.ok).toBe(true);
    });

    it('closes the connection on a frame over the size limit, runs nothing in it, and reconnects', async () => {
      const before = relay.hellos.length;
      const f = frame('write_file', { path: 'huge.txt', content: 'x'.repeat(MAX_FRAME_BYTES) });
      relay.send(f);
      await waitFor(() => relay.hellos.length > before, 'the host to reconnect', WAIT_MS);
      expect(relay.closes).toContain(1009);
      await waitFor(() => host.relay.status.state === 'connected', 'connected again', WAIT_MS);
      const probe = await call('stat', { path: '.' });
      expect(probe.ok).toBe(true);
      expect(existsSync(path.join(ws1, 'huge.txt'))).toBe(false);
      expect(relay.results.has(f.id as string)).toBe(false);
    }, 60_000);

    it('ignores binary frames', async () => {
      const socket = relay.socket;
      socket?.send(Buffer.from(JSON.stringify(frame('write_file', { path: 'bin.txt', content: 'x' }))), {
        binary: true,
      });
      const probe = await call('stat', { path: '.' });
      expect(probe.ok).toBe(true);
      expect(existsSync(path.join(ws1, 'bin.txt'))).toBe(false);
    });
  });

  describe('the confirmation question at the terminal', () => {
    it('shows ANSI escapes and bidi overrides in caller and command as visible escapes, so the person sees what would run', async () => {
      const other = new HostileRelay();
      await other.listening();
      const input = new PassThrough();
      const output = new PassThrough();
      let printed = '';
      output.on('data', (d: Buffer) => (printed += d.toString('utf8')));
      const asking = await startHost({
        configDir: path.join(dir, 'config-ask'),
        relayUrl: other.url,
        token: 'tdt_hostile-relay-test',
        workspaces: [{ path: ws1, policy: { read: 'allow', write: 'ask', shell: 'ask' } }],
        terminal: { input, output },
        useKeychain: false,
        env: {},
        healthIntervalMs: 200,
        backoff: { baseMs: 50, maxMs: 400 },
      });
      try {
        await waitFor(() => asking.relay.status.state === 'connected', 'the asking host to connect', WAIT_MS);
        const workspaceId = other.hellos[0]?.workspaces[0]?.workspaceId as string;
        const f: Record<string, unknown> = {
          ...frame('run_command', { command: 'touch ok.txt #\u202e\u2066 txt.exe \u001b[2K\rAllowed once.' }),
          workspaceId,
          caller: 'trusted stage\u001b[1A\u001b[2K\u202eevil',
        };
        other.send(f);
        await waitFor(() => printed.includes('Allow?'), 'the question', WAIT_MS);
        input.write('n\n');
        const r = await other.result(f.id as string);
        expect(r.error?.code).toBe('confirmation_denied');
        expect(existsSync(path.join(ws1, 'ok.txt'))).toBe(false);
        expect(printed).not.toContain('\u001b');
        expect(printed).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
        expect(printed).toContain('\\u202e');
        expect(printed).toContain('\\x1b');
      } finally {
        await asking.dispose();
        await other.close();
      }
    }, 60_000);
  });
});
