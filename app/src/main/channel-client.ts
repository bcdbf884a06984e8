import {
  channelMessageSchema,
  DESKTOP_EVENTS,
  DESKTOP_REQUESTS,
  TetherError,
  type DesktopApi,
  type DesktopEvent,
  type DesktopEventPayload,
  type DesktopMethod,
  type DesktopParams,
  type DesktopResult,
} from '@tether/shared';
import { MAIN_REQUEST_TIMEOUT_MS } from './main-limits.js';

/** A duplex message port, the same shape the host's channel server takes. */
export interface ChannelPortLike {
  send(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

interface Pending {
  method: DesktopMethod;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

type AnyListener = (payload: unknown) => void;

/**
 * The main process's own DesktopApi client (the tray needs the host's state). Every message
 * from the host is validated with the shared schemas before use: the host is another
 * process, and a bug there must not crash the main process.
 */
export class ChannelClient implements DesktopApi {
  readonly #port: ChannelPortLike;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<DesktopEvent, Set<AnyListener>>();
  #nextId = 1;
  #closed = false;

  constructor(port: ChannelPortLike, options: { timeoutMs?: number } = {}) {
    this.#port = port;
    this.#timeoutMs = options.timeoutMs ?? MAIN_REQUEST_TIMEOUT_MS;
    port.onMessage((message) => this.#receive(message));
    port.onClose(() => this.#fail('The host closed the channel.'));
  }

  /** Sends one request; rejects with a TetherError carrying the host's code on failure. */
  request<M extends DesktopMethod>(method: M, params: DesktopParams<M>): Promise<DesktopResult<M>> {
    if (this.#closed) return Promise.reject(new TetherError('unavailable', 'The host channel is closed.'));
    const id = this.#nextId++;
    return new Promise<DesktopResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TetherError('timeout', `The host did not answer ${method} in time.`));
      }, this.#timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer });
      this.#port.send({ kind: 'request', id, method, params });
    });
  }

  /** Listens to one host event until the returned function is called. */
  on<E extends DesktopEvent>(event: E, listener: (payload: DesktopEventPayload<E>) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    const wrapped = listener as AnyListener;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Rejects what is pending, drops listeners and closes the port. */
  dispose(): void {
    this.#fail('The host channel was closed.');
    this.#listeners.clear();
    this.#port.close();
  }

  #receive(raw: unknown): void {
    const parsed = channelMessageSchema.safeParse(raw);
    if (!parsed.success) return; // Not ours to crash on; the host logs its own bugs.
    const message = parsed.data;
    if (message.kind === 'event') {
      const schema = DESKTOP_EVENTS[message.event as DesktopEvent];
      if (!schema) return;
      const payload = schema.safeParse(message.payload);
      if (!payload.success) return;
      for (const listener of this.#listeners.get(message.event as DesktopEvent) ?? []) listener(payload.data);
      return;
    }
    if (message.kind !== 'response') return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (!message.ok) {
      pending.reject(new TetherError(message.error.code, message.error.message, message.error.details));
      return;
    }
    const result = DESKTOP_REQUESTS[pending.method].result.safeParse(message.result);
    if (result.success) pending.resolve(result.data);
    else
      pending.reject(new TetherError('internal', `The host's answer to ${pending.method} did not match the contract.`));
  }

  #fail(message: string): void {
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new TetherError('unavailable', message));
    }
    this.#pending.clear();
  }
}
