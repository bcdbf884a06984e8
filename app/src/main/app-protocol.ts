import { extname, join, normalize, sep } from 'node:path';

/**
 * The renderer is served from a private `tether://app/` scheme, not `file://`: a page on a
 * file URL may read any file on disk and webRequest does not reliably see file responses, so
 * a CSP header could not be set. Our own scheme serves only the built UI folder, with the
 * CSP and nosniff headers on every response (Electron security checklist: "use custom
 * protocols instead of file://").
 */
export const APP_SCHEME = 'tether';
export const APP_HOST = 'app';
/** The renderer's entry URL. */
export const APP_INDEX_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

/** A file of the built UI that a `tether://app/…` URL names. */
export interface AppAsset {
  path: string;
  contentType: string;
}

/**
 * Maps a request URL to a file inside `rendererDir`, or null (→ 404) for another host, a
 * path that leaves the folder (`..`, encoded or not), a NUL byte or an unknown file type.
 */
export function resolveAppAsset(requestUrl: string, rendererDir: string): AppAsset | null {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) return null;
  const relative = pathname === '/' || pathname === '' ? 'index.html' : pathname.replace(/^\/+/, '');
  const root = normalize(rendererDir.endsWith(sep) ? rendererDir : rendererDir + sep);
  const path = normalize(join(root, relative));
  if (!path.startsWith(root)) return null;
  const contentType = CONTENT_TYPES[extname(path).toLowerCase()];
  return contentType ? { path, contentType } : null;
}
