import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Policy, RuntimeView, ToolErrorValue } from '@tether/shared';
import { startHost, type Host, type StartHostOptions } from './host.js';

/**
 * Test support for the host⇄relay integration tests: a real relay (imported by the test and
 * passed in, since the host layer never imports the relay), a real host, temp dirs, and the
 * platform API over real HTTP. Not part of the product build's public API.
 */

/** The part of the relay's handle the tests use. */
export interface TestRelayHandle {
  url: string;
  port: number;
  admin: {
    createOrg(slug: string): Promise<unknown>;
    createToken(input: {
      org: string;
      kind: 'desktop' | 'platform';
      name?: string;
    }): Promise<{ id: string; token: string }>;
  };
  close(): Promise<void>;
}

/** `startRelay` of @tether/relay, as the tests call it. */
export type StartRelay = (options: {
  host?: string;
  port?: number;
  dataDir: string;
  logLevel?: string;
  heartbeatIntervalMs?: number;
  shutdownGraceMs?: number;
  limits?: { idempotencyWindowMs?: number };
}) => Promise<TestRelayHandle>;

/** Polls until `condition` holds; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A TCP proxy in front of the relay: `cut()` drops every connection through it, as a network failure would. */
export class CuttableProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => s.destroy());
        s.on('close', () => this.sockets.delete(s));
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  /** Destroys every open connection (new ones are still accepted). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** JSON bodies of the platform API, loosely typed: tests assert on their fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A relay, an org with a desktop token and a platform key, a workspace folder and a host connected to the relay. */
export interface Stack {
  dir: string;
  relay: TestRelayHandle;
  relayDataDir: string;
  desktopToken: string;
  platformKey: string;
  workspaceDir: string;
  host: Host;
  /** The platform API: JSON request with the platform key. */
  platform(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }>;
  runtimes(): Promise<RuntimeView[]>;
  /** Waits until the workspace's runtime is in `state`, and returns it. */
  runtimeIn(state: RuntimeView['state'], timeoutMs?: number): Promise<RuntimeView>;
  /** A call through the platform API: `{ status, result }` or `{ status, error }`. */
  call(
    runtimeId: string,
    tool: string,
    args: unknown,
    extra?: Record<string, unknown>,
  ): Promise<{ status: number; result?: Json; error?: ToolErrorValue }>;
  /** Starts a new relay on the same port and data dir (after `relay.close()`). */
  restartRelay(): Promise<void>;
  dispose(): Promise<void>;
}

/** Options of `startStack`. */
export interface StackOptions {
  policy?: Policy;
  /** Put a cuttable TCP proxy between host and relay. */
  proxy?: boolean;
  host?: Partial<StartHostOptions>;
  /** Wait for the host to be connected before returning (default true). */
  waitConnected?: boolean;
  /** Options of the relay (and of the relay restarted by `restartRelay`). */
  relay?: { shutdownGraceMs?: number; limits?: { idempotencyWindowMs?: number } };
}

/** Starts the whole stack in a fresh temp dir. */
export async function startStack(
  startRelay: StartRelay,
  options: StackOptions = {},
): Promise<Stack & { proxy?: CuttableProxy }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-host-it-'));
  const relayDataDir = join(dir, 'relay');
  const workspaceDir = join(dir, 'workspace');
  await mkdir(workspaceDir);
  await writeFile(join(workspaceDir, 'hello.txt'), 'hello from the workspace\n');
  let relay = await startRelay({
    host: '127.0.0.1',
    port: 0,
    dataDir: relayDataDir,
    logLevel: 'silent',
    ...options.relay,
  });
  const relayPort = relay.port;
  await relay.admin.createOrg('it');
  const { token: desktopToken } = await relay.admin.createToken({ org: 'it', kind: 'desktop' });
  const { token: platformKey } = await relay.admin.createToken({ org: 'it', kind: 'platform' });
  let proxy: CuttableProxy | undefined;
  let hostRelayUrl = relay.url;
  if (options.proxy) {
    proxy = new CuttableProxy(relayPort);
    hostRelayUrl = await proxy.listen();
  }
  const host = await startHost({
    configDir: join(dir, 'config'),
    relayUrl: hostRelayUrl,
    token: desktopToken,
    workspaces: [{ path: workspaceDir, policy: options.policy ?? { read: 'allow', write: 'ask', shell: 'ask' } }],
    useKeychain: false,
    env: {},
    healthIntervalMs: 200,
    backoff: { baseMs: 50, maxMs: 400 },
    ...options.host,
  });

  const platform = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${relay.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${platformKey}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const runtimes = async (): Promise<RuntimeView[]> => {
    const { status, body } = await platform('GET', '/v1/runtimes');
    if (status !== 200) throw new Error(`GET /v1/runtimes: ${status}`);
    return (body as { runtimes: RuntimeView[] }).runtimes;
  };
  const stack: Stack & { proxy?: CuttableProxy } = {
    dir,
    get relay() {
      return relay;
    },
    relayDataDir,
    desktopToken,
    platformKey,
    workspaceDir,
    host,
    platform,
    runtimes,
    runtimeIn: (state, timeoutMs) =>
      waitFor(async () => (await runtimes()).find((r) => r.state === state), `a ${state} runtime`, timeoutMs),
    async call(runtimeId, tool, args, extra = {}) {
      const { status, body } = await platform('POST', `/v1/runtimes/${runtimeId}/calls`, { tool, args, ...extra });
      return status === 200 ? { status, result: body.result } : { status, error: body?.error };
    },
    async restartRelay() {
      relay = await startRelay({
        host: '127.0.0.1',
        port: relayPort,
        dataDir: relayDataDir,
        logLevel: 'silent',
        ...options.relay,
      });
    },
    async dispose() {
      await host.dispose();
      await proxy?.close();
      await relay.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (proxy) stack.proxy = proxy;
  if (options.waitConnected !== false) {
    await waitFor(() => host.relay.status.state === 'connected', 'the host to connect').catch(async (err: unknown) => {
      await stack.dispose();
      throw err;
    });
  }
  return stack;
}
