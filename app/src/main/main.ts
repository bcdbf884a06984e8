// First: registers the tether:// scheme, which must happen before `ready` (see the file).
import './early-setup.js';
import { readTokenFd } from '../host/token/token-handoff.js';
import { hostEnvironment } from './host-env.js';
import { join } from 'node:path';
import { app, dialog, Menu } from 'electron';
import { APP_ID } from './app-identity.js';
import { APP_INDEX_URL } from './app-protocol.js';
import { buildContentSecurityPolicy } from './content-security-policy.js';
import { DesktopShell } from './desktop-shell.js';
import { registerIpcHandlers } from './ipc-handlers.js';
import { parseLaunchArgs, secondLaunchQuestion } from './launch-args.js';
import { hardenAllWebContents, hardenSession } from './security.js';
import { UrlPolicy } from './url-policy.js';

/**
 * Tether Desktop's Electron main process: thin glue (STYLE.md 2). The host core runs in a
 * utilityProcess (host-connection.ts); this file only starts things in the right order.
 */

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} tether-main: ${line}\n`);
}

/** Where the built pieces live: the same layout in development (app/) and in app.asar. */
function paths(appPath: string) {
  return {
    hostEntry: join(appPath, 'dist', 'host', 'utility-entry.js'),
    preload: join(appPath, 'dist', 'preload', 'preload.cjs'),
    renderer: join(appPath, 'dist', 'renderer'),
    trayIcons: join(appPath, 'assets', 'tray'),
  };
}

function setApplicationMenu(): void {
  // macOS needs an Edit menu for copy/paste shortcuts in text fields (pasting a token);
  // elsewhere Chromium handles them and a menu bar would only offer reload and dev tools.
  if (process.platform === 'darwin') {
    Menu.setApplicationMenu(
      Menu.buildFromTemplate([{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }]),
    );
  } else {
    Menu.setApplicationMenu(null);
  }
}

async function main(): Promise<void> {
  const launch = parseLaunchArgs(process.argv, process.cwd());
  // Development only: the packaged app never loads the UI from a server.
  const devServerUrl = app.isPackaged ? undefined : process.env.TETHER_DEV_SERVER_URL;
  const policy = new UrlPolicy(devServerUrl ? { devServerUrl } : {});
  const csp = buildContentSecurityPolicy(policy.devServerOrigin ? { devServerOrigin: policy.devServerOrigin } : {});
  hardenAllWebContents(policy);

  // Windows shows notifications only for an app with an AppUserModelID matching its Start
  // menu shortcut; electron-builder's nsis installer creates the shortcut with the appId.
  if (process.platform === 'win32') app.setAppUserModelId(APP_ID);
  await app.whenReady();
  const where = paths(app.getAppPath());
  hardenSession({ rendererDir: where.renderer, csp, policy });
  setApplicationMenu();

  const configDir = launch.configDir ?? app.getPath('userData');
  const hostArgs = ['--config-dir', configDir];
  if (launch.relayUrl) hostArgs.push('--relay', launch.relayUrl);
  for (const workspace of launch.workspaces) hostArgs.push('--workspace', workspace);
  if (launch.insecureRelay) hostArgs.push('--insecure-relay');
  // The token (--token, --token-fd or TETHER_TOKEN) goes to the host in its start message, never
  // its argv (`ps` shows argv) or environment (/proc/<pid>/environ); the host gets an
  // allow-listed environment, not main's whole one.
  let token = launch.token ?? process.env.TETHER_TOKEN;
  delete process.env.TETHER_TOKEN;
  if (launch.tokenFd !== undefined) {
    try {
      token = await readTokenFd(launch.tokenFd);
    } catch (err) {
      log((err as Error).message);
    }
  }
  const hostEnv = hostEnvironment(process.env);

  const openedAtLogin = process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin;
  const shell = new DesktopShell({
    hostEntryPath: where.hostEntry,
    hostArgs,
    hostEnv,
    hostToken: token,
    preloadPath: where.preload,
    trayIconDir: where.trayIcons,
    appUrl: devServerUrl ?? APP_INDEX_URL,
    startHidden: launch.hidden || openedAtLogin,
    loginItemEnvironment: {
      platform: process.platform,
      execPath: process.execPath,
      appPath: app.getAppPath(),
      isPackaged: app.isPackaged,
      homeDir: app.getPath('home'),
      ...(process.env.APPIMAGE ? { appImagePath: process.env.APPIMAGE } : {}),
      ...(process.env.XDG_CONFIG_HOME ? { xdgConfigHome: process.env.XDG_CONFIG_HOME } : {}),
    },
    log,
  });

  registerIpcHandlers({
    policy,
    isOurWindow: (window) => window === shell.window.browserWindow,
    notify: (title, body) => shell.notify(title, body),
    log,
  });

  app.on('second-instance', (_event, argv, workingDirectory) => {
    const again = parseLaunchArgs(argv, workingDirectory);
    if (!again.hidden) shell.showWindow();
    if (again.workspaces.length > 0) {
      // Another process asked: the person confirms the exact folders before any is added.
      const question = secondLaunchQuestion(again.workspaces);
      void dialog
        .showMessageBox({
          type: 'question',
          buttons: ['Cancel', 'Add'],
          defaultId: 0,
          cancelId: 0,
          message: question.message,
          detail: question.detail,
        })
        .then(({ response }) => {
          if (response === 1) shell.addWorkspaces(again.workspaces);
        });
    }
  });
  app.on('activate', () => shell.showWindow());
  // A tray app keeps running with its window closed (hidden); only Quit ends it.
  app.on('window-all-closed', () => {});

  let shutDown = false;
  app.on('before-quit', (event) => {
    if (shutDown) return;
    event.preventDefault();
    shutDown = true;
    void shell.shutdown().finally(() => app.quit());
  });

  if (process.env.TETHER_E2E === '1') {
    // Read-only hook for e2e/electron.spec.ts: Electron has no API to read a tray back.
    (globalThis as { tetherShell?: { trayModel(): unknown } }).tetherShell = { trayModel: () => shell.trayModel };
  }
}

// One Tether per login session: a second launch hands its arguments to the first and exits.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  main().catch((err: unknown) => {
    log(`cannot start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    app.exit(1);
  });
}
