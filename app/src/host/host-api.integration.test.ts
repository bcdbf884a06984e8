import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import { TetherError, type DesktopEvent, type DesktopState } from '@tether/shared';
import { TOKEN_FILE } from './token/token-store.js';
import { startStack, waitFor, type StackOptions, type StartRelay } from './test-stack.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.dispose();
});

async function stackWith(options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(startRelay as unknown as StartRelay, options);
  stacks.push(stack);
  return stack;
}

/** Records every event a subscriber gets. */
function record(stack: Stack, answersConfirmations = false) {
  const events: Array<{ event: DesktopEvent; payload: unknown }> = [];
  const stop = stack.host.api.subscribe((event, payload) => events.push({ event, payload }), { answersConfirmations });
  return {
    events,
    stop,
    states: () => events.filter((e) => e.event === 'state:changed').map((e) => e.payload as DesktopState),
  };
}

async function rejection(promise: Promise<unknown>): Promise<TetherError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  return err as TetherError;
}

describe('HostApiImpl', () => {
  describe('request', () => {
    it('refuses params that fail the shared schema with invalid_args naming the field', async () => {
      const { host } = await stackWith();
      const err = await rejection(host.api.request('workspace:add', { root: '' }));
      expect(err.code).toBe('invalid_args');
      expect(err.details).toMatchObject({ fields: [{ path: 'root' }] });
      expect((await rejection(host.api.request('workspace:update', { id: 'x', colour: 'red' }))).code).toBe(
        'invalid_args',
      );
      expect((await rejection(host.api.request('settings:update', { relayUrl: 'ftp://nope' }))).code).toBe(
        'invalid_args',
      );
    });

    it('refuses an unknown method with invalid_request', async () => {
      const { host } = await stackWith();
      expect((await rejection(host.api.request('files:delete' as never, {}))).code).toBe('invalid_request');
    });

    it('adds a workspace that becomes a runtime, shown with its runtime id', async () => {
      const stack = await stackWith();
      const folder = join(stack.dir, 'second');
      await mkdir(folder);
      const view = await stack.host.api.request('workspace:add', {
        root: folder,
        name: 'Second',
        description: 'another one',
      });
      expect(view).toMatchObject({
        name: 'Second',
        root: folder,
        state: 'running',
        policy: { read: 'allow', write: 'ask', shell: 'ask' },
      });
      await waitFor(
        async () => (await stack.runtimes()).find((r) => r.workspace.name === 'Second' && r.state === 'running'),
        'the new runtime',
      );
      const state = await waitFor(async () => {
        const s = await stack.host.api.request('state:get', {});
        return s.workspaces.find((w) => w.id === view.id)?.runtimeId ? s : undefined;
      }, 'the runtime id in the state');
      const runtime = (await stack.runtimes()).find((r) => r.workspace.name === 'Second');
      expect(state.workspaces.find((w) => w.id === view.id)?.runtimeId).toBe(runtime?.id);
      expect((await rejection(stack.host.api.request('workspace:add', { root: folder }))).code).toBe('already_exists');
    });
  });

  describe('workspace sandbox', () => {
    it('shows whether commands are sandboxed and what is hidden, and changes network and hidden paths', async () => {
      const stack = await stackWith();
      const folder = join(stack.dir, 'boxed');
      await mkdir(folder);
      const view = await stack.host.api.request('workspace:add', { root: folder });
      expect(view.sandbox).toMatchObject({ setting: 'os', network: 'internet', allowDomains: [], hidePaths: [] });
      if (view.sandbox?.sandboxed) {
        // Tether's own config dir (token file, audit log, call journal) and the other workspace are hidden.
        expect(view.sandbox.hidden).toContain(stack.host.config.dir);
        expect(view.sandbox.hidden.some((p) => p.endsWith('/.ssh'))).toBe(true);
      } else {
        expect(view.sandbox?.reason).toBeTruthy();
      }
      const updated = await stack.host.api.request('workspace:update', {
        id: view.id,
        network: 'domains',
        allowDomains: ['registry.npmjs.org', '*.github.com'],
        hidePaths: ['secrets'],
      });
      expect(updated.sandbox).toMatchObject({
        network: 'domains',
        allowDomains: ['registry.npmjs.org', '*.github.com'],
        hidePaths: ['secrets'],
      });
      const bad = await rejection(
        stack.host.api.request('workspace:update', { id: view.id, allowDomains: ['evil.com/path'] }),
      );
      expect(bad.code).toBe('invalid_args');
      const off = await stack.host.api.request('workspace:update', { id: view.id, sandbox: 'off' });
      expect(off.sandbox).toMatchObject({ setting: 'off', sandboxed: false, hidden: [] });
    });
  });

  describe('settings:update', () => {
    it('stores a new token in the token store (a 0600 file without a keychain) and connects with it', async () => {
      const stack = await stackWith({ host: { token: undefined }, waitConnected: false });
      const before = await stack.host.api.request('state:get', {});
      expect(before).toMatchObject({
        hasToken: false,
        tokenStore: 'none',
        connection: { state: 'error', reason: expect.stringMatching(/No desktop token/) },
      });
      const after = await stack.host.api.request('settings:update', { token: stack.desktopToken });
      expect(after).toMatchObject({ hasToken: true, tokenStore: 'file' });
      await waitFor(() => stack.host.relay.status.state === 'connected', 'connected with the new token');
      await stack.runtimeIn('running');
      const file = await stat(join(stack.dir, 'config', TOKEN_FILE));
      expect(file.mode & 0o777).toBe(0o600);
      expect(JSON.stringify(await stack.host.api.request('state:get', {}))).not.toContain(stack.desktopToken);
    });

    it('shows a refused first token as an error and does not retry', async () => {
      const stack = await stackWith({ host: { token: undefined }, waitConnected: false });
      await stack.host.api.request('settings:update', { token: 'tdt_not_a_real_token' });
      await waitFor(
        () => /refused the desktop token \(HTTP 401\)/.test(stack.host.relay.status.reason ?? ''),
        'the refusal',
      );
      expect(stack.host.relay.status.state).toBe('error');
    });

    it('checks a replacement token with the relay first: a refused one is rejected and the old one kept', async () => {
      const stack = await stackWith();
      await stack.runtimeIn('running');
      const refused = await rejection(stack.host.api.request('settings:update', { token: 'tdt_not_a_real_token' }));
      expect(refused.code).toBe('token_refused');
      expect(refused.message).toMatch(/relay refused this token \(HTTP 401\).*kept/);
      expect(stack.host.relay.status.state).toBe('connected');
      // Nothing was stored (the token in use came from --token and is still the one in use).
      await expect(readFile(join(stack.dir, 'config', TOKEN_FILE), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await stack.host.api.request('state:get', {})).tokenStore).toBe('memory');
      await stack.runtimeIn('running');
    });

    it('rejects a platform key or grant as the token without asking the relay, keeping the old one', async () => {
      const stack = await stackWith();
      for (const token of ['tpk_abc', 'tgr_abc', 'hello']) {
        const refused = await rejection(stack.host.api.request('settings:update', { token }));
        expect(refused.code).toBe('token_refused');
      }
      expect((await rejection(stack.host.api.request('settings:update', { token: 'tpk_abc' }))).message).toMatch(
        /platform key/,
      );
      expect(stack.host.relay.status.state).toBe('connected');
    });

    it('takes a replacement token the relay accepts', async () => {
      const stack = await stackWith();
      await stack.runtimeIn('running');
      // The same token again (another one would meet the device's binding to this one).
      await stack.host.api.request('settings:update', { token: stack.desktopToken });
      await waitFor(() => stack.host.relay.status.state === 'connected', 'connected with the new token');
    });
  });

  describe('connection:set', () => {
    it('disconnects (the runtime stops) and connects again (running)', async () => {
      const stack = await stackWith();
      await stack.runtimeIn('running');
      const off = await stack.host.api.request('connection:set', { enabled: false });
      expect(off.connection).toMatchObject({ state: 'disconnected', enabled: false });
      await stack.runtimeIn('stopped');
      await stack.host.api.request('connection:set', { enabled: true });
      await stack.runtimeIn('running');
      expect((await stack.host.api.request('state:get', {})).connection).toMatchObject({
        state: 'connected',
        enabled: true,
      });
    });
  });

  describe('subscribe', () => {
    it('pushes state:changed (debounced) on changes and activity:appended for each call', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const sub = record(stack);
      const [workspace] = (await stack.host.api.request('state:get', {})).workspaces;
      await stack.host.api.request('workspace:update', {
        id: workspace!.id,
        name: 'Renamed',
        description: 'new words',
      });
      await waitFor(
        () => sub.states().some((s) => s.workspaces[0]?.name === 'Renamed'),
        'a state:changed with the new name',
      );
      await stack.call(runtime.id, 'read_file', { path: 'hello.txt' });
      const appended = await waitFor(
        () => sub.events.find((e) => e.event === 'activity:appended'),
        'activity:appended',
      );
      expect(appended.payload).toMatchObject({
        tool: 'read_file',
        decision: 'allowed',
        outcome: 'ok',
        workspaceName: 'Renamed',
      });
      const { entries } = await stack.host.api.request('activity:list', { outcome: 'ok' });
      expect(entries.map((e) => e.tool)).toEqual(['read_file']);
      sub.stop();
      const count = sub.events.length;
      await stack.host.api.request('workspace:update', { id: workspace!.id, name: 'Again' });
      await new Promise((r) => setTimeout(r, 100));
      expect(sub.events).toHaveLength(count);
    });

    it('ends every standing allowance on workspace:update askAgain', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const front = record(stack, true);
      const questions = () => front.events.filter((e) => e.event === 'confirm:request');
      const first = stack.call(runtime.id, 'write_file', { path: 'a.txt', content: 'a' }, { timeoutMs: 20_000 });
      const request = await waitFor(() => questions()[0], 'the first question');
      const id = (request.payload as { id: string }).id;
      await stack.host.api.request('confirm:answer', {
        confirmationId: id,
        decision: 'allow_rule',
        offer: 0,
        minutes: 5,
      });
      expect((await first).status).toBe(200);
      expect((await stack.call(runtime.id, 'write_file', { path: 'b.txt', content: 'b' })).status).toBe(200);
      expect(questions()).toHaveLength(1);

      const workspace = (await stack.host.api.request('state:get', {})).workspaces[0]!;
      expect(workspace.allowances).toMatchObject([{ scope: { kind: 'path', path: '.', folder: true } }]);
      // The call let through is audited as remembered, with the allowance that did it.
      const { entries } = await stack.host.api.request('activity:list', { tool: 'write_file' });
      expect(entries[0]).toMatchObject({
        decision: 'remembered',
        summary: expect.stringContaining('b.txt'),
        rule: { id: workspace.allowances[0]!.id, covers: expect.stringContaining('anywhere in this workspace') },
      });
      expect(entries[1]).toMatchObject({ decision: 'confirmed' });
      expect(entries[1]!.rule).toBeUndefined();
      expect(workspace.allowances[0]!.expiresAt).toBeGreaterThan(Date.now());
      const view = await stack.host.api.request('workspace:update', { id: workspace.id, askAgain: true });
      expect(view.allowances).toEqual([]);
      expect(view.policy).toEqual(workspace.policy);
      const third = stack.call(runtime.id, 'write_file', { path: 'c.txt', content: 'c' }, { timeoutMs: 20_000 });
      const again = await waitFor(() => questions()[1], 'a question again');
      const againId = (again.payload as { id: string }).id;
      await stack.host.api.request('confirm:answer', { confirmationId: againId, decision: 'deny' });
      expect((await third).error?.code).toBe('confirmation_denied');
      front.stop();
    });

    it('tells the whole story of a call: the wait for the person, the answer, the diff, a command exit code and output', async () => {
      const stack = await stackWith({ policy: { read: 'allow', write: 'ask', shell: 'allow' } });
      const runtime = await stack.runtimeIn('running');
      const front = record(stack, true);
      const write = stack.call(runtime.id, 'write_file', { path: 'a.txt', content: 'hello\n' }, { timeoutMs: 20_000 });
      const request = await waitFor(() => front.events.find((e) => e.event === 'confirm:request'), 'the question');
      await new Promise((r) => setTimeout(r, 300));
      await stack.host.api.request('confirm:answer', {
        confirmationId: (request.payload as { id: string }).id,
        decision: 'allow_once',
      });
      expect((await write).status).toBe(200);
      const run = await stack.call(runtime.id, 'run_command', { command: 'echo out; exit 3' });
      expect(run.status).toBe(200);
      const { entries } = await stack.host.api.request('activity:list', {});
      const [command, written] = entries;
      expect(command).toMatchObject({
        tool: 'run_command',
        exitCode: 3,
        detail: { outputHead: expect.stringContaining('out') },
      });
      expect(command?.waitMs).toBeUndefined();
      expect(written).toMatchObject({
        tool: 'write_file',
        decision: 'confirmed',
        detail: { answer: 'You allowed it.' },
      });
      expect(written?.detail?.diff).toContain('+hello');
      expect(written?.waitMs).toBeGreaterThanOrEqual(250);
      expect(written!.durationMs).toBeGreaterThanOrEqual(written!.waitMs!);
      front.stop();
    });

    it('has an entry for calls the relay refused before they reached the desktop, filterable by decision', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const workspace = (await stack.host.api.request('state:get', {})).workspaces[0]!;
      await stack.host.api.request('workspace:update', { id: workspace.id, disabledTools: ['delete'] });
      await waitFor(
        async () => !(await stack.runtimes()).find((r) => r.id === runtime.id)?.capabilities.tools.includes('delete'),
        'the relay to know delete is off',
      );
      expect((await stack.call(runtime.id, 'delete', { path: 'hello.txt' })).error?.code).toBe('tool_disabled');
      await stack.host.api.request('workspace:update', { id: workspace.id, paused: true });
      await stack.runtimeIn('paused');
      expect((await stack.call(runtime.id, 'stat', { path: 'hello.txt' })).error?.code).toBe('runtime_paused');
      const entries = await waitFor(async () => {
        const { entries } = await stack.host.api.request('activity:list', {});
        return entries.length >= 2 ? entries : undefined;
      }, 'two activity entries');
      expect(entries[0]).toMatchObject({
        tool: 'stat',
        decision: 'paused',
        errorCode: 'runtime_paused',
        refusedAt: 'relay',
      });
      expect(entries[1]).toMatchObject({
        tool: 'delete',
        decision: 'disabled',
        errorCode: 'tool_disabled',
        refusedAt: 'relay',
      });
      const paused = await stack.host.api.request('activity:list', { decisions: ['paused'] });
      expect(paused.entries.map((e) => e.tool)).toEqual(['stat']);
    });

    it('counts as a confirmation front end only while subscribed with answersConfirmations', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const watcher = record(stack);
      const front = record(stack, true);
      expect(stack.host.broker.hasFrontend()).toBe(true);
      const pending = stack.call(runtime.id, 'write_file', { path: 'q.txt', content: 'q' }, { timeoutMs: 20_000 });
      const request = await waitFor(() => front.events.find((e) => e.event === 'confirm:request'), 'the question');
      const state = await stack.host.api.request('state:get', {});
      expect(state.pendingConfirmations).toHaveLength(1);
      expect(watcher.events.filter((e) => e.event === 'confirm:request')).toHaveLength(1);
      expect(front.events.filter((e) => e.event === 'confirm:request')).toHaveLength(1);
      const id = (request.payload as { id: string }).id;
      expect(await stack.host.api.request('confirm:answer', { confirmationId: id, decision: 'allow_once' })).toEqual({
        accepted: true,
      });
      expect(await stack.host.api.request('confirm:answer', { confirmationId: id, decision: 'deny' })).toEqual({
        accepted: false,
      });
      expect((await pending).status).toBe(200);
      await waitFor(() => watcher.events.find((e) => e.event === 'confirm:resolved'), 'confirm:resolved');
      front.stop();
      expect(stack.host.broker.hasFrontend()).toBe(false);
      expect((await stack.call(runtime.id, 'write_file', { path: 'q2.txt', content: 'q' })).error?.code).toBe(
        'confirmation_unavailable',
      );
      watcher.stop();
    });
  });
});
