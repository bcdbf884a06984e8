import { readFile } from 'node:fs/promises';
import { app, dialog, protocol, session, shell, type WebContents } from 'electron';
import { APP_SCHEME, resolveAppAsset } from './app-protocol.js';
import { withContentSecurityPolicy } from './content-security-policy.js';
import { externalLinkQuestion, type UrlPolicy } from './url-policy.js';

/**
 * Electron hardening that is not per window (STYLE.md 12): the private app scheme and its
 * headers, the CSP on every response, the permission handlers and, for every web contents
 * ever created, no new windows, no navigation and no <webview>.
 */

/** Must run before `app.whenReady()`: privileged schemes are fixed at startup. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    // standard + secure: a proper origin for 'self' in the CSP and a secure context;
    // nothing else (no bypassCSP, no service workers, no CORS to it from elsewhere).
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
  ]);
}

/** Serves the built UI on tether://app/ with the CSP, and applies policy to the default session. */
export function hardenSession(options: { rendererDir: string; csp: string; policy: UrlPolicy }): void {
  const { rendererDir, csp, policy } = options;
  protocol.handle(APP_SCHEME, async (request) => {
    if (request.method !== 'GET') return new Response(null, { status: 405 });
    const asset = resolveAppAsset(request.url, rendererDir);
    if (!asset) return new Response('Not found', { status: 404 });
    try {
      const body = await readFile(asset.path);
      return new Response(body, {
        headers: {
          'Content-Type': asset.contentType,
          'Content-Security-Policy': csp,
          'X-Content-Type-Options': 'nosniff',
          'Cross-Origin-Opener-Policy': 'same-origin',
        },
      });
    } catch {
      return new Response('Not found', { status: 404 });
    }
  });

  const ses = session.defaultSession;
  // The dev server's responses (and anything else) get the same CSP as the packaged UI.
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: withContentSecurityPolicy(details.responseHeaders, csp) });
  });
  ses.setPermissionRequestHandler((_contents, permission, callback, details) => {
    callback(policy.allowPermission(permission, details.requestingUrl));
  });
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    policy.allowPermission(permission, requestingOrigin),
  );
  // No device pickers: the UI never asks for HID, serial or USB devices.
  ses.setDevicePermissionHandler(() => false);
}

/** Applies the navigation and window policy to one web contents. */
export function hardenWebContents(contents: WebContents, policy: UrlPolicy): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (policy.windowOpen(url).openExternally) void confirmAndOpen(url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event) => {
    if (!policy.allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (!policy.allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!policy.allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

/** Asks the person before an https link opens in their browser, naming the exact URL and its real host. */
async function confirmAndOpen(url: string): Promise<void> {
  const question = externalLinkQuestion(url);
  if (!question) return;
  const { response } = await dialog.showMessageBox({
    type: question.warning ? 'warning' : 'question',
    buttons: ['Cancel', 'Open in browser'],
    defaultId: 0,
    cancelId: 0,
    message: `Open ${question.host} in your browser?`,
    detail: [question.url, question.warning].filter(Boolean).join('\n\n'),
  });
  if (response === 1) await shell.openExternal(question.url);
}

/** Hardens every web contents the app ever creates, not only the ones we create ourselves. */
export function hardenAllWebContents(policy: UrlPolicy): void {
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, policy));
}
