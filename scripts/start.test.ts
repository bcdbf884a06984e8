import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '@tether/relay';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const START = join(ROOT, 'scripts', 'start.mjs');
// `npm start` runs the built relay and host; `npm test` builds them first (its type-check step).
const BUILT =
  existsSync(join(ROOT, 'relay', 'dist', 'index.js')) && existsSync(join(ROOT, 'app', 'dist', 'host', 'cli.js'));

async function waitFor<T>(
  condition: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `npm start --no-build` in a temp state dir on free ports (or the given relay port) until `stop()`. */
function runStart(stateDir: string, relayPort = 0) {
  const child = spawn(process.execPath, [START, '--no-build'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TETHER_STATE_DIR: stateDir,
      TETHER_RELAY_PORT: String(relayPort),
      TETHER_UI_PORT: '0',
      TETHER_TOKEN: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    out: () => out,
    err: () => err,
    exited,
    async stop(): Promise<number | null> {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

describe('npm start', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it.skipIf(!BUILT)(
    'starts a relay and a connected headless desktop, prints what a newcomer needs, and reuses the credentials next time (skipped when relay/dist or app/dist is not built)',
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-start-'));
      const first = runStart(dir);
      let relayUrl: string;
      let platformKey: string;
      try {
        await waitFor(
          () =>
            /Tether Desktop UI \(open in a browser[^:]*\): http:\/\/127\.0\.0\.1:\d+\/#secret=/.test(first.out())
              ? true
              : undefined,
          'the summary',
          90_000,
        );
        const out = first.out();
        relayUrl = /Relay: +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
        platformKey = /Platform key: +(tpk_\S+)/.exec(out)![1]!;
        expect(out).toContain(`curl -H "Authorization: Bearer ${platformKey}" ${relayUrl}/v1/runtimes`);
        expect(out).toMatch(new RegExp(`${relayUrl}/v1/runtimes/rt_\\w+/mcp`));
        expect(out).toContain(`${relayUrl}/v1/mcp`);
        expect(out).toContain(`TPK=${platformKey} RT=rt_`);
        const res = await fetch(`${relayUrl}/v1/runtimes`, { headers: { Authorization: `Bearer ${platformKey}` } });
        const { runtimes } = (await res.json()) as { runtimes: Array<{ state: string; workspace: { name: string } }> };
        expect(runtimes).toMatchObject([{ state: 'running', workspace: { name: 'workspace' } }]);
        const local = await stat(join(dir, 'local.json'));
        expect(local.mode & 0o777).toBe(0o600);
        const saved = JSON.parse(await readFile(join(dir, 'local.json'), 'utf8')) as {
          platformKey: string;
          desktopToken: string;
        };
        expect(saved.platformKey).toBe(platformKey);
        expect(first.out() + first.err()).not.toContain(saved.desktopToken);
      } finally {
        expect(await first.stop()).toBe(0);
      }

      const second = runStart(dir);
      try {
        await waitFor(() => /Platform key: +(tpk_\S+)/.exec(second.out())?.[1], 'the second summary', 90_000);
        expect(/Platform key: +(tpk_\S+)/.exec(second.out())![1]).toBe(platformKey);
      } finally {
        expect(await second.stop()).toBe(0);
      }

      // Credentials lost, desktop config kept: the new desktop token must get the same device
      // (the relay binds a device to its token, so the old token is revoked on the way).
      await rm(join(dir, 'local.json'));
      const third = runStart(dir);
      try {
        const key = await waitFor(() => /Platform key: +(tpk_\S+)/.exec(third.out())?.[1], 'the third summary', 90_000);
        expect(key).not.toBe(platformKey);
        const url = /Relay: +(http:\/\/127\.0\.0\.1:\d+)/.exec(third.out())![1]!;
        await waitFor(async () => {
          const res = await fetch(`${url}/v1/runtimes`, { headers: { Authorization: `Bearer ${key}` } });
          const { runtimes } = (await res.json()) as { runtimes: Array<{ state: string }> };
          return runtimes.length === 1 && runtimes[0]!.state === 'running' ? true : undefined;
        }, 'the desktop running again with the new token');
      } finally {
        expect(await third.stop()).toBe(0);
      }
    },
    240_000,
  );

  it('on a fresh clone, installs and builds before starting; with both there, starts at once', async () => {
    // The script decides from the checkout's files alone: a copy of it in a bare folder is a fresh clone.
    dir = await mkdtemp(join(tmpdir(), 'tether-start-plan-'));
    await mkdir(join(dir, 'scripts'));
    await copyFile(START, join(dir, 'scripts', 'start.mjs'));
    const plan = async (...args: string[]) => {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [join(dir!, 'scripts', 'start.mjs'), '--plan', ...args], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
        child.once('error', reject);
        child.once('exit', () => resolve(text));
      });
      return out.trim();
    };
    expect(await plan()).toBe('npm start would first: install, first-build');
    expect(await plan('--no-build')).toBe('npm start would first: install, first-build');
    await mkdir(join(dir, 'node_modules'));
    await writeFile(join(dir, 'node_modules', '.package-lock.json'), '{}');
    expect(await plan('--no-build')).toBe('npm start would first: first-build');
    for (const file of ['relay/dist/index.js', 'app/dist/host/cli.js', 'app/dist/renderer/index.html']) {
      await mkdir(join(dir, file, '..'), { recursive: true });
      await writeFile(join(dir, file), '');
    }
    expect(await plan('--no-build')).toBe('npm start would start at once');
    expect(await plan()).toBe('npm start would first: build');
  });

  it.skipIf(!BUILT)(
    'says the relay port is in use and how to choose another, in one line, when it is taken (skipped when relay/dist is not built)',
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-start-'));
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = taken.address() as AddressInfo;
        const start = runStart(dir, port);
        expect(await start.exited).toBe(1);
        expect(start.err()).toContain(`port ${port} on 127.0.0.1 is in use`);
        expect(start.err()).toContain(`TETHER_RELAY_PORT=${port + 1} npm start`);
        expect(start.err()).not.toMatch(/\n\s+at /);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
    60_000,
  );

  it.skipIf(!BUILT)(
    'says another npm start uses the state already, and how to run a second one, when its relay data is taken (skipped when relay/dist is not built)',
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-start-'));
      const lock = await lockDataDir(join(dir, 'relay'));
      try {
        const start = runStart(dir);
        expect(await start.exited).toBe(1);
        expect(start.err()).toContain(`another npm start (or a relay) is using ${join(dir, 'relay')} already`);
        expect(start.err()).toContain('TETHER_STATE_DIR=');
        expect(start.err()).not.toMatch(/\n\s+at /);
      } finally {
        lock.dispose();
      }
    },
    60_000,
  );
});
