import {
  DESKTOP_REQUESTS,
  channelMessageSchema,
  errorValue,
  toErrorValue,
  type ChannelMessage,
  type DesktopMethod,
  type ToolErrorValue,
} from '@tether/shared';
import type { HostApi } from '../host-api.js';

/** One end of a duplex message channel (a WebSocket, an Electron MessagePort). */
export interface ChannelPort {
  send(msg: ChannelMessage): void;
  onMessage(cb: (raw: unknown) => void): void;
  onClose(cb: () => void): void;
}

/** Options of `serveChannel`. */
export interface ServeChannelOptions {
  /** True when a person on the far side sees and answers confirmations (a UI window). */
  answersConfirmations?: boolean;
}

/**
 * Serves the DesktopApi over one channel: validates every incoming message with
 * `channelMessageSchema`, runs requests through the host and sends their responses (errors as
 * `{ code, message }` values, never stack traces), and forwards host events. The host itself
 * validates each request's params. Returns a function that detaches it; closing the port does too.
 */
export function serveChannel(api: HostApi, port: ChannelPort, options: ServeChannelOptions = {}): () => void {
  let open = true;
  const unsubscribe = api.subscribe(
    (event, payload) => {
      if (open) safeSend(port, { kind: 'event', event, payload });
    },
    { answersConfirmations: options.answersConfirmations ?? false },
  );

  const dispose = (): void => {
    if (!open) return;
    open = false;
    unsubscribe();
  };

  port.onMessage((raw) => {
    if (!open) return;
    const parsed = channelMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // A request with a usable id gets an error response; anything else is dropped.
      const id = requestIdOf(raw);
      if (id !== undefined)
        respondError(port, id, errorValue('invalid_request', 'The message is not a valid channel message.'));
      return;
    }
    const msg = parsed.data;
    // Only requests flow from the UI to the host; responses and events from the UI are ignored.
    if (msg.kind !== 'request') return;
    if (!Object.hasOwn(DESKTOP_REQUESTS, msg.method)) {
      respondError(port, msg.id, errorValue('invalid_request', `There is no method "${msg.method.slice(0, 64)}".`));
      return;
    }
    void run(api, msg.method, msg.params).then(
      (result) => {
        if (open) safeSend(port, { kind: 'response', id: msg.id, ok: true, result });
      },
      (err: unknown) => {
        if (open) respondError(port, msg.id, toErrorValue(err));
      },
    );
  });
  port.onClose(dispose);
  return dispose;
}

async function run(api: HostApi, method: string, params: unknown): Promise<unknown> {
  // The host rejects unknown methods and bad params with TetherError values.
  return api.request(method as DesktopMethod, params);
}

function respondError(port: ChannelPort, id: number, error: ToolErrorValue): void {
  safeSend(port, { kind: 'response', id, ok: false, error });
}

function safeSend(port: ChannelPort, msg: ChannelMessage): void {
  try {
    port.send(msg);
  } catch {
    // The far side went away between the check and the send; its close handler cleans up.
  }
}

function requestIdOf(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { kind, id } = raw as { kind?: unknown; id?: unknown };
  return kind === 'request' && typeof id === 'number' && Number.isInteger(id) ? id : undefined;
}
