import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * Device keys in the real UI: a headless host bound to its key at a real relay; another install
 * with the same desktop token claims the device id while the person's desktop is offline; the
 * person's desktop then shows the alert instead of silently stopping, and re-pairs.
 */
test.describe.configure({ mode: 'serial' });

const SCREENSHOTS = join(REPO_ROOT, 'e2e/artifacts/screenshots');

/** The relay's own test desktop (relay/dist/testing), playing the other install over a real socket. */
interface FakeDesktopModule {
  FakeDesktop: {
    connect(
      wsUrl: string,
      token: string,
    ): Promise<{
      hello(device: object, workspaces: object[], options?: { key?: unknown }): Promise<{ type: string }>;
      sendHello(device: object, workspaces: object[], options?: { key?: unknown }): Promise<unknown>;
      closed: Promise<{ code: number; reason: string }>;
      close(): Promise<void>;
    }>;
  };
  FakeDeviceKey: new () => unknown;
}

let stack: Stack;
let page: Page;

async function fakeDesktops(): Promise<FakeDesktopModule> {
  return (await import(pathToFileURL(join(REPO_ROOT, 'relay/dist/testing/fake-desktop.js')).href)) as FakeDesktopModule;
}

function wsUrl(): string {
  return `${stack.relayUrl.replace(/^http/, 'ws')}/v1/connect`;
}

test.beforeAll(async ({ browser }) => {
  stack = await startStack();
  const context = await browser.newContext({ viewport: { width: 1100, height: 780 } });
  page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
});

test.afterAll(async () => {
  await page?.context().close();
  await stack?.dispose();
});

test('the desktop shows its device key, the one the relay bound at its first hello', async () => {
  await page.goto(stack.uiUrl);
  await page.getByLabel('Relay address').fill(stack.relayUrl);
  await page.getByLabel('Desktop token').fill(stack.desktopToken);
  await page.getByRole('button', { name: 'Save and connect' }).click();
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  await page.getByRole('button', { name: 'Workspaces' }).click();
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  const [device] = await stack.relayAdmin.listDevices('e2e');
  expect(device?.keyFingerprint).toMatch(/^[A-Za-z0-9_-]{4}(-[A-Za-z0-9_-]{4}){3}$/);
  await expect(page.getByText(`key ${device!.keyFingerprint}`)).toBeVisible();
});

test('an install with the stolen token trying this device id is refused, and the person is told', async () => {
  const [device] = await stack.relayAdmin.listDevices('e2e');
  const relayTesting = await fakeDesktops();
  const thief = await relayTesting.FakeDesktop.connect(wsUrl(), stack.desktopToken);
  await thief.sendHello({ deviceId: device!.deviceId, name: 'Thief', os: 'linux' }, [], {
    key: new relayTesting.FakeDeviceKey(),
  });
  expect((await thief.closed).code).toBe(4412);
  const warning = page.getByRole('alert').filter({ hasText: 'Someone else has your desktop token' });
  await expect(warning).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  await page.screenshot({ path: join(SCREENSHOTS, 'device-claim-refused.png'), fullPage: true });
  // A new token (here the same one, entered again) clears it.
  await warning.getByRole('button', { name: 'Replace the token…' }).click();
  await page.getByLabel('Replace the desktop token').fill(stack.desktopToken);
  await page.getByRole('button', { name: 'Replace token' }).click();
  await page.getByRole('button', { name: 'Workspaces' }).click();
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  await expect(warning).toHaveCount(0);
});

test('a device id claimed by another key: the alert, then "Re-pair this device" connects again as a new device', async () => {
  const [device] = await stack.relayAdmin.listDevices('e2e');
  await page.getByRole('button', { name: 'Disconnect' }).click();
  await expect(page.getByRole('heading', { name: 'Disconnected' })).toBeVisible();

  // Another install with the same desktop token takes the device id while its key is forgotten.
  expect(await stack.relayAdmin.forgetDeviceKey('e2e', device!.deviceId)).toBe(true);
  const relayTesting = await fakeDesktops();
  const other = await relayTesting.FakeDesktop.connect(wsUrl(), stack.desktopToken);
  const welcome = await other.hello({ deviceId: device!.deviceId, name: 'Other install', os: 'linux' }, [], {
    key: new relayTesting.FakeDeviceKey(),
  });
  expect(welcome.type).toBe('welcome');
  await other.close();

  await page.getByRole('button', { name: 'Connect' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'The relay refused this device’s key' });
  await expect(alert).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Connection problem' })).toBeVisible();
  await expect(alert.getByText(/Makes a new device id and key for this computer/)).toBeVisible();
  await page.screenshot({ path: join(SCREENSHOTS, 'device-key-refused.png'), fullPage: true });

  await alert.getByRole('button', { name: 'Re-pair this device' }).click();
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  await expect(alert).toHaveCount(0);
  const devices = await stack.relayAdmin.listDevices('e2e');
  expect(devices).toHaveLength(2);
  const repaired = devices.find((d) => d.deviceId !== device!.deviceId)!;
  expect(repaired.keyFingerprint).not.toBe(device!.keyFingerprint);
  await expect(page.getByText(`key ${repaired.keyFingerprint}`)).toBeVisible();
});
