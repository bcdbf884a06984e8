import { TetherError } from './errors.js';
import {
  channelMessageSchema,
  DESKTOP_EVENTS,
  DESKTOP_REQUESTS,
  type ChannelMessage,
  type DesktopApi,
  type DesktopEvent,
  type DesktopEventPayload,
  type DesktopMethod,
  type DesktopParams,
  type DesktopResult,
} from './desktop-api.js';

type Listener = (payload: unknown) => void;

/** Timer functions exist in browsers and Node alike; shared/ is typed with neither's library. */
interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const timers = globalThis as unknown as Timers;

interface Pending {
  method: DesktopMethod;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timer: unknown;
}

/** Options of a `DesktopClient`. */
export interface DesktopClientOptions {
  /** A request not answered this long is rejected with `timeout`; no limit when left out. */
  timeoutMs?: number;
  /** Called once by `dispose()`, to close the transport. */
  onDispose?: () => void;
}

/**
 * The client side of the DesktopApi over any message channel (the UI's WebSocket, the
 * Electron main process's MessagePort). The transport hands in what it receives with
 * `receive()`; every message is validated with the shared schemas — the envelope, each result
 * against its method's result schema, each event against its event schema — and anything
 * else is dropped: the other end is another process, and its bugs must not crash this one.
 */
export class DesktopClient implements DesktopApi {
  readonly #send: (message: ChannelMessage) => boolean | void;
  readonly #options: DesktopClientOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #nextId = 1;
  #closed: string | null = null;

  /** `send` returns false when the message could not be sent (the channel is down). */
  constructor(send: (message: ChannelMessage) => boolean | void, options: DesktopClientOptions = {}) {
    this.#send = send;
    this.#options = options;
  }

  /** Sends one request; rejects with a TetherError carrying the host's code on failure. */
  request<M extends DesktopMethod>(method: M, params: DesktopParams<M>): Promise<DesktopResult<M>> {
    if (this.#closed !== null) return Promise.reject(new TetherError('unavailable', this.#closed));
    const id = this.#nextId++;
    return new Promise<DesktopResult<M>>((resolve, reject) => {
      const { timeoutMs } = this.#options;
      const timer =
        timeoutMs === undefined
          ? undefined
          : timers.setTimeout(() => {
              this.#pending.delete(id);
              reject(new TetherError('timeout', `The Tether host did not answer ${method} in time.`));
            }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer });
      if (this.#send({ kind: 'request', id, method, params }) === false) {
        this.#pending.delete(id);
        timers.clearTimeout(timer);
        reject(new TetherError('unavailable', 'Not connected to the Tether host.'));
      }
    });
  }

  /** Listens to one host event until the returned function is called. */
  on<E extends DesktopEvent>(event: E, listener: (payload: DesktopEventPayload<E>) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    const wrapped = listener as Listener;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Feeds one raw incoming message (already JSON-parsed or structured-cloned). */
  receive(raw: unknown): void {
    const parsed = channelMessageSchema.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.kind === 'event') {
      if (!Object.hasOwn(DESKTOP_EVENTS, message.event)) return;
      const payload = DESKTOP_EVENTS[message.event as DesktopEvent].safeParse(message.payload);
      if (!payload.success) return;
      for (const listener of this.#listeners.get(message.event) ?? []) listener(payload.data);
      return;
    }
    if (message.kind !== 'response') return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    timers.clearTimeout(pending.timer);
    if (!message.ok) {
      pending.reject(new TetherError(message.error.code, message.error.message, message.error.details));
      return;
    }
    const result = DESKTOP_REQUESTS[pending.method].result.safeParse(message.result);
    if (result.success) pending.resolve(result.data);
    else
      pending.reject(new TetherError('internal', `The host's answer to ${pending.method} did not match the contract.`));
  }

  /** Fails every request still waiting (the channel dropped; a reconnecting transport carries on). */
  failPending(message = 'The connection to the Tether host closed.'): void {
    for (const pending of this.#pending.values()) {
      timers.clearTimeout(pending.timer);
      pending.reject(new TetherError('unavailable', message));
    }
    this.#pending.clear();
  }

  /** Fails what is pending and every later request (the channel is gone for good). */
  close(message = 'The channel to the Tether host is closed.'): void {
    this.#closed = message;
    this.failPending(message);
  }

  /** Closes, drops every listener and closes the transport. */
  dispose(): void {
    const first = this.#closed === null;
    this.close();
    this.#listeners.clear();
    if (first) this.#options.onDispose?.();
  }
}
