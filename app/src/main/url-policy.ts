import { APP_HOST, APP_SCHEME } from './app-protocol.js';

/**
 * Which URLs are the app itself. Every IPC handler, navigation, new-window and permission
 * decision in the main process goes through here, so "is this our renderer?" has one answer.
 * Electron-free: the glue passes in plain URLs.
 */
export interface UrlPolicyOptions {
  /** The Vite dev server (development only; main never passes it when the app is packaged). */
  devServerUrl?: string;
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
  readonly #devOrigin: string | undefined;

  constructor(options: UrlPolicyOptions = {}) {
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

  /** True for a page of the app's own scheme (tether://app/…) or, in development, the dev server. */
  isAppUrl(url: string): boolean {
    const parsed = parse(url);
    if (!parsed) return false;
    // Node gives non-special schemes an opaque origin, so compare scheme, host and port.
    if (parsed.protocol === `${APP_SCHEME}:`)
      return parsed.host === APP_HOST && parsed.username === '' && parsed.password === '';
    return this.#devOrigin !== undefined && /^https?:$/.test(parsed.protocol) && parsed.origin === this.#devOrigin;
  }

  /** True when an IPC message came from the app's own page in a window's main frame. */
  isTrustedSender(frame: SenderFrame | null | undefined): boolean {
    return frame != null && frame.isMainFrame && this.isAppUrl(frame.url);
  }

  /**
   * Navigation away from the loaded page is always refused: the UI is a single page (hash
   * routes are not navigations), and a compromised page must not swap itself for a remote
   * one that keeps the preload's API.
   */
  allowNavigation(_url: string): boolean {
    return false;
  }

  /** New windows are always denied; https links go to the person's browser instead. */
  windowOpen(url: string): WindowOpenDecision {
    const parsed = parse(url);
    return { action: 'deny', openExternally: parsed !== null && parsed.protocol === 'https:' };
  }

  /** Only the app's own page, and only for notifications (no camera, geolocation, …). */
  allowPermission(permission: string, requestingUrl: string): boolean {
    return ALLOWED_PERMISSIONS.has(permission) && this.isAppUrl(requestingUrl);
  }
}

/** What the person is asked before a link leaves the app for their browser. */
export interface ExternalLinkQuestion {
  /** The URL that will be opened, as the browser will read it (normalized, IDN as punycode). */
  url: string;
  /** Where it really goes: the host after any user-info, in ASCII (a look-alike name shows as xn--…). */
  host: string;
  /** Set when the link is built to mislead (a user name or password before the host). */
  warning?: string;
}

/**
 * The confirmation for opening `url` in the person's browser, or null when it may not be
 * opened at all (anything but https). The host shown is the one the browser will contact:
 * in `https://github.com@evil.example/` that is evil.example, however the text reads.
 */
export function externalLinkQuestion(url: string): ExternalLinkQuestion | null {
  const parsed = parse(url);
  if (parsed === null || parsed.protocol !== 'https:' || parsed.hostname === '') return null;
  const question: ExternalLinkQuestion = { url: parsed.href, host: parsed.host };
  if (parsed.username !== '' || parsed.password !== '') {
    question.warning = `The link puts "${decodeURIComponent(parsed.username)}${parsed.password ? ':…' : ''}" before the address to look like another site: it goes to ${parsed.host}.`;
  }
  return question;
}
