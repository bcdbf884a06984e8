/**
 * The window's preload: exposes `window.tetherDesktop` (the DesktopApi plus the folder
 * picker and notifications) and nothing else. It runs sandboxed, so it is one CommonJS file
 * whose only runtime import is `electron` (sandboxed preloads cannot require other files);
 * the @tether/shared imports are types only.
 *
 * Requests and events travel over a MessagePort straight to the host process, which main
 * hands over on 'tether:port' after each page load and again after a host restart.
 */
import type {
  ChannelMessage,
  DesktopApi,
  DesktopEvent,
  DesktopEventPayload,
  DesktopMethod,
  DesktopParams,
  DesktopResult,
  DesktopState,
} from '@tether/shared';
import type * as Electron from 'electron';

/** What the renderer gets on `window.tetherDesktop`. */
export type TetherDesktopBridge = DesktopApi & {
  pickFolder(): Promise<string | null>;
  notify(title: string, body: string): void;
};

/** The DOM MessagePort the preload receives, as far as it is used. */
export interface BridgePort {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

/** How the host process is doing, from main ('tether:host-status'). */
export interface HostStatusMessage {
  status: 'starting' | 'running' | 'restarting' | 'failed';
  detail?: string;
}

/** The error a request rejects with: plain data, so it survives the context bridge intact. */
export interface BridgeError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The bridge's parts: the API for the page, and the inputs main feeds it. */
export interface DesktopBridgeCore {
  api: DesktopApi;
  /** A new port to the host (first load, or after a host restart). */
  attachPort(port: BridgePort): void;
  hostStatus(message: HostStatusMessage): void;
  dispose(): void;
}

/** A request the host has not answered after this long has failed (matches main's MAIN_REQUEST_TIMEOUT_MS). */
export const BRIDGE_REQUEST_TIMEOUT_MS = 60_000;
/** Requests waiting for a port (host starting or restarting) beyond this count are refused. */
export const MAX_QUEUED_REQUESTS = 200;

const STATE_RESULTS = new Set<DesktopMethod>(['state:get', 'connection:set', 'settings:update']);

interface Pending {
  method: DesktopMethod;
  resolve(value: unknown): void;
  reject(error: BridgeError): void;
  timer: ReturnType<typeof setTimeout>;
  /** Posted to a port (false while it waits in the queue for one). */
  sent: boolean;
}

type Listener = (payload: unknown) => void;

function bridgeError(code: string, message: string): BridgeError {
  return { code, message };
}

/**
 * The DesktopApi over a replaceable MessagePort. Requests made before a port exists are
 * queued; a port replaced after a host restart fails the requests the old host never
 * answered, and listeners get a fresh `state:changed` from the new host. While the host is
 * down, listeners see the last state with the connection in `error` and the reason.
 */
export function createDesktopBridge(options: { requestTimeoutMs?: number } = {}): DesktopBridgeCore {
  const timeoutMs = options.requestTimeoutMs ?? BRIDGE_REQUEST_TIMEOUT_MS;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<Listener>>();
  let queue: ChannelMessage[] = [];
  let port: BridgePort | null = null;
  let ports = 0;
  let nextId = 1;
  let lastState: DesktopState | null = null;
  let disposed = false;

  function emit(event: string, payload: unknown): void {
    if (event === 'state:changed') lastState = payload as DesktopState;
    for (const listener of listeners.get(event) ?? []) {
      try {
        listener(payload);
      } catch (err) {
        // One failing listener must not starve the others.
        console.error('tetherDesktop listener failed', err);
      }
    }
  }

  /** Rejects the requests a host has (or, with `all`, every waiting one). */
  function failPending(code: string, message: string, all = false): void {
    for (const [id, call] of pending) {
      if (!call.sent && !all) continue;
      clearTimeout(call.timer);
      pending.delete(id);
      call.reject(bridgeError(code, message));
    }
  }

  function receive(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return;
    const message = raw as Partial<ChannelMessage> & Record<string, unknown>;
    if (message.kind === 'event' && typeof message.event === 'string') {
      emit(message.event, message.payload);
      return;
    }
    if (message.kind !== 'response' || typeof message.id !== 'number') return;
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    clearTimeout(call.timer);
    if (message.ok === true) {
      if (STATE_RESULTS.has(call.method)) lastState = message.result as DesktopState;
      call.resolve(message.result);
      return;
    }
    const error = (message.error ?? {}) as Partial<BridgeError>;
    call.reject({
      code: typeof error.code === 'string' ? error.code : 'internal',
      message: typeof error.message === 'string' ? error.message : 'Something went wrong.',
      ...(error.details && typeof error.details === 'object' ? { details: error.details } : {}),
    });
  }

  function send(message: ChannelMessage): void {
    if (!port) {
      queue.push(message);
      return;
    }
    if (message.kind === 'request') {
      const call = pending.get(message.id);
      if (!call) return; // timed out while queued
      call.sent = true;
    }
    port.postMessage(message);
  }

  const api: DesktopApi = {
    request<M extends DesktopMethod>(method: M, params: DesktopParams<M>): Promise<DesktopResult<M>> {
      if (disposed) return Promise.reject(bridgeError('unavailable', 'The window is closing.'));
      if (!port && queue.length >= MAX_QUEUED_REQUESTS) {
        return Promise.reject(bridgeError('unavailable', 'The Tether host is not running.'));
      }
      const id = nextId++;
      return new Promise<DesktopResult<M>>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          queue = queue.filter((queued) => !(queued.kind === 'request' && queued.id === id));
          reject(bridgeError('timeout', `The Tether host did not answer ${method} in time.`));
        }, timeoutMs);
        pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer, sent: false });
        send({ kind: 'request', id, method, params });
      });
    },
    on<E extends DesktopEvent>(event: E, listener: (payload: DesktopEventPayload<E>) => void): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const wrapped = listener as Listener;
      set.add(wrapped);
      return () => {
        set.delete(wrapped);
      };
    },
  };

  return {
    api,
    attachPort(next) {
      if (disposed) {
        next.close();
        return;
      }
      const replacing = ports > 0;
      ports++;
      if (port) {
        port.onmessage = null;
        port.close();
      }
      // Requests already sent to the old host died with it; queued ones go to the new one.
      failPending('unavailable', 'The Tether host restarted; try again.');
      port = next;
      next.onmessage = (event) => receive(event.data);
      const queued = queue;
      queue = [];
      for (const message of queued) send(message);
      if (replacing && listeners.get('state:changed')?.size) {
        api.request('state:get', {}).then(
          (state) => emit('state:changed', state),
          () => {},
        );
      }
    },
    hostStatus(message) {
      if (message.status !== 'restarting' && message.status !== 'failed') return;
      if (port) {
        port.onmessage = null;
        port.close();
        port = null;
      }
      failPending('unavailable', message.detail ?? 'The Tether host stopped.');
      // Requests made from now on wait in the queue for the restarted host.
      if (lastState) {
        const reason = message.detail ?? 'The Tether host stopped.';
        emit('state:changed', { ...lastState, connection: { ...lastState.connection, state: 'error', reason } });
      }
    },
    dispose() {
      disposed = true;
      failPending('unavailable', 'The window is closing.', true);
      queue = [];
      listeners.clear();
      port?.close();
      port = null;
    },
  };
}

/** Wires the bridge to Electron and exposes it; runs only inside a renderer. */
function install(): void {
  // A lazy require: this file is also loaded by its unit test under plain Node, where
  // electron is only an npm package. In the sandbox, require('electron') is the real module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { contextBridge, ipcRenderer } = require('electron') as typeof Electron;
  const core = createDesktopBridge();
  ipcRenderer.on('tether:port', (event) => {
    const next = event.ports[0] as unknown as BridgePort | undefined;
    if (next) core.attachPort(next);
  });
  ipcRenderer.on('tether:host-status', (_event, message: HostStatusMessage) => core.hostStatus(message));
  const bridge: TetherDesktopBridge = {
    request: (method, params) => core.api.request(method, params),
    on: (event, listener) => core.api.on(event, listener),
    pickFolder: () => ipcRenderer.invoke('dialog:pickFolder') as Promise<string | null>,
    notify: (title, body) => ipcRenderer.send('notification:show', { title: String(title), body: String(body) }),
  };
  contextBridge.exposeInMainWorld('tetherDesktop', bridge);
}

if (typeof process !== 'undefined' && process.type === 'renderer') install();
