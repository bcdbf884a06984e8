/**
 * Derives the WebSocket endpoint of a relay from the URL a person types. Accepts the relay's
 * base URL in any of its forms (`http://127.0.0.1:8787`, `https://relay.example`,
 * `ws://…`, `wss://…/v1/connect`) so the same setting serves the platform API and the app.
 * Throws with a plain message for anything that is not an http(s)/ws(s) URL. A URL that
 * carries a username, password, query or fragment is refused: tokens never travel in URLs.
 */
export function connectUrlOf(relayUrl: string): URL {
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
  const connect = new URL(url.href);
  connect.protocol = scheme;
  const path = url.pathname.replace(/\/+$/, '');
  connect.pathname = path.endsWith('/v1/connect') ? path : `${path}/v1/connect`;
  return connect;
}
