import {
  DESKTOP_EVENTS,
  DESKTOP_REQUESTS,
  TetherError,
  channelMessageSchema,
  type ChannelMessage,
  type DesktopApi,
  type DesktopEvent,
  type DesktopEventPayload,
  type DesktopMethod,
  type DesktopParams,
  type DesktopResult,
} from '@tether/shared';

type Listener = (payload: unknown) => void;

/**
 * A DesktopApi over a message channel (the headless host's WebSocket). Every incoming message
 * is validated with the shared schemas: the response envelope, each result against its
 * method's result schema, each event payload against its event schema; anything else is dropped.
 */
export class ChannelClient implements DesktopApi {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { method: DesktopMethod; resolve(v: unknown): void; reject(e: unknown): void }
  >();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly send: (msg: ChannelMessage) => boolean) {}

  request<M extends DesktopMethod>(method: M, params: DesktopParams<M>): Promise<DesktopResult<M>> {
    const id = this.nextId++;
    return new Promise<DesktopResult<M>>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      if (!this.send({ kind: 'request', id, method, params })) {
        this.pending.delete(id);
        reject(new TetherError('unavailable', 'Not connected to the Tether host.'));
      }
    });
  }

  on<E extends DesktopEvent>(event: E, listener: (payload: DesktopEventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const l = listener as Listener;
    set.add(l);
    return () => set.delete(l);
  }

  /** Feeds one raw incoming message (already JSON-parsed). */
  receive(raw: unknown): void {
    const parsed = channelMessageSchema.safeParse(raw);
    if (!parsed.success) return;
    const msg = parsed.data;
    if (msg.kind === 'event') {
      if (!Object.hasOwn(DESKTOP_EVENTS, msg.event)) return;
      const payload = DESKTOP_EVENTS[msg.event as DesktopEvent].safeParse(msg.payload);
      if (!payload.success) return;
      for (const l of this.listeners.get(msg.event) ?? []) l(payload.data);
      return;
    }
    if (msg.kind !== 'response') return;
    const call = this.pending.get(msg.id);
    if (!call) return;
    this.pending.delete(msg.id);
    if (!msg.ok) {
      call.reject(new TetherError(msg.error.code, msg.error.message, msg.error.details));
      return;
    }
    const result = DESKTOP_REQUESTS[call.method].result.safeParse(msg.result);
    if (result.success) call.resolve(result.data);
    else call.reject(new TetherError('internal', 'The host sent a result this UI does not understand.'));
  }

  /** Fails every request still waiting (the channel closed). */
  failPending(): void {
    for (const call of this.pending.values())
      call.reject(new TetherError('unavailable', 'The connection to the Tether host closed.'));
    this.pending.clear();
  }
}
