import { DesktopClient } from '@tether/shared';
import { MAIN_REQUEST_TIMEOUT_MS } from './main-limits.js';

/** A duplex message port, the same shape the host's channel server takes. */
export interface ChannelPortLike {
  send(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/**
 * The main process's own DesktopApi client (the tray needs the host's state): the shared
 * `DesktopClient` over a MessagePort, with a request timeout. It fails every request once the
 * host side closes the port.
 */
export class ChannelClient extends DesktopClient {
  constructor(port: ChannelPortLike, options: { timeoutMs?: number } = {}) {
    super((message) => port.send(message), {
      timeoutMs: options.timeoutMs ?? MAIN_REQUEST_TIMEOUT_MS,
      onDispose: () => port.close(),
    });
    port.onMessage((message) => this.receive(message));
    port.onClose(() => this.close('The host closed the channel.'));
  }
}
