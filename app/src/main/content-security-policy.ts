/**
 * The renderer's Content-Security-Policy. The UI is a bundled React app loaded from the app's
 * own files: it needs its own scripts, styles and images and nothing from the network (it
 * talks to the host over a MessagePort, not HTTP). Set both as a response header (via
 * session.webRequest) and as a <meta> tag, because file:// responses do not always pass
 * through webRequest.
 */
export interface CspOptions {
  /** The Vite dev server's origin in development (never in a packaged app). */
  devServerOrigin?: string;
}

/** Builds the CSP string; with a dev server it also allows that origin and its HMR socket. */
export function buildContentSecurityPolicy(options: CspOptions = {}): string {
  const dev = options.devServerOrigin;
  const devSocket = dev ? dev.replace(/^http/, 'ws') : undefined;
  const directives: Record<string, string[]> = {
    'default-src': ["'none'"],
    // Vite's React refresh preamble is an inline script: allowed in development only.
    'script-src': ["'self'", ...(dev ? [dev, "'unsafe-inline'"] : [])],
    'style-src': ["'self'", ...(dev ? [dev, "'unsafe-inline'"] : [])],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'connect-src': ["'self'", ...(dev && devSocket ? [dev, devSocket] : [])],
    'object-src': ["'none'"],
    'frame-src': ["'none'"],
    'worker-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  };
  return Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(' ')}`)
    .join('; ');
}

/**
 * Returns response headers with our CSP in place of any the response carried: a header
 * case-variant (`content-security-policy`) left behind would be enforced too.
 */
export function withContentSecurityPolicy(
  headers: Record<string, string[]> | undefined,
  csp: string,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'content-security-policy') out[name] = value;
  }
  out['Content-Security-Policy'] = [csp];
  return out;
}
