import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (e2e/support/ → ../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** How long the host may take to print its UI address on a loaded two-core box. */
const HOST_START_TIMEOUT_MS = 30_000;
/** How long the host gets to shut down cleanly before it is killed. */
const HOST_STOP_TIMEOUT_MS = 10_000;

/** The part of the relay's `startRelay` contract the tests use (relay/src/index.ts). */
interface Relay {
  url: string;
  admin: {
    createOrg(slug: string): Promise<unknown>;
    createToken(input: { org: string; kind: 'desktop' | 'platform'; name?: string }): Promise<{ token: string }>;
    listDevices(org: string): Promise<Array<{ deviceId: string; name: string; keyFingerprint: string | null }>>;
    forgetDeviceKey(org: string, deviceId: string): Promise<boolean>;
  };
  close(): Promise<void>;
}

/** A running relay and headless host with its UI, and the secrets a person and a platform would have. */
export interface Stack {
  relayUrl: string;
  /** The relay's administration (org `e2e`), as an admin's `tether-relay` commands would do. */
  relayAdmin: Relay['admin'];
  desktopToken: string;
  platformKey: string;
  /** The UI address the host printed (with its secret). */
  uiUrl: string;
  /** A folder to add as a workspace, with a `notes.md` in it. */
  workspaceDir: string;
  /** A second folder, for the remove scenario. */
  scratchDir: string;
  /** Everything the host printed on stderr, for failure messages. */
  hostLog(): string;
  /** Stops the host alone (the page then has no host to talk to); dispose() still cleans up. */
  stopHost(): Promise<void>;
  /** Stops the host and starts it again on the same UI port; resolves with its new UI address (a new secret). */
  restartHost(): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * Starts a real relay (the built `relay/dist`) in a temp data dir with an org, a desktop token
 * and a platform key, and a real headless host (`app/bin/tether-desktop.js --headless --ui 0`)
 * with no token, so the UI starts at onboarding.
 */
export async function startStack(): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-e2e-'));
  const workspaceDir = join(dir, 'site');
  const scratchDir = join(dir, 'scratch');
  await mkdir(workspaceDir);
  await mkdir(scratchDir);
  await writeFile(
    join(workspaceDir, 'notes.md'),
    '# Launch notes\n\n- ship the landing page\n- write the changelog\n- tell the team\n',
  );

  let relay: Relay;
  try {
    const relayModule = (await import(pathToFileURL(join(REPO_ROOT, 'relay/dist/index.js')).href)) as {
      startRelay(options: { port: number; dataDir: string; host?: string }): Promise<Relay>;
    };
    relay = await relayModule.startRelay({ port: 0, dataDir: join(dir, 'relay') });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error('Cannot start the relay: run `npm run build` first', { cause: err });
  }
  await relay.admin.createOrg('e2e');
  const { token: desktopToken } = await relay.admin.createToken({ org: 'e2e', kind: 'desktop', name: 'e2e desktop' });
  const { token: platformKey } = await relay.admin.createToken({ org: 'e2e', kind: 'platform', name: 'e2e platform' });

  let log = '';
  // The same port on a restart, as `npm start` keeps its UI port: an open tab then meets the new host.
  const spawnHost = (uiPort: number): ChildProcess => {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'app/bin/tether-desktop.js'),
        '--headless',
        '--relay',
        relay.url,
        '--config-dir',
        join(dir, 'config'),
        '--ui',
        String(uiPort),
      ],
      {
        cwd: dir,
        // No TETHER_TOKEN: the person enters the token in the UI. No terminal: the UI answers.
        // No session bus, so no Secret Service: the host keeps the test token in its config dir's
        // 0600 file instead of overwriting a developer's real Tether token in the OS keychain.
        env: {
          ...process.env,
          TETHER_TOKEN: '',
          DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/tether-e2e-no-keychain',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    return child;
  };
  let host = spawnHost(0);

  let uiUrl: string;
  try {
    uiUrl = await waitForUiUrl(host, () => log);
  } catch (err) {
    await stopHost(host);
    await relay.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    relayUrl: relay.url,
    relayAdmin: relay.admin,
    desktopToken,
    platformKey,
    uiUrl,
    workspaceDir,
    scratchDir,
    hostLog: () => log,
    stopHost: () => stopHost(host),
    async restartHost() {
      await stopHost(host);
      host = spawnHost(Number(new URL(uiUrl).port));
      return waitForUiUrl(host, () => log);
    },
    async dispose() {
      await stopHost(host);
      await relay.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function waitForUiUrl(host: ChildProcess, log: () => string): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`The host printed no UI address within ${HOST_START_TIMEOUT_MS} ms.\n${log()}`)),
      HOST_START_TIMEOUT_MS,
    );
    host.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /Tether Desktop UI: (http:\/\/127\.0\.0\.1:\d+\/#secret=[A-Za-z0-9_-]+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    host.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The host exited with ${code} before serving the UI.\n${log()}`));
    });
  });
}

async function stopHost(host: ChildProcess): Promise<void> {
  if (host.exitCode !== null || host.signalCode !== null) return;
  const exited = new Promise<void>((r) => host.once('exit', () => r()));
  host.kill('SIGTERM');
  const timer = setTimeout(() => host.kill('SIGKILL'), HOST_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
