import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { Platform, type RuntimeInfo } from './support/platform.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * Guard rails and the whole story, in the real UI over a real headless host and relay:
 * folders that must not be workspaces, the token check, what a policy choice means, and an
 * Activity log with every call (also those the relay refused) that opens to what happened.
 * One shared stack; each step builds on the previous one.
 */
test.describe.configure({ mode: 'serial' });

/**
 * docs/ui.md shows these screenshots. A test run writes them under e2e/artifacts so that a
 * checkout stays clean; `TETHER_DOCS_SCREENSHOTS=1` writes them to docs/screenshots instead.
 */
const SCREENSHOTS = join(
  REPO_ROOT,
  process.env.TETHER_DOCS_SCREENSHOTS === '1' ? 'docs/screenshots' : 'e2e/artifacts/screenshots',
);

let stack: Stack;
let platform: Platform;
let context: BrowserContext;
let page: Page;
let runtime: RuntimeInfo;

async function openContext(browser: Browser, colorScheme: 'light' | 'dark', width = 1280): Promise<void> {
  await context?.close();
  context = await browser.newContext({
    colorScheme,
    viewport: { width, height: 860 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
  await page.goto(stack.uiUrl);
}

function workspaceCard(name: string): Locator {
  return page.getByRole('article').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

/** The add form's error or note, by its text. */
function addForm(): Locator {
  return page.getByRole('form', { name: 'Add a workspace' });
}

async function addFolder(path: string, name?: string): Promise<void> {
  await page.getByLabel('Folder path').fill(path);
  await page.getByLabel('Name (optional)').fill(name ?? '');
  await page.getByRole('button', { name: 'Add workspace' }).click();
}

test.beforeAll(async ({ browser }) => {
  stack = await startStack();
  platform = new Platform(stack.relayUrl, stack.platformKey);
  await openContext(browser, 'light');
});

test.afterAll(async () => {
  await context?.close();
  await stack?.dispose();
});

test('connects with the desktop token', async () => {
  await page.getByLabel('Relay address').fill(stack.relayUrl);
  await page.getByLabel('Desktop token').fill(stack.desktopToken);
  await page.getByRole('button', { name: 'Save and connect' }).click();
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  // The first screen says what Tether is and what to do next.
  const welcome = page.getByRole('region', { name: 'What Tether does here' });
  await expect(welcome).toContainText('lets an AI-agent platform work in folders you choose');
  await expect(welcome).toContainText('Add a folder below');
});

test('the whole disk, the home folder and a relative path are refused as a workspace, with why', async () => {
  await addFolder('/');
  await expect(addForm().getByRole('alert')).toContainText('is the whole file system');
  await expect(addForm().getByRole('alert')).toContainText('Choose the project folder itself');
  await addFolder('~');
  await expect(addForm().getByRole('alert')).toContainText('is your home folder');
  await addFolder('/etc');
  await expect(addForm().getByRole('alert')).toContainText('is a system folder');
  await addFolder('site');
  await expect(addForm().getByRole('alert')).toContainText('"site" is a relative path');
  await expect(page.getByRole('article')).toHaveCount(0);
  expect(await platform.runtimes()).toHaveLength(0);
});

test('a folder inside another workspace is added with a warning', async () => {
  await addFolder(stack.workspaceDir, 'site');
  await expect(workspaceCard('site').getByText('Running', { exact: true })).toBeVisible();
  await expect(addForm().getByRole('alert')).toHaveCount(0);
  const inner = join(stack.workspaceDir, 'blog');
  await mkdir(inner, { recursive: true });
  await addFolder(inner, 'blog');
  await expect(workspaceCard('blog')).toBeVisible();
  await expect(addForm().getByRole('status')).toContainText('inside the workspace "site"');
  await workspaceCard('blog').getByRole('button', { name: 'Remove…' }).click();
  await workspaceCard('blog').getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(workspaceCard('blog')).toHaveCount(0);
  // The note was about the folder just removed: it goes with it.
  await expect(addForm().getByRole('status')).toHaveCount(0);
  runtime = await platform.waitForRuntime('site', 'running');
});

test('each workspace shows its runtime id, MCP URL and a curl example, each copyable', async () => {
  const access = workspaceCard('site').locator('.runtime-access');
  await expect(access.getByLabel('Runtime id', { exact: true })).toHaveText(runtime.id);
  await expect(access.getByLabel('MCP URL', { exact: true })).toHaveText(
    `${stack.relayUrl}/v1/runtimes/${runtime.id}/mcp`,
  );
  await expect(access.getByLabel('Example call (curl)', { exact: true })).toContainText(
    `${stack.relayUrl}/v1/runtimes/${runtime.id}/calls`,
  );
  await access.getByRole('button', { name: 'Copy Runtime id' }).click();
  await expect(access.getByText('Copied')).toBeVisible();
  expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(runtime.id);
  // The example works as printed, with the platform key in $TPK.
  const curl = (await access.getByLabel('Example call (curl)', { exact: true }).textContent())!;
  const body = /-d '([^']+)'/.exec(curl)![1]!;
  const listed = await platform.call(runtime.id, JSON.parse(body).tool, JSON.parse(body).args);
  expect(listed.status).toBe(200);
  await expect(page.getByRole('region', { name: 'What Tether does here' })).toContainText('Your workspaces are below');
  await page.screenshot({ path: join(SCREENSHOTS, 'first-screen.png'), fullPage: true });
  await page.getByRole('button', { name: 'Got it' }).click();
  await page.reload();
  await expect(workspaceCard('site')).toBeVisible();
  await expect(page.getByRole('region', { name: 'What Tether does here' })).toHaveCount(0);
});

test('a platform key or a refused token does not replace the working token', async () => {
  await page.getByRole('button', { name: 'Settings' }).click();
  const form = page.getByRole('form', { name: 'Desktop token' });
  await form.getByLabel('Replace the desktop token').fill(stack.platformKey);
  await form.getByRole('button', { name: 'Replace token' }).click();
  await expect(form.getByRole('alert')).toContainText('This is a platform key (tpk_…)');
  await expect(form.getByRole('alert')).toContainText('The token in use was kept');
  await form.getByLabel('Replace the desktop token').fill(`${stack.desktopToken}x`);
  await form.getByRole('button', { name: 'Replace token' }).click();
  await expect(form.getByRole('alert')).toContainText('The relay refused this token (HTTP 401)');
  // Still connected with the old one, and it still works.
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  expect((await platform.call(runtime.id, 'stat', { path: 'notes.md' })).status).toBe(200);
});

test('launch at login and keep awake say they are the desktop app’s under a headless host', async () => {
  const startup = page.getByRole('group', { name: 'Start-up and power' });
  await expect(startup.getByRole('switch', { name: 'Start Tether when I log in' })).toBeDisabled();
  await expect(startup.getByRole('switch', { name: 'Keep this computer awake while connected' })).toBeDisabled();
  await expect(startup.getByText(/this Tether runs headless/)).toBeVisible();
  await expect(startup.getByRole('switch', { name: 'Connect to the relay when Tether starts' })).toBeEnabled();
  await page.screenshot({ path: join(SCREENSHOTS, 'settings-headless.png'), fullPage: true });
});

test('a policy away from the default says what it means; a denied category greys out its tools', async () => {
  await page.getByRole('button', { name: 'Workspaces' }).click();
  const card = workspaceCard('site');
  await expect(card.locator('.policy-meaning')).toHaveCount(0);
  await card.getByLabel('Run commands in site').selectOption('allow');
  await expect(card.getByText(/Agents run any command without asking you/)).toBeVisible();
  await card.getByLabel('Change files in site').selectOption('deny');
  await expect(card.getByText(/Agents cannot change any file here/)).toBeVisible();
  await card.getByText('Tools').click();
  await expect(card.getByRole('switch', { name: 'Delete (delete)' })).toBeDisabled();
  await expect(card.getByText('Delete files (and folders, when asked to).')).toBeVisible();
  await expect(card.getByRole('switch', { name: 'Run commands (run_command)' })).toBeEnabled();
  await page.screenshot({ path: join(SCREENSHOTS, 'workspace-policy.png'), fullPage: true });
  await card.getByLabel('Change files in site').selectOption('ask');
  await expect(card.getByRole('switch', { name: 'Delete (delete)' })).toBeEnabled();
});

test('calls the relay refused before they reached the desktop appear in Activity, in plain words', async () => {
  const card = workspaceCard('site');
  await card.getByRole('switch', { name: 'Delete (delete)' }).click();
  await expect
    .poll(async () => (await platform.runtime(runtime.id)).capabilities?.tools.includes('delete'))
    .toBe(false);
  expect((await platform.call(runtime.id, 'delete', { path: 'notes.md' })).body.error?.code).toBe('tool_disabled');
  await card.getByRole('button', { name: 'Pause' }).click();
  await platform.waitForRuntime('site', 'paused');
  expect((await platform.call(runtime.id, 'read_file', { path: 'notes.md' })).body.error?.code).toBe('runtime_paused');
  await card.getByRole('button', { name: 'Resume' }).click();
  await platform.waitForRuntime('site', 'running');

  await page.getByRole('button', { name: 'Activity' }).click();
  const paused = page.getByRole('row', { name: /Refused: the workspace is paused/ });
  await expect(paused).toHaveCount(1);
  await expect(paused).toContainText('read_file');
  await expect(paused).toContainText('refused at the relay');
  await expect(paused).toContainText('runtime_paused');
  const off = page.getByRole('row', { name: /Refused: the tool is switched off/ });
  await expect(off).toContainText('delete');
  await page.getByLabel('Decision').selectOption('refused');
  await expect(page.getByRole('row')).toHaveCount(3);
});

test('a command’s entry shows its exit code and opens to its output; a write’s to the answer and the diff', async () => {
  const run = await platform.call(runtime.id, 'run_command', { command: 'echo building; echo failed >&2; exit 3' });
  expect(run.status).toBe(200);
  await page.getByLabel('Decision').selectOption('');
  const row = page.getByRole('row').filter({ hasText: 'run_command' });
  await expect(row).toContainText('exit 3');
  await row.getByRole('button', { name: 'Details' }).click();
  await expect(page.getByLabel('Output')).toContainText('building');
  await expect(page.getByLabel('Output')).toContainText('failed');

  // A write the person answers after a moment: the wait shows apart from the run.
  const card = () => page.getByRole('alertdialog');
  const write = platform.call(runtime.id, 'write_file', { path: 'todo.md', content: '- launch\n' });
  await expect(card()).toBeVisible();
  await expect(card()).toHaveAttribute('data-armed', 'true');
  await card()
    .getByRole('button', { name: /Allow once/ })
    .click();
  expect((await write).status).toBe(200);
  const written = page.getByRole('row').filter({ hasText: 'todo.md' });
  await expect(written).toContainText(/waited [\d.]+ (ms|s) for you, ran/);
  await written.getByRole('button', { name: 'Details' }).click();
  await expect(page.getByText('You allowed it.')).toBeVisible();
  await expect(page.locator('.entry-detail .diff-line.add', { hasText: '+- launch' })).toBeVisible();
  await page.screenshot({ path: join(SCREENSHOTS, 'activity.png'), fullPage: true });
  await written.getByRole('button', { name: 'Hide details' }).click();
  await row.getByRole('button', { name: 'Hide details' }).click();
  await expect(page.locator('.entry-detail')).toHaveCount(0);

  await page.getByLabel('Decision').selectOption('confirmed');
  await expect(page.getByRole('row').filter({ hasText: 'todo.md' })).toHaveCount(1);
  await expect(page.getByRole('row').filter({ hasText: 'run_command' })).toHaveCount(0);
});

test('narrow and dark: the same views stay readable', async ({ browser }) => {
  await openContext(browser, 'dark', 420);
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  await page.screenshot({ path: join(SCREENSHOTS, 'workspaces-narrow-dark.png'), fullPage: true });
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  expect(overflow).toBeLessThanOrEqual(0);
  await page.getByRole('button', { name: 'Activity' }).click();
  const row = page.getByRole('row').filter({ hasText: 'run_command' });
  await row.getByRole('button', { name: 'Details' }).click();
  await expect(page.getByLabel('Output')).toContainText('building');
  await page.screenshot({ path: join(SCREENSHOTS, 'activity-narrow-dark.png'), fullPage: true });
  expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(
    0,
  );
  await openContext(browser, 'dark', 1280);
  await page.getByRole('button', { name: 'Activity' }).click();
  await expect(page.getByRole('row').filter({ hasText: 'todo.md' })).toHaveCount(1);
  await page.screenshot({ path: join(SCREENSHOTS, 'activity-dark.png'), fullPage: true });
});

test('a tab left open over a restarted host says so, and how to get back in', async () => {
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  const next = await stack.restartHost();
  expect(next).not.toBe(stack.uiUrl);
  const banner = page.getByRole('alert').filter({ hasText: 'it was restarted' });
  await expect(banner).toContainText('this tab still has the old one');
  await expect(banner).toContainText('Tether Desktop UI');
  await page.screenshot({ path: join(SCREENSHOTS, 'host-restarted-dark.png') });
  // Reloading does not help (the tab keeps its old key); the new address does.
  await page.reload();
  await expect(page.getByText(/this page has the key of an earlier run/)).toBeVisible();
  await page.goto(next);
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
});
