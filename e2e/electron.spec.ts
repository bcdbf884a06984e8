import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test';

/**
 * The real Electron app: main process, sandboxed preload, host utility process and the UI.
 * Needs the Electron binary (node_modules/electron/dist, fetched by electron's install
 * script) and the build (`npx tsc -b && npm run build -w @tether/app`); on Linux without a
 * display, run under `xvfb-run`. Where the binary is missing the test is skipped, saying why.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ELECTRON_DIST = join(ROOT, 'node_modules/electron/dist');
const electronBinaryExists = existsSync(ELECTRON_DIST) && existsSync(join(ROOT, 'node_modules/electron/path.txt'));
const appBuilt =
  existsSync(join(ROOT, 'app/dist/main/main.js')) && existsSync(join(ROOT, 'app/dist/renderer/index.html'));

type Bridge = { request(method: string, params: unknown): Promise<unknown> };
type TrayModelView = { icon: string; tooltip: string; menu: { kind: string; label?: string }[] };

test.describe('Tether Desktop under Electron', () => {
  test.skip(
    !electronBinaryExists,
    'Electron binary not installed: node_modules/electron/dist is missing (run node node_modules/electron/install.js on a machine with internet)',
  );
  test.skip(!appBuilt, 'The app is not built: run npx tsc -b && npm run build -w @tether/app first');

  let app: ElectronApplication;
  let configDir: string;

  test.beforeAll(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'tether-electron-e2e-'));
    app = await electron.launch({
      // Chromium refuses to run as root with its sandbox on (CI containers run as root).
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), join(ROOT, 'app'), '--config-dir', configDir],
      cwd: ROOT,
      // No token from the environment: the app starts as a fresh install would.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TETHER_TOKEN')),
        TETHER_E2E: '1',
      },
    });
  });

  test.afterAll(async () => {
    await app?.close();
    await rm(configDir, { recursive: true, force: true });
  });

  test('opens the window on the app scheme with the DesktopApi and without Node', async () => {
    const window = await app.firstWindow();
    await expect(window).toHaveTitle('Tether');
    expect(new URL(window.url()).protocol).toBe('tether:');
    expect(await window.evaluate(() => typeof (globalThis as { tetherDesktop?: Bridge }).tetherDesktop?.request)).toBe(
      'function',
    );
    expect(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined');
    expect(await window.evaluate(() => typeof (globalThis as { process?: unknown }).process)).toBe('undefined');
    const state = (await window.evaluate(() =>
      (globalThis as unknown as { tetherDesktop: Bridge }).tetherDesktop.request('state:get', {}),
    )) as { hasToken: boolean; connection: { state: string } };
    expect(['disconnected', 'connecting', 'connected', 'error']).toContain(state.connection.state);
  });

  test('shows the connection state in the tray: disconnected without a token', async () => {
    const window = await app.firstWindow();
    const hasToken = await window.evaluate(async () => {
      const bridge = (globalThis as unknown as { tetherDesktop: Bridge }).tetherDesktop;
      return ((await bridge.request('state:get', {})) as { hasToken: boolean }).hasToken;
    });
    // The token lives in the OS keychain, shared with a real install on the same login.
    test.skip(hasToken, 'a desktop token is already in this login keychain, so the app may be connecting');
    const trayModel = () =>
      app.evaluate(() => (globalThis as { tetherShell?: { trayModel(): TrayModelView } }).tetherShell?.trayModel());
    await expect.poll(async () => (await trayModel())?.icon).toBe('disconnected');
    const model = await trayModel();
    const labels = model?.menu.map((item) => item.label);
    expect(labels).toEqual(expect.arrayContaining(['Connect', 'Open Tether', 'Quit Tether']));
    expect(model?.tooltip).toMatch(/^Tether — /);
  });

  test('denies new windows and navigation', async () => {
    const window = await app.firstWindow();
    const opened = await window.evaluate(() => {
      const open = (globalThis as unknown as { open(url: string): unknown }).open;
      return open('https://example.com/') === null;
    });
    expect(opened).toBe(true);
    await window.evaluate(() => {
      (globalThis as unknown as { location: { href: string } }).location.href = 'https://example.com/';
    });
    await expect.poll(() => new URL(window.url()).protocol).toBe('tether:');
    expect(app.windows()).toHaveLength(1);
  });

  test('hides to the tray when the window is closed, and keeps running', async () => {
    const window = await app.firstWindow();
    await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.close());
    await expect
      .poll(() => app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.isVisible()))
      .toBe(false);
    expect(window.isClosed()).toBe(false);
  });
});
