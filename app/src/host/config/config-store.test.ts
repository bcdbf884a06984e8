import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, TetherError } from '@tether/shared';
import { CONFIG_FILE, ConfigStore, defaultConfigDir, type WorkspaceConfig } from './config-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function workspace(id: string, root: string, extra: Partial<WorkspaceConfig> = {}): WorkspaceConfig {
  return {
    id,
    name: id,
    description: '',
    root,
    policy: { ...DEFAULT_POLICY },
    disabledTools: [],
    paused: false,
    watchIgnore: [],
    sandbox: 'os',
    network: 'internet',
    allowDomains: [],
    hidePaths: [],
    allowances: [],
    ...extra,
  };
}

describe('ConfigStore', () => {
  describe('open', () => {
    it('creates a config with a random device id and the host name on first run, and keeps them', async () => {
      const first = await ConfigStore.open(dir);
      expect(first.get().deviceId).toMatch(/^dev_[A-Za-z0-9]+$/);
      expect(first.get().deviceName.length).toBeGreaterThan(0);
      expect(first.get().workspaces).toEqual([]);
      expect(first.warnings).toEqual([]);
      const again = await ConfigStore.open(dir);
      expect(again.get().deviceId).toBe(first.get().deviceId);
      const other = await ConfigStore.open(join(dir, 'elsewhere'));
      expect(other.get().deviceId).not.toBe(first.get().deviceId);
    });

    it('writes the file readable only by its owner', async () => {
      await ConfigStore.open(dir);
      expect((await stat(join(dir, CONFIG_FILE))).mode & 0o777).toBe(0o600);
    });

    it('moves a corrupt file aside with a warning and starts with no workspaces', async () => {
      const store = await ConfigStore.open(dir);
      await store.update((d) => {
        d.workspaces.push(workspace('ws_a', '/tmp/a', { policy: { read: 'allow', write: 'deny', shell: 'deny' } }));
      });
      const deviceId = store.get().deviceId;
      const text = await readFile(join(dir, CONFIG_FILE), 'utf8');
      await writeFile(join(dir, CONFIG_FILE), text.slice(0, text.length / 2)); // torn write

      const reopened = await ConfigStore.open(dir);
      expect(reopened.get().workspaces).toEqual([]);
      expect(reopened.get().deviceId).not.toBe(''); // a torn file may lose the id; a new one is made
      expect(reopened.warnings).toHaveLength(1);
      expect(reopened.warnings[0]).toMatch(/not valid JSON.*moved to .*corrupt-.*no workspaces/s);
      const files = await readdir(dir);
      const aside = files.find((f) => f.startsWith(`${CONFIG_FILE}.corrupt-`));
      expect(aside).toBeDefined();
      expect(await readFile(join(dir, aside!), 'utf8')).toBe(text.slice(0, text.length / 2));
      // The fresh file is valid: the next start has no warning.
      expect((await ConfigStore.open(dir)).warnings).toEqual([]);
      expect(deviceId).toMatch(/^dev_/);
    });

    it('refuses a file with an unknown key rather than ignoring it (fail closed), keeping the device id', async () => {
      const store = await ConfigStore.open(dir);
      const config = JSON.parse(await readFile(store.path, 'utf8'));
      config.workspaces = [
        { ...workspace('ws_a', '/tmp/a'), policy: { read: 'allow', write: 'allow', shell: 'allow' }, confirmAll: true },
      ];
      await writeFile(store.path, JSON.stringify(config));
      const reopened = await ConfigStore.open(dir);
      expect(reopened.get().workspaces).toEqual([]);
      expect(reopened.get().deviceId).toBe(store.get().deviceId);
      expect(reopened.warnings[0]).toMatch(/is not a valid config \(workspaces\.0/);
    });

    it('reads the sandbox settings of older files as the OS sandbox, keeping an explicit off', async () => {
      const store = await ConfigStore.open(dir);
      const config = JSON.parse(await readFile(store.path, 'utf8'));
      const legacy = (id: string, root: string, sandbox: string | undefined) => {
        const { network: _n, allowDomains: _a, hidePaths: _h, sandbox: _s, ...rest } = workspace(id, root);
        return sandbox === undefined ? rest : { ...rest, sandbox };
      };
      config.workspaces = [
        legacy('ws_a', '/tmp/a', 'none'),
        legacy('ws_b', '/tmp/b', 'bwrap'),
        legacy('ws_c', '/tmp/c', undefined),
        { ...workspace('ws_d', '/tmp/d'), sandbox: 'off', network: 'domains', allowDomains: ['*.github.com'] },
      ];
      await writeFile(store.path, JSON.stringify(config));
      const reopened = await ConfigStore.open(dir);
      expect(reopened.warnings).toEqual([]);
      expect(reopened.get().workspaces.map((w) => [w.sandbox, w.network, w.allowDomains])).toEqual([
        ['os', 'internet', []],
        ['os', 'internet', []],
        ['os', 'internet', []],
        ['off', 'domains', ['*.github.com']],
      ]);
    });

    it('refuses an allowed domain that is not a domain name', async () => {
      const store = await ConfigStore.open(dir);
      const config = JSON.parse(await readFile(store.path, 'utf8'));
      config.workspaces = [{ ...workspace('ws_a', '/tmp/a'), network: 'domains', allowDomains: ['evil.com/x'] }];
      await writeFile(store.path, JSON.stringify(config));
      const reopened = await ConfigStore.open(dir);
      expect(reopened.get().workspaces).toEqual([]);
      expect(reopened.warnings[0]).toMatch(/allowDomains/);
    });

    it('refuses a policy value it does not know', async () => {
      const store = await ConfigStore.open(dir);
      const config = JSON.parse(await readFile(store.path, 'utf8'));
      config.workspaces = [
        { ...workspace('ws_a', '/tmp/a'), policy: { read: 'allow', write: 'sometimes', shell: 'ask' } },
      ];
      await writeFile(store.path, JSON.stringify(config));
      const reopened = await ConfigStore.open(dir);
      expect(reopened.get().workspaces).toEqual([]);
      expect(reopened.warnings[0]).toMatch(/workspaces\.0\.policy\.write/);
    });

    it('validates allowances on load, keeping only the ones chosen until revoked', async () => {
      const store = await ConfigStore.open(dir);
      const config = JSON.parse(await readFile(store.path, 'utf8'));
      const lasting = { id: 'alw_1', scope: { kind: 'prefix', prefix: 'npm test' }, createdAt: 1, expiresAt: null };
      const timed = {
        id: 'alw_2',
        scope: { kind: 'category', category: 'write' },
        createdAt: 1,
        expiresAt: Date.now() + 60_000,
      };
      config.workspaces = [{ ...workspace('ws_a', '/tmp/a'), allowances: [lasting, timed] }];
      await writeFile(store.path, JSON.stringify(config));
      const reopened = await ConfigStore.open(dir);
      expect(reopened.get().workspaces[0]!.allowances).toEqual([lasting]);
      expect(JSON.parse(await readFile(store.path, 'utf8')).workspaces[0].allowances).toEqual([lasting]);

      // An allowance of a kind this version does not know (a broader one, say) fails closed.
      config.workspaces = [
        { ...workspace('ws_a', '/tmp/a'), allowances: [{ ...lasting, scope: { kind: 'everything' } }] },
      ];
      await writeFile(store.path, JSON.stringify(config));
      const refused = await ConfigStore.open(dir);
      expect(refused.get().workspaces).toEqual([]);
      expect(refused.warnings[0]).toMatch(/workspaces\.0\.allowances\.0\.scope/);
    });

    it('treats an unreadable config (a directory in its place) as corrupt', async () => {
      await mkdir(join(dir, CONFIG_FILE));
      const store = await ConfigStore.open(dir);
      expect(store.get().workspaces).toEqual([]);
      expect(store.warnings[0]).toMatch(/could not be read \(EISDIR\)/);
      expect((await stat(join(dir, CONFIG_FILE))).isFile()).toBe(true);
    });
  });

  describe('update', () => {
    it('persists a valid change atomically and leaves no temp files', async () => {
      const store = await ConfigStore.open(dir);
      const next = await store.update((d) => {
        d.workspaces.push(workspace('ws_a', '/tmp/a'));
        d.keepAwake = true;
      });
      expect(next.workspaces.map((w) => w.id)).toEqual(['ws_a']);
      const onDisk = JSON.parse(await readFile(store.path, 'utf8'));
      expect(onDisk.keepAwake).toBe(true);
      expect(onDisk.workspaces[0].root).toBe('/tmp/a');
      expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });

    it('rejects an invalid change with invalid_request and keeps the old config in memory and on disk', async () => {
      const store = await ConfigStore.open(dir);
      const before = await readFile(store.path, 'utf8');
      const change = store.update((d) => {
        d.workspaces.push(workspace('ws_a', '/tmp/a'), workspace('ws_a', '/tmp/b'));
      });
      await expect(change).rejects.toBeInstanceOf(TetherError);
      await expect(change).rejects.toMatchObject({ code: 'invalid_request', message: /duplicate workspace id/ });
      expect(store.get().workspaces).toEqual([]);
      expect(await readFile(store.path, 'utf8')).toBe(before);
    });

    it('applies concurrent changes one after another, losing none', async () => {
      const store = await ConfigStore.open(dir);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.update((d) => {
            d.workspaces.push(workspace(`ws_${i}`, `/tmp/${i}`));
          }),
        ),
      );
      expect(store.get().workspaces).toHaveLength(10);
      expect((await ConfigStore.open(dir)).get().workspaces).toHaveLength(10);
    });

    it('hands out a frozen config that cannot be changed behind its back', async () => {
      const store = await ConfigStore.open(dir);
      expect(() => {
        (store.get() as { relayUrl: string }).relayUrl = 'ws://evil';
      }).toThrow(TypeError);
    });
  });
});

describe('defaultConfigDir', () => {
  it('follows XDG_CONFIG_HOME on Linux, and the platform folders elsewhere', () => {
    expect(defaultConfigDir({ XDG_CONFIG_HOME: '/x/cfg' }, 'linux')).toBe('/x/cfg/tether');
    expect(defaultConfigDir({ XDG_CONFIG_HOME: 'relative' }, 'linux')).toMatch(/\.config\/tether$/);
    expect(defaultConfigDir({}, 'darwin')).toMatch(/Library\/Application Support\/Tether$/);
    expect(defaultConfigDir({ APPDATA: 'C:\\Users\\p\\AppData\\Roaming' }, 'win32')).toMatch(/Roaming.Tether$/);
  });
});
