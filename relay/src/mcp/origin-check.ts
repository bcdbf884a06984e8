/** Hostnames of loopback origins, allowed without configuration (a page on the person's own machine). */
const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Parses `--allowed-origins`: a comma-separated list of origins (`https://app.example`,
 * scheme, host and port only) or `*` for any. Throws with a message naming the bad entry.
 */
export function parseAllowedOrigins(text: string): string[] {
  const origins: string[] = [];
  for (const entry of text.split(',').map((s) => s.trim())) {
    if (entry === '') continue;
    if (entry === '*') {
      origins.push(entry);
      continue;
    }
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`--allowed-origins: "${entry}" is not an origin such as https://app.example`);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== entry.replace(/\/$/, ''))
      throw new Error(`--allowed-origins: "${entry}" is not an origin (scheme://host[:port], no path)`);
    origins.push(url.origin);
  }
  return origins;
}

/**
 * Whether a request with this `Origin` header may use an MCP endpoint (DNS-rebinding and
 * cross-site protection, which the MCP transport spec asks of servers). No Origin: not a
 * browser, allowed (a bearer token is required anyway). Loopback origins are allowed; any
 * other only when listed (or `*` is). An unparsable or `null` origin is refused.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return LOOPBACK_HOSTNAMES.has(url.hostname) || allowed.includes(url.origin);
}
