/**
 * Derives the WebSocket endpoint of a relay from the URL a person types. Accepts the relay's
 * base URL in any of its forms (`http://127.0.0.1:8787`, `https://relay.example`,
 * `ws://…`, `wss://…/v1/connect`) so the same setting serves the platform API and the app.
 * Throws with a plain message for anything that is not an http(s)/ws(s) URL. A URL that
 * carries a username, password, query or fragment is refused: tokens never travel in URLs.
 * An unencrypted (`http:`/`ws:`) relay is refused unless it is on this machine or
 * `allowInsecure` (the person started Tether with `--insecure-relay`).
 */
export function connectUrlOf(relayUrl: string, options: { allowInsecure?: boolean } = {}): URL {
  let url: URL;
  try {
    url = new URL(relayUrl.trim());
  } catch {
    throw new Error(`Not a relay URL: "${relayUrl}" (expected e.g. https://relay.example or http://127.0.0.1:8787)`);
  }
  const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[url.protocol];
  if (scheme === undefined)
    throw new Error(`Unsupported relay URL scheme "${url.protocol}" (use http, https, ws or wss)`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new Error('The relay URL must not carry credentials, a query or a fragment (the token goes in a header)');
  }
  // Unencrypted only to this machine: over a network, ws:// shows the token to every hop and lets
  // any of them be the relay. `--insecure-relay` is the person's explicit choice otherwise.
  if (scheme === 'ws:' && !isLoopbackHost(url.hostname) && options.allowInsecure !== true) {
    throw new Error(
      `Refusing the unencrypted relay ${url.protocol}//${url.host}: use https:// (wss://), or start Tether with --insecure-relay to allow it`,
    );
  }
  const connect = new URL(url.href);
  connect.protocol = scheme;
  const path = url.pathname.replace(/\/+$/, '');
  connect.pathname = path.endsWith('/v1/connect') ? path : `${path}/v1/connect`;
  return connect;
}

/** True for names and addresses of this machine: `localhost`, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '::1';
}
