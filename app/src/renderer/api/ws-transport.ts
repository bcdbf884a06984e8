import type { DesktopClient } from '@tether/shared';

/** The subprotocols of the headless UI server (app/src/host/ui-server/ui-server.ts). */
const UI_PROTOCOL = 'tether.v1';
const UI_SECRET_PROTOCOL_PREFIX = 'tether.secret.';
/** Waits between reconnect attempts: the host is local, so a short, capped wait is enough. */
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000];

/** Whether the page currently has a channel to the host. */
export type LinkState = 'connecting' | 'open' | 'closed';

/**
 * Keeps the WebSocket to the headless host open. The secret travels in the
 * Sec-WebSocket-Protocol header (never in a URL), and the server checks Origin and Host too.
 */
export class WsTransport {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  state: LinkState = 'connecting';

  constructor(
    private readonly secret: string,
    private readonly client: DesktopClient,
    private readonly onState: (s: LinkState) => void,
  ) {}

  /** Sends one message; false when the socket is not open. */
  send(text: string): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  connect(): void {
    if (this.disposed) return;
    const url = `ws://${location.host}/api`;
    const ws = new WebSocket(url, [UI_PROTOCOL, UI_SECRET_PROTOCOL_PREFIX + this.secret]);
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => {
      this.attempt = 0;
      this.setState('open');
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      try {
        this.client.receive(JSON.parse(ev.data));
      } catch {
        // Not JSON: ignore, like any other malformed message.
      }
    };
    ws.onclose = () => {
      this.client.failPending();
      if (this.disposed) return;
      this.setState('closed');
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt++, RECONNECT_DELAYS_MS.length - 1)];
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }

  private setState(s: LinkState): void {
    this.state = s;
    this.onState(s);
  }
}
