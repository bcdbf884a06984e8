/**
 * Which URLs are the app itself. Every IPC handler, navigation, new-window and permission
 * decision in the main process goes through here, so "is this our renderer?" has one answer.
 * Electron-free: the glue passes in plain URLs.
 */
export interface UrlPolicyOptions {
  /** file:// URL of the built renderer's index.html (the only page a packaged app shows). */
  rendererIndexUrl: string;
  /** The Vite dev server (development only; main never passes it when the app is packaged). */
  devServerUrl?: string;
  /** Windows and default macOS file systems ignore case in paths. */
  caseInsensitivePaths?: boolean;
}

/** Where a frame that sent an IPC message was. */
export interface SenderFrame {
  url: string;
  /** Subframes never get the DesktopApi's privileges, even on an app URL. */
  isMainFrame: boolean;
}

/** What to do with a `window.open` or a target=_blank link. */
export interface WindowOpenDecision {
  action: 'deny';
  /** An https link opens in the person's browser; nothing else leaves the app. */
  openExternally: boolean;
}

const ALLOWED_PERMISSIONS = new Set(['notifications']);

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** Decides about URLs: the app's own pages, trusted IPC senders, navigation, permissions. */
export class UrlPolicy {
  readonly #indexPath: string;
  readonly #devOrigin: string | undefined;
  readonly #caseInsensitive: boolean;

  constructor(options: UrlPolicyOptions) {
    const index = parse(options.rendererIndexUrl);
    if (!index || index.protocol !== 'file:') throw new Error(`rendererIndexUrl must be a file:// URL, got ${options.rendererIndexUrl}`);
    this.#caseInsensitive = options.caseInsensitivePaths ?? false;
    this.#indexPath = this.#normalizePath(index.pathname);
    const dev = options.devServerUrl ? parse(options.devServerUrl) : null;
    if (options.devServerUrl && (!dev || !/^https?:$/.test(dev.protocol))) {
      throw new Error(`devServerUrl must be an http(s) URL, got ${options.devServerUrl}`);
    }
    this.#devOrigin = dev?.origin;
  }

  /** The dev server's origin, when there is one (for the CSP). */
  get devServerOrigin(): string | undefined {
    return this.#devOrigin;
  }

  /** True for the renderer's own page (any hash or query) or, in development, the dev server. */
  isAppUrl(url: string): boolean {
    const parsed = parse(url);
    if (!parsed) return false;
    if (parsed.protocol === 'file:') {
      // A UNC host (file://server/share/...) is never our bundled file.
      return parsed.host === '' && this.#normalizePath(parsed.pathname) === this.#indexPath;
    }
    return this.#devOrigin !== undefined && parsed.origin === this.#devOrigin;
  }

  /** True when an IPC message came from the app's own page in a window's main frame. */
  isTrustedSender(frame: SenderFrame | null | undefined): boolean {
    return frame != null && frame.isMainFrame && this.isAppUrl(frame.url);
  }

  /**
   * Navigation away from the loaded page is always refused: the UI is a single page, and a
   * compromised page must not be able to swap itself for a remote one that keeps the preload.
   */
  allowNavigation(_url: string): boolean {
    return false;
  }

  /** New windows are always denied; https links go to the person's browser instead. */
  windowOpen(url: string): WindowOpenDecision {
    const parsed = parse(url);
    return { action: 'deny', openExternally: parsed !== null && parsed.protocol === 'https:' && !this.isAppUrl(url) };
  }

  /** Only the app's own page, and only for notifications (no camera, geolocation, …). */
  allowPermission(permission: string, requestingUrl: string): boolean {
    return ALLOWED_PERMISSIONS.has(permission) && this.isAppUrl(requestingUrl);
  }

  #normalizePath(pathname: string): string {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      decoded = pathname;
    }
    return this.#caseInsensitive ? decoded.toLowerCase() : decoded;
  }
}
