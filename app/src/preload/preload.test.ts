import { readFileSync } from 'node:fs';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { TetherError, type DesktopMethod, type DesktopState } from '@tether/shared';
import type { HostApi, HostEventListener } from '../host/host-api.js';
import { serveChannel } from '../host/ui-server/channel-server.js';
import { desktopState } from '../main/test-fixtures.js';
import type * as Preload from './preload.cjs';
import type { BridgePort, DesktopBridgeCore } from './preload.cjs';

/**
 * Compiles preload.cts the way the build does (TypeScript to CommonJS) and runs it as a
 * sandboxed preload is run: a function of require/exports/module/process. Vite does not
 * transform `.cts`, and this also checks what Electron would actually load.
 */
function loadPreload(processType?: string, electronModule?: unknown): { module: typeof Preload; required: string[] } {
  const source = readFileSync(new URL('./preload.cts', import.meta.url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    fileName: 'preload.cts',
  });
  const required: string[] = [];
  const exports = {};
  const run = new Function('require', 'exports', 'module', 'process', outputText) as (...args: unknown[]) => void;
  const require = (name: string) => {
    required.push(name);
    return electronModule;
  };
  run(require, exports, { exports }, { type: processType });
  return { module: exports as typeof Preload, required };
}

/**
 * A recording stand-in for the sandboxed preload's `electron` module (contextBridge and
 * ipcRenderer exist only inside Electron's renderer), to check the preload's wiring.
 */
class PreloadElectron {
  readonly exposed = new Map<string, unknown>();
  readonly listeners = new Map<string, (event: { ports: unknown[] }, ...args: unknown[]) => void>();
  readonly invoked: unknown[][] = [];
  readonly sent: unknown[][] = [];
  readonly contextBridge = {
    exposeInMainWorld: (key: string, api: unknown) => this.exposed.set(key, api),
  };
  readonly ipcRenderer = {
    on: (channel: string, listener: (event: { ports: unknown[] }, ...args: unknown[]) => void) =>
      this.listeners.set(channel, listener),
    invoke: async (...args: unknown[]) => {
      this.invoked.push(args);
      return '/home/me/picked';
    },
    send: (...args: unknown[]) => this.sent.push(args),
  };
}

const { module: preload, required: requiredAtLoad } = loadPreload();
const { createDesktopBridge } = preload;

/** A small in-memory HostApi; the real host is exercised by its own tests. */
class MemoryHost implements HostApi {
  state: DesktopState = desktopState();
  readonly listeners = new Set<HostEventListener>();
  requests = 0;
  hang = false;
  async request<M extends DesktopMethod>(method: M): Promise<never> {
    this.requests++;
    if (this.hang) return new Promise<never>(() => {});
    if (method === 'state:get') return this.state as never;
    throw new TetherError('not_found', `no ${method} here`);
  }
  subscribe(listener: HostEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

describe('preload.cts', () => {
  it('requires nothing at load outside a renderer, and only electron inside one', () => {
    expect(requiredAtLoad).toEqual([]);
    const source = readFileSync(new URL('./preload.cts', import.meta.url), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, removeComments: true },
    });
    const requires = [...outputText.matchAll(/require\((['"])(.*?)\1\)/g)].map((m) => m[2]);
    expect(requires).toEqual(['electron']);
  });
});

describe('preload install (in a renderer)', () => {
  it('exposes exactly window.tetherDesktop with request, on, pickFolder and notify', async () => {
    const electron = new PreloadElectron();
    const { required } = loadPreload('renderer', electron);
    expect(required).toEqual(['electron']);
    expect([...electron.exposed.keys()]).toEqual(['tetherDesktop']);
    const bridge = electron.exposed.get('tetherDesktop') as Record<string, (...args: unknown[]) => unknown>;
    expect(Object.keys(bridge).sort()).toEqual(['notify', 'on', 'pickFolder', 'request']);
    expect([...electron.listeners.keys()].sort()).toEqual(['tether:host-status', 'tether:port']);

    await expect(bridge.pickFolder?.()).resolves.toBe('/home/me/picked');
    expect(electron.invoked).toEqual([['dialog:pickFolder']]);
    bridge.notify?.('Title', 'Body');
    expect(electron.sent).toEqual([['notification:show', { title: 'Title', body: 'Body' }]]);

    // A port from main on 'tether:port' carries the requests to the host.
    const host = new MemoryHost();
    const { port1, port2 } = new MessageChannel();
    const detach = serveChannel(host, {
      send: (m) => port1.postMessage(m),
      onMessage: (cb) => port1.on('message', cb),
      onClose: (cb) => port1.on('close', cb),
    });
    try {
      const answer = bridge.request?.('state:get', {});
      electron.listeners.get('tether:port')?.({ ports: [port2] });
      await expect(answer).resolves.toEqual(host.state);
    } finally {
      detach();
      port1.close();
      port2.close();
    }
  });
});

describe('createDesktopBridge', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  /** Serves a host on one end of a real MessageChannel and returns the other end for the bridge. */
  function hostPort(host: MemoryHost): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const detach = serveChannel(host, {
      send: (m) => port1.postMessage(m),
      onMessage: (cb) => port1.on('message', cb),
      onClose: (cb) => port1.on('close', cb),
    });
    cleanups.push(() => {
      detach();
      port1.close();
      port2.close();
    });
    return port2;
  }

  function bridge(timeoutMs = 20_000): DesktopBridgeCore {
    const core = createDesktopBridge({ requestTimeoutMs: timeoutMs });
    cleanups.push(() => core.dispose());
    return core;
  }

  describe('request', () => {
    it('queues requests until the port arrives, then answers them', async () => {
      const host = new MemoryHost();
      const core = bridge();
      const answer = core.api.request('state:get', {});
      core.attachPort(hostPort(host) as unknown as BridgePort);
      await expect(answer).resolves.toEqual(host.state);
    });

    it("rejects with the host's code and message as plain data (it must cross the context bridge)", async () => {
      const core = bridge();
      core.attachPort(hostPort(new MemoryHost()) as unknown as BridgePort);
      const error: unknown = await core.api.request('workspace:remove', { id: 'x' }).catch((e: unknown) => e);
      expect(error).toEqual({ code: 'not_found', message: 'no workspace:remove here' });
      expect(Object.getPrototypeOf(error)).toBe(Object.prototype);
    });

    it('times out a request the host never answers', async () => {
      const host = new MemoryHost();
      host.hang = true;
      const core = bridge(50);
      core.attachPort(hostPort(host) as unknown as BridgePort);
      await expect(core.api.request('state:get', {})).rejects.toMatchObject({ code: 'timeout' });
    });
  });

  describe('attachPort', () => {
    it('after a host restart, fails what the old host never answered and refreshes the state', async () => {
      const oldHost = new MemoryHost();
      oldHost.hang = true;
      const core = bridge();
      core.attachPort(hostPort(oldHost) as unknown as BridgePort);
      const states: DesktopState[] = [];
      core.api.on('state:changed', (state) => states.push(state));
      const lost = core.api.request('state:get', {});
      await expect.poll(() => oldHost.requests).toBe(1);

      const newHost = new MemoryHost();
      newHost.state = desktopState({ hasToken: false });
      core.attachPort(hostPort(newHost) as unknown as BridgePort);
      await expect(lost).rejects.toMatchObject({ code: 'unavailable' });
      await expect.poll(() => states.at(-1)?.hasToken).toBe(false);
      await expect(core.api.request('state:get', {})).resolves.toMatchObject({ hasToken: false });
    });
  });

  describe('on', () => {
    it('delivers host events until unsubscribed', async () => {
      const host = new MemoryHost();
      const core = bridge();
      core.attachPort(hostPort(host) as unknown as BridgePort);
      const seen: boolean[] = [];
      const off = core.api.on('state:changed', (state) => seen.push(state.hasToken));
      await core.api.request('state:get', {}); // the subscription is live once a round trip is done
      for (const listener of host.listeners) listener('state:changed', desktopState({ hasToken: false }));
      await expect.poll(() => seen).toEqual([false]);
      off();
      for (const listener of host.listeners) listener('state:changed', desktopState());
      await core.api.request('state:get', {});
      expect(seen).toEqual([false]);
    });
  });

  describe('hostStatus', () => {
    it('shows the connection in error with the reason while the host restarts, and queues new requests', async () => {
      const host = new MemoryHost();
      const core = bridge();
      core.attachPort(hostPort(host) as unknown as BridgePort);
      await core.api.request('state:get', {});
      const states: DesktopState[] = [];
      core.api.on('state:changed', (state) => states.push(state));
      core.hostStatus({ status: 'restarting', detail: 'The Tether host stopped (exit code 1); restarting in 1 s.' });
      expect(states.at(-1)?.connection).toMatchObject({
        state: 'error',
        reason: expect.stringContaining('restarting'),
      });

      const queued = core.api.request('state:get', {});
      core.attachPort(hostPort(new MemoryHost()) as unknown as BridgePort);
      await expect(queued).resolves.toMatchObject({ connection: { state: 'connected' } });
    });
  });
});
