import type { WebPreferences } from 'electron';

/**
 * The one set of web preferences every Tether window uses (STYLE.md 12, Electron's security
 * checklist): the renderer is an untrusted web page that reaches the host only through the
 * DesktopApi the preload exposes. Type-only import of electron: this module runs anywhere.
 */
export function createWebPreferences(preloadPath: string, options: { packaged: boolean }): WebPreferences {
  return {
    preload: preloadPath,
    // DevTools in an installed app would let anyone at the keyboard (or a page that tricks them)
    // run code with the preload's DesktopApi: development builds only.
    devTools: !options.packaged,
    // The preload and the page live in separate JavaScript worlds; the page sees only what
    // contextBridge copies over.
    contextIsolation: true,
    // The renderer runs in Chromium's OS sandbox; the preload gets only electron's
    // sandboxed module set, which is why it is one self-contained CommonJS file.
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    // Nothing in the UI needs these; each is attack surface if a page is ever compromised.
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
  };
}
