import { app, BrowserWindow, type WebContents } from 'electron';
import { RENDERER_RELOAD_MIN_INTERVAL_MS } from './main-limits.js';
import { createWebPreferences } from './web-preferences.js';

/** What the main window needs from the rest of main. */
export interface MainWindowOptions {
  preloadPath: string;
  /** tether://app/index.html, or the dev server. */
  url: string;
  /** Start in the tray (launch at login). */
  hidden: boolean;
  /** Called after every page load: the page needs a fresh port to the host. */
  onPageLoaded(contents: WebContents): void;
  /** True once the app is quitting: then close really closes. */
  isQuitting(): boolean;
}

/**
 * The one Tether window. Closing it hides it to the tray (the connection keeps serving the
 * agents); only Quit ends the app. It never gets Node: see createWebPreferences.
 */
export class MainWindow {
  readonly #window: BrowserWindow;

  constructor(options: MainWindowOptions) {
    this.#window = new BrowserWindow({
      width: 1100,
      height: 760,
      minWidth: 720,
      minHeight: 520,
      title: 'Tether',
      show: false,
      autoHideMenuBar: true,
      webPreferences: createWebPreferences(options.preloadPath, { packaged: app.isPackaged }),
    });
    const win = this.#window;
    win.on('close', (event) => {
      if (options.isQuitting()) return;
      event.preventDefault();
      win.hide();
    });
    win.once('ready-to-show', () => {
      if (!options.hidden) win.show();
    });
    win.webContents.on('did-finish-load', () => options.onPageLoaded(win.webContents));
    let lastReload = 0;
    win.webContents.on('render-process-gone', (_event, details) => {
      if (details.reason === 'clean-exit' || Date.now() - lastReload < RENDERER_RELOAD_MIN_INTERVAL_MS) return;
      // The reloaded page gets a fresh port to the host on did-finish-load.
      lastReload = Date.now();
      win.reload();
    });
    void win.loadURL(options.url);
  }

  /** The window's web contents (for IPC sender checks and ports). */
  get webContents(): WebContents {
    return this.#window.webContents;
  }

  /** Whether the person can see it and whether it has focus. */
  get status(): { visible: boolean; focused: boolean } {
    if (this.#window.isDestroyed()) return { visible: false, focused: false };
    return { visible: this.#window.isVisible() && !this.#window.isMinimized(), focused: this.#window.isFocused() };
  }

  /** True for the window's own web contents. */
  owns(contents: WebContents): boolean {
    return !this.#window.isDestroyed() && contents === this.#window.webContents;
  }

  /** Shows, restores and focuses the window. */
  show(): void {
    if (this.#window.isDestroyed()) return;
    if (this.#window.isMinimized()) this.#window.restore();
    this.#window.show();
    this.#window.focus();
  }

  /** Keeps the window above others while a confirmation waits (DESIGN.md: an always-on-top dialog). */
  setAlwaysOnTop(onTop: boolean): void {
    if (this.#window.isDestroyed()) return;
    // 'floating' is above normal windows without covering full-screen apps' system UI.
    this.#window.setAlwaysOnTop(onTop, 'floating');
  }

  /** The BrowserWindow, for modal dialogs. */
  get browserWindow(): BrowserWindow {
    return this.#window;
  }

  /** Really closes the window. */
  destroy(): void {
    if (!this.#window.isDestroyed()) this.#window.destroy();
  }
}
