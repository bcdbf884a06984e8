import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawn as spawnPty, type IPty } from 'node-pty';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import type { RuntimeView } from '@tether/shared';
import { parseCliArgs, UsageError } from './cli.js';
import { waitFor } from './test-stack.js';

const CLI_SOURCE = fileURLToPath(new URL('./cli.ts', import.meta.url));
/** tsx's loader, by absolute URL: the child runs in a temp dir where `--import tsx` would not resolve. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** A two-line entry script that runs `runCli` from the sources, as app/bin/tether-desktop.js does from dist. */
async function writeEntry(dir: string): Promise<string> {
  const entry = join(dir, 'cli-entry.mjs');
  await writeFile(
    entry,
    `const { runCli } = await import(${JSON.stringify(CLI_SOURCE)});\nprocess.exit(await runCli(process.argv.slice(2), { appVersion: 'test' }));\n`,
  );
  return entry;
}

/**
 * Runs the CLI from its TypeScript sources in a child process (tsx, with the source
 * condition so @tether/shared resolves to src/): the real process, signals and stdio,
 * without depending on a fresh `dist/` build.
 */
async function runCliProcess(dir: string, args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const entry = await writeEntry(dir);
  const child = spawn(process.execPath, ['--conditions=@tether/source', '--import', TSX_LOADER, entry, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

describe('tether-desktop', () => {
  let dir: string;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let desktopToken: string;
  let platformKey: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'tether-cli-it-')));
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent' });
    await relay.admin.createOrg('cli');
    desktopToken = (await relay.admin.createToken({ org: 'cli', kind: 'desktop' })).token;
    platformKey = (await relay.admin.createToken({ org: 'cli', kind: 'platform' })).token;
  });

  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  const runtimes = async (): Promise<RuntimeView[]> => {
    const res = await fetch(`${relay.url}/v1/runtimes`, { headers: { Authorization: `Bearer ${platformKey}` } });
    return ((await res.json()) as { runtimes: RuntimeView[] }).runtimes;
  };

  describe('headless', () => {
    it('registers the --workspace folder with the --policy, refuses a second desktop on its config dir, never logs the token, and exits 0 on SIGTERM', async () => {
      const workspace = join(dir, 'project');
      await mkdir(workspace);
      const configDir = join(dir, 'config');
      const run = await runCliProcess(
        dir,
        [
          '--headless',
          '--relay',
          relay.url,
          '--workspace',
          'project',
          '--policy',
          'write=deny,shell=allow',
          '--config-dir',
          configDir,
        ],
        { TETHER_TOKEN: desktopToken },
      );
      children.push(run.child);
      const runtime = await waitFor(
        async () => (await runtimes()).find((r) => r.state === 'running'),
        'the runtime',
        30_000,
      );
      expect(runtime.workspace.name).toBe('project');
      expect(runtime.capabilities.policy).toEqual({ read: 'allow', write: 'deny', shell: 'allow' });
      const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
      expect(config.relayUrl).toBe(relay.url);
      expect(config.workspaces).toMatchObject([
        { root: workspace, policy: { read: 'allow', write: 'deny', shell: 'allow' } },
      ]);
      expect(run.stderr()).toMatch(/no terminal and no --ui: calls that need a confirmation are refused/);
      // The host (the launcher's child, which starts every command) never had the token in its environment.
      const hostPids = (await readFile(`/proc/${run.child.pid}/task/${run.child.pid}/children`, 'utf8'))
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      expect(hostPids).toHaveLength(1);
      const hostEnviron = await readFile(`/proc/${hostPids[0]}/environ`, 'utf8');
      expect(hostEnviron).toContain('PATH=');
      expect(hostEnviron).not.toContain(desktopToken);
      expect(hostEnviron).not.toContain('TETHER_TOKEN');
      // Nor does the launcher, which had it, keep it readable there while the host runs.
      const launcherEnviron = await readFile(`/proc/${run.child.pid}/environ`, 'utf8');
      expect(launcherEnviron).toContain('PATH=');
      expect(launcherEnviron).not.toContain(desktopToken);
      expect(run.stderr()).not.toMatch(/could not wipe TETHER_TOKEN/);

      // A second desktop on the same config dir is refused up front, and the first keeps running.
      const second = await runCliProcess(dir, ['--headless', '--relay', relay.url, '--config-dir', configDir], {
        TETHER_TOKEN: desktopToken,
      });
      children.push(second.child);
      expect(await second.exited).toBe(1);
      expect(second.stderr()).toMatch(/already running with the config dir/);
      expect((await runtimes()).find((r) => r.id === runtime.id)?.state).toBe('running');

      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.stderr()).toMatch(/SIGTERM: shutting down/);
      expect(run.stderr() + run.stdout()).not.toContain(desktopToken);
      await waitFor(
        async () => (await runtimes()).find((r) => r.id === runtime.id)?.state === 'stopped',
        'the runtime stopped',
      );
    });

    it('ends the host when its launcher is killed outright (it held TETHER_TOKEN; the host never did)', async () => {
      const run = await runCliProcess(dir, ['--headless', '--relay', relay.url, '--config-dir', join(dir, 'config')], {
        TETHER_TOKEN: desktopToken,
      });
      children.push(run.child);
      const hostPid = await waitFor(
        async () =>
          (await readFile(`/proc/${run.child.pid}/task/${run.child.pid}/children`, 'utf8').catch(() => ''))
            .trim()
            .split(/\s+/)
            .filter(Boolean)[0],
        'the host process',
        30_000,
      );
      run.child.kill('SIGKILL');
      await waitFor(
        async () => !(await readFile(`/proc/${hostPid}/stat`, 'utf8').catch(() => '')).match(/^\d+ \([^)]*\) [^Z]/),
        'the host to exit',
        15_000,
      );
    });

    it('says the window needs Electron when run without --headless, and serves the UI with --ui', async () => {
      const run = await runCliProcess(dir, ['--relay', relay.url, '--config-dir', join(dir, 'config'), '--ui', '0'], {
        TETHER_TOKEN: desktopToken,
      });
      children.push(run.child);
      const url = await waitFor(
        () => /Tether Desktop UI: (http:\/\/127\.0\.0\.1:\d+\/#secret=\S+)/.exec(run.stdout())?.[1],
        'the UI URL',
        30_000,
      );
      expect(run.stderr()).toMatch(/needs the Electron binary/);
      const page = await fetch(url.split('#')[0]!);
      await page.body?.cancel();
      expect(page.status).toBeLessThan(500);
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
    });

    it('asks at the terminal when stdin is a TTY, and writes the file once the person types y', async () => {
      const workspace = join(dir, 'project');
      await mkdir(workspace);
      const entry = await writeEntry(dir);
      const pty: IPty = spawnPty(
        process.execPath,
        [
          '--conditions=@tether/source',
          '--import',
          TSX_LOADER,
          entry,
          '--headless',
          '--relay',
          relay.url,
          '--workspace',
          'project',
          '--config-dir',
          join(dir, 'config'),
        ],
        { cwd: dir, cols: 120, rows: 40, env: { PATH: process.env.PATH ?? '', HOME: dir, TETHER_TOKEN: desktopToken } },
      );
      let screen = '';
      pty.onData((d) => (screen += d));
      const exited = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
      try {
        const runtime = await waitFor(
          async () => (await runtimes()).find((r) => r.state === 'running'),
          'the runtime',
          30_000,
        );
        expect(screen).toMatch(/confirmations are asked here at the terminal/);
        const call = fetch(`${relay.url}/v1/runtimes/${runtime.id}/calls`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${platformKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({
            tool: 'write_file',
            args: { path: 'asked.txt', content: 'typed yes\n' },
            timeoutMs: 30_000,
          }),
        });
        await waitFor(() => /Allow\? \[y\] once/.test(screen), 'the question at the terminal');
        expect(screen).toMatch(/Tool: +write_file \(write\)/);
        expect(screen).toMatch(/Path: +asked\.txt \(new file\)/);
        pty.write('y\r');
        const res = await call;
        expect(res.status).toBe(200);
        expect(await readFile(join(workspace, 'asked.txt'), 'utf8')).toBe('typed yes\n');
        pty.kill('SIGINT');
        expect(await exited).toBe(0);
      } finally {
        try {
          pty.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });

    it('exits 1 with a plain message when a --workspace folder does not exist', async () => {
      const run = await runCliProcess(
        dir,
        ['--headless', '--relay', relay.url, '--workspace', 'missing', '--config-dir', join(dir, 'config')],
        { TETHER_TOKEN: desktopToken },
      );
      children.push(run.child);
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toMatch(/--workspace .*missing: there is no such folder/);
    });
  });
});

describe('parseCliArgs', () => {
  it('parses the documented command line', () => {
    const options = parseCliArgs(
      [
        '--headless',
        '--relay',
        'http://r:1',
        '--token',
        'tdt_x',
        '--workspace',
        'a',
        '--workspace',
        '/b',
        '--policy',
        'read=deny',
        '--config-dir',
        'c',
        '--ui',
        '8790',
      ],
      '/home/p',
    );
    expect(options).toEqual({
      headless: true,
      relayUrl: 'http://r:1',
      token: 'tdt_x',
      workspaces: ['/home/p/a', '/b'],
      policy: { read: 'deny', write: 'ask', shell: 'ask' },
      configDir: '/home/p/c',
      uiPort: 8790,
      allowAnyFolder: false,
      help: false,
      version: false,
    });
  });

  it('leaves ~ to the host to expand and takes --allow-any-folder', () => {
    const options = parseCliArgs(['--workspace', '~/site', '--workspace', '~', '--allow-any-folder'], '/home/p');
    expect(options.workspaces).toEqual(['~/site', '~']);
    expect(options.allowAnyFolder).toBe(true);
  });

  it.each([
    [['--ui', 'abc']],
    [['--ui', '70000']],
    [['--policy', 'write=maybe']],
    [['--bogus']],
    [['positional']],
    [['--token', ' ']],
  ])('refuses %j with a UsageError', (args) => {
    expect(() => parseCliArgs(args, '/')).toThrow(UsageError);
  });
});
