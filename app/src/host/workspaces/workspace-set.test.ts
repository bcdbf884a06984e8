import { mkdir, mkdtemp, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_FILE_EVENTS_PER_BATCH, type AppEvent } from '@tether/shared';
import { ConfigStore } from '../config/config-store.js';
import { WorkspaceSet, type WorkspaceSetOptions } from './workspace-set.js';

/** Opens the set with the real fs tools (the default) running its self-checks. */
function openSet(store: ConfigStore, options: WorkspaceSetOptions = {}): Promise<WorkspaceSet> {
  return WorkspaceSet.open(store, options);
}

let base: string;
let config: ConfigStore;
let set: WorkspaceSet | undefined;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tether-ws-')));
  await mkdir(join(base, 'cfg'));
  await mkdir(join(base, 'a'));
  await mkdir(join(base, 'b'));
  config = await ConfigStore.open(join(base, 'cfg'));
});
afterEach(async () => {
  await set?.dispose();
  set = undefined;
  await rm(base, { recursive: true, force: true });
});

/** Polls until `condition` holds (generous: a loaded 2-core box may be slow). */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('WorkspaceSet', () => {
  describe('add', () => {
    it('adds a folder by its real path with defaults, persists it, and announces it without its root', async () => {
      set = await openSet(config, { fileEvents: false });
      let changed = 0;
      set.on('changed', () => changed++);
      await symlink(join(base, 'a'), join(base, 'link-to-a'));
      const runtime = await set.add({ root: join(base, 'link-to-a') });
      expect(runtime.config).toMatchObject({ root: join(base, 'a'), name: 'a', description: '', paused: false });
      expect(runtime.config.policy).toEqual({ read: 'allow', write: 'ask', shell: 'ask' });
      expect(runtime.state).toBe('running');
      expect(runtime.guard?.root).toBe(join(base, 'a'));
      expect(changed).toBeGreaterThan(0);
      expect(JSON.parse(await readFile(config.path, 'utf8')).workspaces[0].id).toBe(runtime.config.id);
      const [announcement] = set.announcements();
      expect(announcement).toMatchObject({ workspaceId: runtime.config.id, name: 'a', state: 'running' });
      expect(JSON.stringify(announcement)).not.toContain(base);
      expect(announcement!.capabilities.tools).toContain('run_command');
      expect(set.views()[0]).toMatchObject({ id: runtime.config.id, root: join(base, 'a'), state: 'running' });
    });

    it('refuses a missing path, a file, and the same real folder twice', async () => {
      set = await openSet(config, { fileEvents: false });
      await writeFile(join(base, 'file.txt'), 'x');
      await expect(set.add({ root: join(base, 'missing') })).rejects.toMatchObject({ code: 'not_found' });
      await expect(set.add({ root: join(base, 'file.txt') })).rejects.toMatchObject({ code: 'not_a_directory' });
      await set.add({ root: join(base, 'a'), name: 'Project A' });
      await expect(set.add({ root: `${join(base, 'b')}/../a` })).rejects.toMatchObject({ code: 'already_exists' });
      expect(set.list()).toHaveLength(1);
    });

    it('keeps workspaces across a restart', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a'), policy: { read: 'allow', write: 'deny', shell: 'deny' } });
      await set.dispose();
      set = await openSet(await ConfigStore.open(join(base, 'cfg')), { fileEvents: false });
      expect(set.get(a.config.id)?.config.policy).toEqual({ read: 'allow', write: 'deny', shell: 'deny' });
      expect(set.get(a.config.id)?.state).toBe('running');
    });
  });

  describe('allowances', () => {
    it('records, replaces, revokes and ends them with a policy change of their category', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      const write = await a.addAllowance({ kind: 'path', path: 'docs', folder: true }, Date.now() + 60_000);
      await a.addAllowance({ kind: 'path', path: 'docs', folder: true }, null); // same scope: replaced
      const cmd = await a.addAllowance({ kind: 'command', command: 'make', cwd: '.' }, null);
      expect(config.get().workspaces[0]!.allowances.map((x) => x.expiresAt)).toEqual([null, null]);
      expect(set.views()[0]!.allowances.map((x) => x.id)).not.toContain(write.id);
      await set.update(a.config.id, { policy: { read: 'allow', write: 'deny', shell: 'ask' } });
      expect(a.config.allowances.map((x) => x.id)).toEqual([cmd.id]);
      expect(await set.revokeAllowances(a.config.id, cmd.id)).toBe(1);
      expect(await set.revokeAllowances(a.config.id, cmd.id)).toBe(0);
      expect(config.get().workspaces[0]!.allowances).toEqual([]);
    });

    it('keeps only the lasting ones across a restart', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await a.addAllowance({ kind: 'category', category: 'write' }, Date.now() + 60_000);
      await a.addAllowance({ kind: 'prefix', prefix: 'npm test' }, null);
      await set.dispose();
      set = await openSet(await ConfigStore.open(join(base, 'cfg')), { fileEvents: false });
      expect(set.views()[0]!.allowances.map((x) => x.scope)).toEqual([{ kind: 'prefix', prefix: 'npm test' }]);
    });
  });

  describe('add: guard rails', () => {
    it('refuses / and the home folder with unsafe_workspace_root, adding nothing', async () => {
      set = await openSet(config, { fileEvents: false, rootGuard: { home: join(base, 'a') } });
      await expect(set.add({ root: '/' })).rejects.toMatchObject({ code: 'unsafe_workspace_root' });
      await expect(set.add({ root: join(base, 'a') })).rejects.toMatchObject({ code: 'unsafe_workspace_root' });
      await expect(set.add({ root: '~' })).rejects.toMatchObject({ code: 'unsafe_workspace_root' });
      // A link to the disk's root is the disk's root.
      await symlink('/', join(base, 'b', 'everything'));
      await expect(set.add({ root: join(base, 'b', 'everything') })).rejects.toMatchObject({
        code: 'unsafe_workspace_root',
      });
      expect(set.list()).toHaveLength(0);
      expect(JSON.parse(await readFile(config.path, 'utf8')).workspaces).toEqual([]);
    });

    it('adds a refused folder when asked to on purpose, and keeps saying what it is', async () => {
      set = await openSet(config, { fileEvents: false, rootGuard: { home: join(base, 'a') } });
      const runtime = await set.add({ root: join(base, 'a'), allowAnyFolder: true });
      expect(runtime.config.root).toBe(join(base, 'a'));
      expect(set.warningsOf(runtime.config.id)).toEqual([expect.stringMatching(/is your home folder/)]);
    });

    it('expands ~/ and refuses a relative path instead of resolving it against the working folder', async () => {
      set = await openSet(config, { fileEvents: false, rootGuard: { home: base } });
      const runtime = await set.add({ root: '~/b' });
      expect(runtime.config.root).toBe(join(base, 'b'));
      await expect(set.add({ root: 'a' })).rejects.toMatchObject({ code: 'invalid_args' });
      expect(set.list()).toHaveLength(1);
    });

    it('refuses the folder holding the config', async () => {
      set = await openSet(config, { fileEvents: false, rootGuard: { protectedPaths: [join(base, 'cfg')] } });
      await expect(set.add({ root: base })).rejects.toMatchObject({ code: 'unsafe_workspace_root' });
      await expect(set.add({ root: join(base, 'cfg') })).rejects.toMatchObject({ code: 'unsafe_workspace_root' });
    });

    it('warns about a folder inside or around another workspace', async () => {
      set = await openSet(config, { fileEvents: false });
      await mkdir(join(base, 'a', 'inner'));
      const outer = await set.add({ root: join(base, 'a') });
      expect(set.warningsOf(outer.config.id)).toEqual([]);
      const inner = await set.add({ root: join(base, 'a', 'inner') });
      expect(set.warningsOf(inner.config.id)).toEqual([expect.stringMatching(/inside the workspace "a"/)]);
      expect(set.warningsOf(outer.config.id)).toEqual([expect.stringMatching(/holds the workspace "inner"/)]);
    });
  });

  describe('update', () => {
    it('pauses, switches tools off and changes policy, and forgets a remembered approval when tightened', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      const health: AppEvent[] = [];
      set.on('health', (e) => health.push(e));
      await a.addAllowance({ kind: 'category', category: 'write' }, Date.now() + 60_000);
      await a.addAllowance({ kind: 'prefix', prefix: 'npm test' }, null);
      expect(set.views()[0]!.allowances).toHaveLength(2);
      await set.update(a.config.id, { paused: true, disabledTools: ['delete', 'delete'] });
      expect(a.state).toBe('paused');
      // Pausing ends the timed allowance; the one kept until revoked stays.
      expect(a.config.allowances.map((x) => x.scope.kind)).toEqual(['prefix']);
      expect(health).toEqual([{ kind: 'health', workspaceId: a.config.id, state: 'paused' }]);
      expect(set.announcements()[0]!.capabilities.tools).not.toContain('delete');
      expect(config.get().workspaces[0]!.disabledTools).toEqual(['delete']);
      await set.update(a.config.id, { paused: false });
      expect(a.state).toBe('running');
      await expect(set.update('ws_nope', { paused: true })).rejects.toMatchObject({ code: 'not_found' });
      await expect(set.update(a.config.id, { name: '' })).rejects.toMatchObject({ code: 'invalid_request' });
    });
  });

  describe('remove', () => {
    it('removes a workspace from the set and the config', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      const removed: string[] = [];
      set.on('removed', (id) => removed.push(id));
      await expect(set.remove(a.config.id)).resolves.toBe(true);
      await expect(set.remove(a.config.id)).resolves.toBe(false);
      expect(removed).toEqual([a.config.id]);
      expect(set.list()).toEqual([]);
      expect(config.get().workspaces).toEqual([]);
    });
  });

  describe('health', () => {
    it('puts only the workspace whose folder vanished in error, and recovers when it is back', async () => {
      set = await openSet(config, { healthIntervalMs: 50, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      const b = await set.add({ root: join(base, 'b') });
      const health: AppEvent[] = [];
      set.on('health', (e) => health.push(e));

      await rename(join(base, 'a'), join(base, 'a-away'));
      await until(() => a.state === 'error', 'a in error');
      expect(a.reason).toMatch(/no longer exists/);
      expect(a.guard).toBeNull();
      expect(b.state).toBe('running');
      expect(set.announcements().find((x) => x.workspaceId === a.config.id)).toMatchObject({
        state: 'error',
        reason: a.reason,
      });

      await rename(join(base, 'a-away'), join(base, 'a'));
      await until(() => a.state === 'running', 'a running again');
      expect(a.reason).toBeUndefined();
      expect(a.guard).not.toBeNull();
      expect(health.map((e) => e.kind === 'health' && [e.workspaceId, e.state])).toEqual([
        [a.config.id, 'error'],
        [a.config.id, 'running'],
      ]);
    });

    it('recovers with a fresh folder at the same path (a new directory, a new guard)', async () => {
      set = await openSet(config, { healthIntervalMs: 50, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      const firstGuard = a.guard;
      await rm(join(base, 'a'), { recursive: true });
      await until(() => a.state === 'error', 'a in error');
      await mkdir(join(base, 'a'));
      await until(() => a.state === 'running', 'a running again');
      expect(a.guard).not.toBe(firstGuard);
      await expect(a.guard!.resolve('x.txt')).resolves.toMatchObject({ rel: 'x.txt' });
    });

    it('says a folder swapped for a new one between two checks was replaced, without naming its path', async () => {
      set = await openSet(config, { healthIntervalMs: 3_600_000, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await mkdir(join(base, 'a-new')); // made while the old one exists, so its inode differs
      await rm(join(base, 'a'), { recursive: true });
      await rename(join(base, 'a-new'), join(base, 'a'));
      await a.checkHealth();
      expect(a.state).toBe('error');
      expect(a.reason).toBe('The workspace folder was replaced by another folder.');
      // The next check pins the new folder.
      await a.checkHealth();
      expect(a.state).toBe('running');
    });

    it('says the folder no longer exists when it disappears during the self-check', async () => {
      set = await openSet(config, { healthIntervalMs: 3_600_000, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await Promise.all(Array.from({ length: 200 }, (_, i) => writeFile(join(base, 'a', `f${i}`), 'x')));
      const removing = rm(join(base, 'a'), { recursive: true });
      const checks = [a.checkHealth()];
      await removing;
      checks.push(a.checkHealth());
      await Promise.all(checks);
      expect(a.state).toBe('error');
      expect(a.reason).toBe('The workspace folder no longer exists.');
    });

    it('stays in error when the folder comes back as a link to somewhere else', async () => {
      set = await openSet(config, { healthIntervalMs: 50, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await rm(join(base, 'a'), { recursive: true });
      await until(() => a.state === 'error', 'a in error');
      await symlink(join(base, 'b'), join(base, 'a'));
      await until(() => a.reason?.includes('refusing to follow') === true, 'the link to be noticed');
      // Several more checks: it never recovers onto the other folder.
      await new Promise((r) => setTimeout(r, 300));
      expect(a.state).toBe('error');
      expect(a.guard).toBeNull();
    });

    it('puts a workspace whose folder became a file in error, and recovers when it is a folder again', async () => {
      set = await openSet(config, { healthIntervalMs: 50, fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await rm(join(base, 'a'), { recursive: true });
      await writeFile(join(base, 'a'), 'not a folder');
      await until(() => a.reason?.includes('no longer a directory') === true, 'the error reason');
      expect(a.state).toBe('error');
      await rm(join(base, 'a'));
      await mkdir(join(base, 'a'));
      await until(() => a.state === 'running', 'a running again');
    });

    it('starts a workspace whose folder is missing in error, and others normally', async () => {
      set = await openSet(config, { fileEvents: false });
      const a = await set.add({ root: join(base, 'a') });
      await set.add({ root: join(base, 'b') });
      await set.dispose();
      await rm(join(base, 'a'), { recursive: true });
      set = await openSet(config, { fileEvents: false });
      expect(set.get(a.config.id)?.state).toBe('error');
      expect(
        set
          .list()
          .map((r) => r.state)
          .sort(),
      ).toEqual(['error', 'running']);
    });
  });

  describe('files', () => {
    it('reports changes in batches with workspace-relative paths, ignoring .git, node_modules and configured globs', async () => {
      set = await openSet(config);
      const a = await set.add({ root: join(base, 'a') });
      await set.update(a.config.id, { watchIgnore: ['*.log', 'dist'] });
      await a.whenWatching();
      const batches: Array<Extract<AppEvent, { kind: 'files' }>> = [];
      set.on('files', (e) => batches.push(e));
      await mkdir(join(base, 'a', '.git'));
      await mkdir(join(base, 'a', 'node_modules', 'x'), { recursive: true });
      await mkdir(join(base, 'a', 'dist'));
      await writeFile(join(base, 'a', '.git', 'HEAD'), 'ref');
      await writeFile(join(base, 'a', 'node_modules', 'x', 'i.js'), '1');
      await writeFile(join(base, 'a', 'dist', 'out.js'), '1');
      await writeFile(join(base, 'a', 'debug.log'), '1');
      await mkdir(join(base, 'a', 'src'));
      await writeFile(join(base, 'a', 'src', 'one.ts'), '1');
      await writeFile(join(base, 'a', 'two.ts'), '2');
      await until(
        () =>
          batches.flatMap((b) => b.changes).some((c) => c.path === 'two.ts') &&
          batches.flatMap((b) => b.changes).some((c) => c.path === 'src/one.ts'),
        'file events',
      );
      const paths = batches.flatMap((b) => b.changes.map((c) => c.path));
      expect(paths).toContain('src');
      expect(paths.filter((p) => /\.git|node_modules|dist|\.log/.test(p))).toEqual([]);
      // Batched: far fewer events than changes would mean one message each.
      expect(batches.length).toBeLessThan(paths.length);
      expect(batches[0]!.workspaceId).toBe(a.config.id);
    });

    it('caps a batch and counts the changes left out', async () => {
      set = await openSet(config);
      const a = await set.add({ root: join(base, 'a') });
      await a.whenWatching();
      const batches: Array<Extract<AppEvent, { kind: 'files' }>> = [];
      set.on('files', (e) => batches.push(e));
      const n = MAX_FILE_EVENTS_PER_BATCH + 300;
      await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(base, 'a', `f${i}.txt`), 'x')));
      const total = (): number => batches.reduce((sum, b) => sum + b.changes.length + b.dropped, 0);
      await until(() => total() >= n, 'all changes counted');
      for (const b of batches) expect(b.changes.length).toBeLessThanOrEqual(MAX_FILE_EVENTS_PER_BATCH);
      expect(batches.some((b) => b.dropped > 0)).toBe(true);
    });
  });
});
