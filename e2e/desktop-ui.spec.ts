import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { Platform, type CallOutcome, type RuntimeInfo } from './support/platform.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * The person's path through Tether Desktop, in the real UI served by a real headless host
 * connected to a real relay; the platform's side goes through the relay's HTTP API.
 * One shared stack: each step builds on the previous one.
 */
test.describe.configure({ mode: 'serial' });

const SCREENSHOTS = join(REPO_ROOT, 'e2e/artifacts/screenshots');

let stack: Stack;
let platform: Platform;
let context: BrowserContext;
let page: Page;
let runtime: RuntimeInfo;

/** Saves a screenshot; a dialog's scrim covers the viewport only, so those stay viewport-sized. */
async function snap(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

async function openContext(browser: Browser, colorScheme: 'light' | 'dark', notifications = false): Promise<void> {
  context = await browser.newContext({
    colorScheme,
    viewport: { width: 1100, height: 780 },
    ...(notifications ? { permissions: ['notifications'] } : {}),
  });
  // Lets a test drop the page's link to the host and hold it down (`__link.block`), as a laptop
  // asleep would: while blocked, reconnects present a wrong secret and are refused.
  await context.addInitScript(`(() => {
    const Real = window.WebSocket;
    const link = (window.__link = { sockets: [], blocked: false });
    link.block = () => {
      link.blocked = true;
      for (const ws of link.sockets) ws.close();
    };
    function LinkedSocket(url, protocols) {
      const ws = new Real(url, link.blocked ? ['tether.v1', 'tether.secret.blocked'] : protocols);
      link.sockets.push(ws);
      return ws;
    }
    LinkedSocket.prototype = Real.prototype;
    Object.assign(LinkedSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
    window.WebSocket = LinkedSocket;
  })()`);
  page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
}

function dialog(): Locator {
  return page.getByRole('alertdialog');
}

function workspaceCard(name: string): Locator {
  return page.getByRole('article').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

/** Waits until the dialog's keyboard shortcuts are armed (they ignore keys right after it opens). */
async function armed(): Promise<void> {
  await expect(dialog()).toHaveAttribute('data-armed', 'true');
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

test('onboarding: the person enters the relay and token and gets connected', async () => {
  await page.goto(stack.uiUrl);
  await expect(page.getByRole('heading', { name: 'Welcome to Tether' })).toBeVisible();
  // The secret leaves the address bar once the page has it.
  expect(page.url()).not.toContain('secret=');
  await page.getByLabel('Relay address').fill(stack.relayUrl);
  // A mistyped token: the relay refuses it, and the way to fix it is one click away.
  await page.getByLabel('Desktop token').fill(`${stack.desktopToken}x`);
  await snap('01-onboarding');
  await page.getByRole('button', { name: 'Save and connect' }).click();
  await expect(page.getByRole('heading', { name: 'Connection problem' })).toBeVisible();
  await expect(page.getByText(/refused the desktop token/)).toBeVisible();
  await page.getByRole('button', { name: 'Change relay or token…' }).click();
  await page.getByLabel('Replace the desktop token').fill(stack.desktopToken);
  await page.getByRole('button', { name: 'Replace token' }).click();
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  await page.getByRole('button', { name: 'Workspaces' }).click();
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Change relay or token…' })).toHaveCount(0);
  await expect(page.getByText('token in a private file')).toBeVisible();
  await page.getByRole('region', { name: 'Notifications' }).getByRole('button', { name: 'Not now' }).click();
  await expect(page.getByRole('region', { name: 'Notifications' })).toHaveCount(0);
});

test('adding a workspace makes the relay list it running', async () => {
  await page.getByLabel('Folder path').fill(stack.workspaceDir);
  await page.getByLabel('Name (optional)').fill('site');
  await page.getByRole('button', { name: 'Add workspace' }).click();
  const card = workspaceCard('site');
  await expect(card.getByText('Running', { exact: true })).toBeVisible();

  await card.getByRole('button', { name: 'Edit' }).click();
  await card.getByLabel('Description').fill('The marketing site: pages, notes and the changelog');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(card.getByText('The marketing site: pages, notes and the changelog')).toBeVisible();
  // Escape leaves the editor unchanged, and the keyboard is back on Edit.
  await card.getByRole('button', { name: 'Edit' }).click();
  await card.getByLabel('Description').fill('not this');
  await page.keyboard.press('Escape');
  await expect(card.getByLabel('Description')).toHaveCount(0);
  await expect(card.getByRole('button', { name: 'Edit' })).toBeFocused();
  await expect(card.getByText('The marketing site: pages, notes and the changelog')).toBeVisible();

  runtime = await platform.waitForRuntime('site', 'running');
  await expect
    .poll(async () => (await platform.runtime(runtime.id)).workspace.description)
    .toBe('The marketing site: pages, notes and the changelog');
  // Switching a tool off reaches the relay: the runtime's capabilities no longer list it.
  await card.getByText('Tools').click();
  // A controlled switch: it flips when the host confirms the change (state:changed).
  await card.getByRole('switch', { name: 'delete' }).click();
  await expect(card.getByRole('switch', { name: 'delete' })).not.toBeChecked();
  await expect(card.getByText('(15 of 16 on)')).toBeVisible();
  await expect
    .poll(async () => (await platform.runtime(runtime.id)).capabilities?.tools.includes('delete'))
    .toBe(false);
  await snap('02-workspaces');
});

test('write_file under ask shows the diff, and Allow once writes the file', async () => {
  const content =
    '# Launch notes\n\n- ship the landing page\n- write the changelog (done)\n- tell the team\n- book the launch call\n';
  const call = platform.call(runtime.id, 'write_file', { path: 'notes.md', content });
  await expect(dialog()).toBeVisible();
  await expect(dialog()).toContainText('write_file');
  await expect(dialog()).toContainText('site');
  await expect(dialog()).toContainText('notes.md');
  await expect(dialog().locator('.diff-line.add', { hasText: '+- book the launch call' })).toBeVisible();
  await expect(dialog().locator('.diff-line.del', { hasText: '-- write the changelog' })).toBeVisible();
  await expect(dialog().getByRole('button', { name: /Deny/ })).toBeFocused();
  await armed();
  await snap('03-confirmation-diff', false);
  await dialog()
    .getByRole('button', { name: /Allow once/ })
    .click();
  const outcome = await call;
  expect(outcome.status, JSON.stringify(outcome.body)).toBe(200);
  expect(await readFile(join(stack.workspaceDir, 'notes.md'), 'utf8')).toBe(content);
  await expect(dialog()).toBeHidden();
});

test('Deny refuses the call with confirmation_denied and writes nothing', async () => {
  // Somebody still typing when it pops up: keys 100 ms apart for 900 ms (past the 600 ms
  // arming) keep it from arming, so a letter typed on before they notice cannot answer.
  // In the page, from the frame the dialog appears in, so a loaded machine cannot make it late.
  const typing = page.evaluate(`(async () => {
    const dialog = () => document.querySelector('[role="alertdialog"]');
    while (!dialog()) await new Promise((r) => requestAnimationFrame(r));
    for (let i = 0; i < 9; i++) {
      document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'x', bubbles: true }));
      await new Promise((r) => setTimeout(r, 100));
      if (dialog().dataset.armed === 'true') return 'armed while typing';
    }
    return 'unarmed';
  })()`);
  const call = platform.call(runtime.id, 'write_file', { path: 'denied.txt', content: 'nope\n' });
  expect(await typing).toBe('unarmed');
  await expect(dialog()).toContainText('denied.txt');
  await armed();
  await page.keyboard.press('d');
  const outcome = await call;
  expect(outcome.status).toBe(403);
  expect(outcome.body.error?.code).toBe('confirmation_denied');
  expect(existsSync(join(stack.workspaceDir, 'denied.txt'))).toBe(false);
  await expect(dialog()).toBeHidden();
});

test('several pending confirmations queue, and focus stays inside the dialog', async () => {
  const calls = [
    platform.call(runtime.id, 'write_file', { path: 'q1.txt', content: '1\n' }),
    platform.call(runtime.id, 'write_file', { path: 'q2.txt', content: '2\n' }),
  ];
  await expect(dialog()).toContainText('+1 more waiting');
  await expect(page).toHaveTitle('(2) Tether: an agent is waiting for you');
  const first = (await dialog().textContent())?.includes('q1.txt') ? 'q1.txt' : 'q2.txt';
  const second = first === 'q1.txt' ? 'q2.txt' : 'q1.txt';
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    await expect(dialog().locator(':focus')).toHaveCount(1);
  }
  await armed();
  await page.keyboard.press('d');
  await expect(dialog()).toContainText(second);
  await expect(dialog()).not.toContainText('more waiting');
  await dialog().getByRole('button', { name: /Deny/ }).click();
  for (const outcome of await Promise.all(calls)) expect(outcome.body.error?.code).toBe('confirmation_denied');
  await expect(dialog()).toBeHidden();
  await expect(page).toHaveTitle('Tether');
});

test('a second click on Allow once does not answer the next queued question', async () => {
  // Same-sized questions, so the next one's Allow once sits where the click just was. The second
  // path holds a right-to-left override, which the dialog shows as an escape.
  const first = platform.call(runtime.id, 'write_file', { path: 'c1.txt', content: 'one\n' });
  await expect(dialog()).toContainText('c1.txt');
  const second = platform.call(runtime.id, 'write_file', { path: 'c2\u202etxt.md', content: 'two\n' });
  await expect(dialog()).toContainText('+1 more waiting');
  await armed();
  // Allow once, then the habitual second click on the same spot as soon as the next question
  // has taken its place (run in the page, so a loaded machine cannot make it late): ignored.
  const secondClick = await page.evaluate(`(async () => {
    const dialog = () => document.querySelector('[role="alertdialog"]');
    const allowOnce = () => [...dialog().querySelectorAll('button')].find((b) => b.textContent.startsWith('Allow once'));
    const box = allowOnce().getBoundingClientRect();
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    allowOnce().click();
    const started = performance.now();
    while (!dialog() || !dialog().textContent.includes('c2')) {
      if (performance.now() - started > 15000) return 'the next question never came';
      await new Promise((r) => requestAnimationFrame(r));
    }
    const target = document.elementFromPoint(x, y).closest('button');
    const armed = dialog().dataset.armed;
    for (const type of ['mousedown', 'mouseup']) target.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: x, clientY: y }));
    target.click();
    return target.textContent.trim() + ' / armed: ' + armed;
  })()`);
  expect(secondClick).toBe('Allow once A / armed: false');
  expect((await first).status).toBe(200);
  await armed();
  await expect(dialog()).toContainText('c2\\u202etxt.md');
  await expect(dialog()).not.toContainText('\u202e');
  await page.keyboard.press('d');
  expect((await second).body.error?.code).toBe('confirmation_denied');
  await expect(dialog()).toBeHidden();
});

test('a long diff says how much it changes in all and shows the rest on request', async () => {
  const content = Array.from({ length: 600 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const call = platform.call(runtime.id, 'write_file', { path: 'long.txt', content });
  await expect(dialog()).toContainText('long.txt');
  await expect(dialog().locator('.diff-stat')).toHaveText('+600 −0 lines');
  await expect(dialog()).toContainText(/more lines not shown \(\+\d+ −0\)/);
  await expect(dialog().getByText('+line 600', { exact: true })).toHaveCount(0);
  await dialog().getByRole('button', { name: 'Show all' }).click();
  await expect(dialog().getByText('+line 600', { exact: true })).toBeVisible();
  // A short window: only the diff scrolls; the question and the answers stay in view.
  await page.setViewportSize({ width: 1000, height: 520 });
  await expect(dialog().getByRole('heading', { name: /Allow write_file/ })).toBeInViewport();
  await expect(dialog().getByRole('button', { name: /Allow once/ })).toBeInViewport();
  await page.setViewportSize({ width: 1100, height: 780 });
  await page.keyboard.press('Escape');
  expect((await call).body.error?.code).toBe('confirmation_denied');
});

test('a shell command shows the command and cwd (dark mode)', async ({ browser }) => {
  await context.close();
  await openContext(browser, 'dark', true);
  await page.goto(stack.uiUrl);
  await expect(page.getByRole('heading', { name: 'Connected' })).toBeVisible();
  await snap('04-workspaces-dark');
  const call = platform.call(runtime.id, 'run_command', { command: 'git status --short && ls -la', cwd: '.' });
  await expect(dialog()).toContainText('git status --short && ls -la');
  await expect(dialog()).toContainText(stack.workspaceDir);
  // The question says where the command runs: here, in the default bubblewrap sandbox.
  await expect(dialog().getByLabel('Where the command runs')).toContainText(
    'Sandboxed (bubblewrap): writes only in the workspace',
  );
  await armed();
  await snap('05-confirmation-shell-dark', false);
  // Back to the window (it may have popped up in the background): the arming wait starts again.
  const armedAfterFocus = await page.evaluate(`(async () => {
    window.dispatchEvent(new FocusEvent('focus'));
    for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(r));
    return document.querySelector('[role="alertdialog"]').dataset.armed;
  })()`);
  expect(armedAfterFocus).toBe('false');
  await armed();
  await page.keyboard.press('Escape');
  const outcome = await call;
  expect(outcome.body.error?.code).toBe('confirmation_denied');
});

test('a question answered while the page was cut off does not come back as a ghost', async () => {
  const call = platform.call(runtime.id, 'write_file', { path: 'ghost.txt', content: 'boo\n' });
  await expect(dialog()).toContainText('ghost.txt');
  await page.evaluate('window.__link.block()');
  await expect(page.getByText(/Lost the connection to the Tether host/)).toBeVisible();
  // Answered in another tab meanwhile: this page misses the confirm:resolved event.
  const other = await context.newPage();
  await other.goto(stack.uiUrl);
  await expect(other.getByRole('alertdialog')).toContainText('ghost.txt');
  await other.keyboard.press('Escape');
  expect((await call).body.error?.code).toBe('confirmation_denied');
  await other.close();
  await expect(dialog()).toContainText('ghost.txt');
  await expect(dialog().getByText(/can be answered once it is back/)).toBeVisible();
  await expect(dialog().getByRole('button', { name: /Allow once/ })).toHaveAttribute('aria-disabled', 'true');
  await snap('11-dialog-offline-dark', false);
  // Back online: the state it reloads is the truth, and the question is gone.
  await page.evaluate('window.__link.blocked = false');
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  await expect(dialog()).toHaveCount(0);
});

test('allowing the workspace for N minutes lets the next write through without asking', async () => {
  const first = platform.call(runtime.id, 'write_file', { path: 'a.txt', content: 'a\n' });
  await expect(dialog()).toContainText('a.txt');
  await dialog().getByLabel('Minutes to allow this workspace without asking').selectOption('5');
  await dialog().focus();
  await armed();
  await page.keyboard.press('w');
  expect((await first).status).toBe(200);
  await expect(workspaceCard('site').getByText(/without asking until/)).toBeVisible();

  const second = await platform.call(runtime.id, 'write_file', { path: 'b.txt', content: 'b\n' });
  expect(second.status).toBe(200);
  await expect(dialog()).toHaveCount(0);
  expect(await readFile(join(stack.workspaceDir, 'b.txt'), 'utf8')).toBe('b\n');

  // Changed their mind: "Ask again now" ends the window, and the next write asks.
  await workspaceCard('site').getByRole('button', { name: 'Ask again now' }).click();
  await expect(workspaceCard('site').getByText(/without asking until/)).toHaveCount(0);
  const third = platform.call(runtime.id, 'write_file', { path: 'c.txt', content: 'c\n' });
  await expect(dialog()).toContainText('c.txt');
  await page.keyboard.press('Escape');
  expect((await third).body.error?.code).toBe('confirmation_denied');
});

test('pause makes calls fail with runtime_paused; resume brings it back', async () => {
  const card = workspaceCard('site');
  await card.getByRole('button', { name: 'Pause' }).click();
  await expect(card.getByText('Paused', { exact: true })).toBeVisible();
  await expect(card.getByText(/every call fails until you resume it/)).toBeVisible();
  await platform.waitForRuntime('site', 'paused');
  const outcome = await platform.call(runtime.id, 'read_file', { path: 'notes.md' });
  expect(outcome.body.error?.code).toBe('runtime_paused');
  await card.getByRole('button', { name: 'Resume' }).click();
  await platform.waitForRuntime('site', 'running');
  expect((await platform.call(runtime.id, 'read_file', { path: 'notes.md' })).status).toBe(200);
});

test('removing a workspace archives its runtime at the relay', async () => {
  await page.getByLabel('Folder path').fill(stack.scratchDir);
  await page.getByLabel('Name (optional)').fill('scratch');
  await page.getByRole('button', { name: 'Add workspace' }).click();
  const scratch = await platform.waitForRuntime('scratch', 'running');
  const card = workspaceCard('scratch');
  // Its folder deleted: the card says what is wrong and what can be done about it.
  await rm(stack.scratchDir, { recursive: true });
  await expect(card.getByText('Error', { exact: true })).toBeVisible();
  await expect(card.getByText('The workspace folder no longer exists.')).toBeVisible();
  await expect(card.getByText(/put the folder back .* and it resumes, or remove the workspace/)).toBeVisible();
  await card.getByRole('button', { name: 'Remove…' }).click();
  await card.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(card).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Workspaces', exact: true })).toBeFocused();
  await expect.poll(async () => (await platform.runtime(scratch.id)).state).toBe('archived');
});

test('the activity view shows every call, newest first, filterable', async () => {
  await page.getByRole('button', { name: 'Activity' }).click();
  const rows = page.getByRole('row');
  // Header + read, the call made while paused (refused by the relay, which told the desktop),
  // c (denied), b, a, ghost (denied), shell (denied), long.txt (denied), c2 (denied), c1, q2,
  // q1, denied.txt, notes.md = 15 rows.
  await expect(rows).toHaveCount(15);
  await expect(rows.nth(1)).toContainText('read_file');
  await expect(rows.nth(1)).toContainText('ok');
  await expect(page.getByRole('row', { name: /confirmation_denied/ })).toHaveCount(8);
  // The path with a right-to-left override reads as written, as in the dialog.
  await expect(page.getByRole('row', { name: /c2\\u202etxt\.md/ })).toHaveCount(1);
  expect(await page.getByRole('table').textContent()).not.toContain('\u202e');
  await expect(rows.nth(1).getByRole('cell').nth(2)).toHaveText('e2e platform');
  await expect(rows.last()).toContainText('notes.md');
  await snap('06-activity-dark');

  await expect(page.getByRole('row', { name: /allowed \(for a while\)/ })).toContainText('b.txt');
  await page.getByLabel('Outcome').selectOption('error');
  await expect(rows).toHaveCount(10);
  await page.getByLabel('Outcome').selectOption('');
  await page.getByLabel('Tool').selectOption('run_command');
  await expect(rows).toHaveCount(2);
  // Filters that match nothing say so, and one click brings everything back.
  await page.getByLabel('Tool').selectOption('glob');
  await expect(page.getByText('No calls match these filters.')).toBeVisible();
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect(page.getByLabel('Tool')).toHaveValue('');
  await expect(rows).toHaveCount(15);

  // Live: a new call appears without reloading.
  await platform.call(runtime.id, 'stat', { path: 'a.txt' });
  await expect(rows).toHaveCount(16);
  await expect(rows.nth(1)).toContainText('stat');
});

test('settings and the light theme', async ({ browser }) => {
  await context.close();
  await openContext(browser, 'light', true);
  await page.goto(stack.uiUrl);
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByLabel('Device name').fill('studio-mac');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Settings saved.' })).toBeVisible();
  await snap('07-settings');
  await page.getByRole('button', { name: 'Activity' }).click();
  await expect(page.getByRole('row')).toHaveCount(16);
  await snap('08-activity');

  // A narrow window: nothing wider than the window, each call a block of labelled values.
  await page.setViewportSize({ width: 420, height: 780 });
  await expect(page.getByRole('row').nth(1).getByRole('cell').first()).toHaveCSS('display', 'flex');
  for (const view of ['Activity', 'Workspaces', 'Settings']) {
    await page.getByRole('button', { name: view }).click();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(420);
  }
  await snap('09-narrow-settings');
  await page.setViewportSize({ width: 1100, height: 780 });
});

test('keys pressed while the page is cut off do not arm the question: back online, the wait starts again', async () => {
  const call = platform.call(runtime.id, 'write_file', { path: 'offline-keys.txt', content: 'x\n' });
  await expect(dialog()).toContainText('offline-keys.txt');
  await page.evaluate('window.__link.block()');
  await expect(dialog().getByText(/can be answered once it is back/)).toBeVisible();
  // The person keeps typing (or tries to answer) meanwhile: past the 600 ms wait, still unarmed.
  await page.keyboard.press('x');
  await page.waitForTimeout(1_000);
  await expect(dialog()).toHaveAttribute('data-armed', 'false');
  // Checked in the page in the frame the offline note goes away, so a slow test runner cannot miss it.
  const armedAtReconnect = page.evaluate(`new Promise((resolve) => {
    const check = () => {
      const d = document.querySelector('[role="alertdialog"]');
      if (d && !d.textContent.includes('can be answered once')) resolve(d.dataset.armed);
      else requestAnimationFrame(check);
    };
    check();
  })`);
  await page.evaluate('window.__link.blocked = false');
  expect(await armedAtReconnect).toBe('false');
  await armed();
  await page.keyboard.press('Escape');
  expect((await call).body.error?.code).toBe('confirmation_denied');
});

test('turning the connection off stops the runtime at the relay', async () => {
  await page.getByRole('button', { name: 'Workspaces' }).click();
  await page.getByRole('button', { name: 'Disconnect' }).click();
  await expect(page.getByRole('heading', { name: 'Disconnected' })).toBeVisible();
  // Running here, but out of the agents' reach: the card says so.
  await expect(workspaceCard('site').getByText('Offline', { exact: true })).toBeVisible();
  await platform.waitForRuntime('site', 'stopped');
  const outcome: CallOutcome = await platform.call(runtime.id, 'read_file', { path: 'notes.md' });
  expect(outcome.body.error?.code).toBe('runtime_offline');
  await page.getByRole('button', { name: 'Connect' }).click();
  await platform.waitForRuntime('site', 'running');
});

test('when the host goes away the page says so and offers nothing it cannot do', async () => {
  await expect(page.getByLabel('Relay connection: connected')).toBeVisible();
  // An address with another secret (an old one, after the host restarted): it says why nothing loads.
  const tab = await context.newPage();
  await tab.goto(stack.uiUrl.replace(/secret=.*/, 'secret=an-old-secret'));
  await expect(tab.getByText('Cannot reach Tether Desktop at this address.')).toBeVisible();
  await expect(tab.getByText(/open the address it printed last/)).toBeVisible();
  await tab.close();
  await stack.stopHost();
  await expect(page.getByText(/Lost the connection to the Tether host/)).toBeVisible();
  await expect(page.getByLabel('No connection to the Tether host')).toBeVisible();
  // The last state stays readable but inert: a click would only fail.
  await expect(page.locator('.shell')).toHaveAttribute('inert', '');
  await snap('10-host-gone');
});
