import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { Platform, type RuntimeInfo } from './support/platform.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * An MCP client (as claude.ai or ChatGPT would) connects with OAuth: its authorize page opens in
 * the browser with a short code, the person approves it in the real Tether Desktop UI (typing
 * that code, choosing the workspace, categories and duration), the client gets a token bound to
 * the runtime's MCP URL, and the person revokes it in one click.
 */
test.describe.configure({ mode: 'serial' });

const SCREENSHOTS = join(REPO_ROOT, 'e2e/artifacts/screenshots');

let stack: Stack;
let platform: Platform;
let context: BrowserContext;
let ui: Page;
let runtime: RuntimeInfo;
let callback: Server;
let redirectUri: string;
const codes: URLSearchParams[] = [];

test.beforeAll(async ({ browser }) => {
  stack = await startStack();
  platform = new Platform(stack.relayUrl, stack.platformKey);
  context = await browser.newContext({ viewport: { width: 1100, height: 780 } });
  ui = await context.newPage();
  ui.on('pageerror', (err) => {
    throw err;
  });
  // The MCP client's redirect URI: a loopback server that takes the code, as a native client does.
  callback = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // Only the redirect itself (the browser asks for a favicon too).
    if (url.pathname === '/callback') codes.push(url.searchParams);
    res.setHeader('content-type', 'text/plain');
    res.end('The client has its code.');
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
});

test.afterAll(async () => {
  await context?.close();
  await stack?.dispose();
  await new Promise((r) => callback?.close(r));
});

test('the person connects the desktop and adds a workspace', async () => {
  await ui.goto(stack.uiUrl);
  await ui.getByLabel('Relay address').fill(stack.relayUrl);
  await ui.getByLabel('Desktop token').fill(stack.desktopToken);
  await ui.getByRole('button', { name: 'Save and connect' }).click();
  await expect(ui.getByLabel('Relay connection: connected')).toBeVisible();
  await ui.getByRole('button', { name: 'Workspaces' }).click();
  await ui.getByLabel('Folder path').fill(stack.workspaceDir);
  await ui.getByLabel('Name (optional)').fill('site');
  await ui.getByRole('button', { name: 'Add workspace' }).click();
  await expect.poll(async () => (await platform.runtimes()).find((r) => r.state === 'running')?.id).toBeTruthy();
  runtime = (await platform.runtimes()).find((r) => r.state === 'running')!;
});

test('an MCP client is approved in the consent dialog with the code its page shows, and uses the workspace', async () => {
  const mcpUrl = `${stack.relayUrl}/v1/runtimes/${runtime.id}/mcp`;
  // The client's discovery: the 401 names the resource metadata, which names the relay as authorization server.
  const bare = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(bare.headers.get('www-authenticate')).toContain('resource_metadata=');
  const registered = await fetch(`${stack.relayUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Claude', redirect_uris: [redirectUri] }),
  });
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${stack.relayUrl}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: 'e2e',
    scope: 'read',
    resource: mcpUrl,
  }).toString();

  // The person's browser tab with the client's authorize page.
  const tab = await context.newPage();
  await tab.goto(authorize.toString());
  const shortCode = (await tab.locator('#short-code').textContent())!.trim();
  expect(shortCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  await expect(tab.locator('#client-name')).toContainText('Claude');
  await tab.screenshot({ path: join(SCREENSHOTS, 'oauth-01-authorize-page.png') });

  // Tether Desktop asks.
  await ui.bringToFront();
  const dialog = ui.getByRole('alertdialog');
  await expect(dialog.getByRole('heading', { name: 'Claude asks to use your workspaces' })).toBeVisible();
  await expect(dialog.getByText('127.0.0.1:', { exact: false }).first()).toBeVisible();
  await expect(dialog.getByLabel('site')).toBeChecked();
  await expect(dialog.getByLabel('Read files (read, list, search)')).toBeChecked();
  // A wrong code is refused by the desktop itself.
  await dialog.getByLabel('Type the code that page shows').fill('AAAA-AAAA');
  await dialog.getByRole('button', { name: 'Approve' }).click();
  await expect(dialog.getByRole('alert')).toContainText('not the code');
  await dialog.getByLabel('Type the code that page shows').fill(shortCode.toLowerCase());
  await dialog.getByLabel('For how long').selectOption({ label: '7 days' });
  await ui.screenshot({ path: join(SCREENSHOTS, 'oauth-02-consent-dialog.png') });
  await dialog.getByRole('button', { name: 'Approve' }).click();
  await expect(dialog).toHaveCount(0);

  // The page moves on by itself and hands the client its code.
  await expect.poll(() => codes.length, { timeout: 20_000 }).toBe(1);
  expect(codes[0]!.get('state')).toBe('e2e');
  const token = await fetch(`${stack.relayUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: codes[0]!.get('code')!,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }).toString(),
  });
  expect(token.status).toBe(200);
  const { access_token: accessToken } = (await token.json()) as { access_token: string };
  const read = await fetch(`${stack.relayUrl}/v1/runtimes/${runtime.id}/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool: 'read_file', args: { path: 'notes.md' } }),
  });
  expect(read.status).toBe(200);
  expect(JSON.stringify(await read.json())).toContain('Launch notes');
  await tab.close();

  // Listed on the desktop, and revoked in one click.
  await ui.getByRole('button', { name: 'MCP clients' }).click();
  const card = ui.getByRole('article', { name: 'Claude' });
  await expect(card).toContainText('read');
  await expect(card).toContainText('site');
  await ui.screenshot({ path: join(SCREENSHOTS, 'oauth-03-clients.png') });
  await card.getByRole('button', { name: 'Revoke' }).click();
  await expect(ui.getByText('No approved clients.')).toBeVisible();
  const after = await fetch(`${stack.relayUrl}/v1/runtimes/${runtime.id}/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool: 'read_file', args: { path: 'notes.md' } }),
  });
  expect(after.status).toBe(401);

  // A narrow window: the tabs wrap, nothing is wider than the window.
  await ui.setViewportSize({ width: 420, height: 780 });
  expect(await ui.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(420);
  await ui.setViewportSize({ width: 1100, height: 780 });
});
