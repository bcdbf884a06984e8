import { DesktopClient, type DesktopApi } from '@tether/shared';
import { electronBridge } from './desktop-bridge.js';
import { WsTransport, type LinkState } from './ws-transport.js';

/** Key under which the tab keeps the secret after it is taken out of the address bar. */
const SECRET_STORAGE_KEY = 'tether.uiSecret';

/** The API the UI uses, how it reaches the host, and whether that link is up. */
export interface Connection {
  api: DesktopApi;
  kind: 'electron' | 'browser';
  /** Calls back on every link change (always 'open' under Electron); returns an unsubscribe. */
  onLink(cb: (s: LinkState) => void): () => void;
  link(): LinkState;
  /** The folder picker under Electron; undefined in a browser (the UI shows a path field). */
  pickFolder?: () => Promise<string | null>;
}

/** Why the browser cannot reach the host (no secret in the URL). */
export class MissingSecretError extends Error {}

/** Connects to the host: the preload's bridge under Electron, else the local WebSocket. */
export function connect(): Connection {
  const bridge = electronBridge();
  if (bridge) {
    return {
      api: bridge,
      kind: 'electron',
      onLink: () => () => {},
      link: () => 'open',
      pickFolder: () => bridge.pickFolder(),
    };
  }
  const secret = takeSecret();
  if (!secret)
    throw new MissingSecretError('Open the address that tether-desktop printed: it carries a secret after #secret=.');
  const listeners = new Set<(s: LinkState) => void>();
  // The client's send closes over the transport, which is created right after it.
  const client: DesktopClient = new DesktopClient((msg) => transport.send(JSON.stringify(msg)));
  const transport = new WsTransport(secret, client, (s) => listeners.forEach((l) => l(s)));
  transport.connect();
  // A new address pasted into this tab (a restarted host's) differs only after `#`: the browser
  // does not load the page again by itself, and this tab would keep the dead key.
  window.addEventListener('hashchange', () => {
    if (/(?:^#|&)secret=/.test(location.hash)) location.reload();
  });
  return {
    api: client,
    kind: 'browser',
    onLink: (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    link: () => transport.state,
  };
}

/** Reads the secret from `#secret=…`, keeps it for reloads of this tab, and clears it from the address bar. */
function takeSecret(): string | undefined {
  const match = /(?:^#|&)secret=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (match?.[1]) {
    sessionStorage.setItem(SECRET_STORAGE_KEY, match[1]);
    history.replaceState(null, '', location.pathname + location.search);
    return match[1];
  }
  return sessionStorage.getItem(SECRET_STORAGE_KEY) ?? undefined;
}
