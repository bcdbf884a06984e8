import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parsePolicyString, type Policy } from '@tether/shared';
import { startHost, type Host } from './host.js';
import {
  exitWithLauncher,
  readTokenFd,
  relaunchWithoutTokenEnv,
  wipeStartingEnvironment,
} from './token/token-handoff.js';
import { serveUi, type UiServer } from './ui-server/ui-server.js';

/** The built UI, resolved relative to the package (the same path from src/host and dist/host). */
export const UI_STATIC_DIR = fileURLToPath(new URL('../../dist/renderer', import.meta.url));

/** The command line of DESIGN.md (a contract: scripts and docs rely on it). */
export const USAGE = `Usage: tether-desktop [--headless] [--relay URL] [--token T | --token-fd N] [--workspace PATH]...
                      [--policy read=allow,write=ask,shell=ask] [--config-dir DIR] [--ui PORT] [--ca-file PEM]
                      [--allow-any-folder] [--insecure-relay]

  --headless         run without a window (the only mode under plain node)
  --relay URL        relay to connect to, e.g. http://127.0.0.1:8787 (saved in the config)
  --ca-file PEM      trust the CA certificate(s) in this PEM file for a relay with a private CA (saved in the config)
  --token T          desktop token (tdt_…) for this run; prefer TETHER_TOKEN or --token-fd, which ps does not show
  --token-fd N       read the desktop token from file descriptor N (a pipe) until it closes
  --insecure-relay   allow an unencrypted (http/ws) relay that is not on this machine
  --workspace PATH   add this folder as a workspace if it is not one yet (repeatable)
  --policy P         policy for the folders added with --workspace (default read=allow,write=ask,shell=ask)
  --config-dir DIR   where the config, token file and activity log live
  --ui PORT          serve the UI on http://127.0.0.1:PORT (0: any free port) and print its URL
  --allow-any-folder let the whole disk, the home folder or a system folder be a workspace
                     (refused otherwise: an agent would reach far more than one project)
  -h, --help         show this help
  -v, --version      show the version`;

/** Parsed command line. */
export interface CliOptions {
  headless: boolean;
  relayUrl?: string;
  /** PEM file of a private CA the relay's certificate chains to (absolute). */
  caFile?: string;
  token?: string;
  tokenFd?: number;
  /** Internal (set by the relaunch): exit when this fd reaches EOF, i.e. when the launcher died. */
  lifelineFd?: number;
  insecureRelay?: boolean;
  workspaces: string[];
  policy?: Policy;
  configDir?: string;
  uiPort?: number;
  allowAnyFolder: boolean;
  help: boolean;
  version: boolean;
}

/** A command line that cannot be run; the message says why, for the person. */
export class UsageError extends Error {}

/** Parses `tether-desktop`'s arguments (relative paths resolved against `cwd`). Throws UsageError. */
export function parseCliArgs(argv: string[], cwd: string = process.cwd()): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        headless: { type: 'boolean', default: false },
        relay: { type: 'string' },
        'ca-file': { type: 'string' },
        token: { type: 'string' },
        'token-fd': { type: 'string' },
        'insecure-relay': { type: 'boolean', default: false },
        'lifeline-fd': { type: 'string' },
        workspace: { type: 'string', multiple: true, default: [] },
        policy: { type: 'string' },
        'config-dir': { type: 'string' },
        ui: { type: 'string' },
        'allow-any-folder': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  const options: CliOptions = {
    headless: v.headless,
    // `~/x` is the host's to expand (a quoted or `=` form reaches here unexpanded by the shell).
    workspaces: v.workspace.map((p) => (p === '~' || p.startsWith('~/') ? p : resolve(cwd, p))),
    allowAnyFolder: v['allow-any-folder'],
    help: v.help,
    version: v.version,
  };
  if (v.relay !== undefined) options.relayUrl = v.relay;
  if (v['insecure-relay']) options.insecureRelay = true;
  if (v['lifeline-fd'] !== undefined) {
    if (!/^\d+$/.test(v['lifeline-fd']) || Number(v['lifeline-fd']) < 3)
      throw new UsageError(`--lifeline-fd needs a file descriptor number of 3 or more, not "${v['lifeline-fd']}"`);
    options.lifelineFd = Number(v['lifeline-fd']);
  }
  if (v['ca-file'] !== undefined) {
    if (v['ca-file'].trim() === '') throw new UsageError('--ca-file must name a PEM file');
    options.caFile = resolve(cwd, v['ca-file']);
  }
  if (v.token !== undefined) {
    if (v.token.trim() === '') throw new UsageError('--token must not be empty');
    options.token = v.token.trim();
  }
  if (v['token-fd'] !== undefined) {
    if (!/^\d+$/.test(v['token-fd']) || Number(v['token-fd']) < 3)
      throw new UsageError(`--token-fd needs a file descriptor number of 3 or more, not "${v['token-fd']}"`);
    if (options.token !== undefined) throw new UsageError('give the token with --token or --token-fd, not both');
    options.tokenFd = Number(v['token-fd']);
  }
  if (v.policy !== undefined) {
    try {
      options.policy = parsePolicyString(v.policy);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  if (v['config-dir'] !== undefined) options.configDir = resolve(cwd, v['config-dir']);
  if (v.ui !== undefined) {
    const port = Number(v.ui);
    if (!/^\d+$/.test(v.ui) || port > 65535)
      throw new UsageError(`--ui needs a port number from 0 to 65535, not "${v.ui}"`);
    options.uiPort = port;
  }
  return options;
}

/** Streams and environment of one CLI run (the process's own by default; tests pass others). */
export interface CliIo {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Run the host again without TETHER_TOKEN in its environment (default: when env is process.env). */
  relaunch: boolean;
  appVersion: string;
}

/**
 * Runs `tether-desktop`: starts the host (headless), optionally the UI server, and keeps
 * running until SIGINT or SIGTERM, then disposes everything. Resolves with the exit code.
 */
export async function runCli(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const log = (line: string): void => {
    stderr.write(`${new Date().toISOString()} tether-desktop: ${line}\n`);
  };

  let options: CliOptions;
  try {
    options = parseCliArgs(argv, io.cwd ?? process.cwd());
  } catch (err) {
    stderr.write(`tether-desktop: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.version) {
    stdout.write(`${io.appVersion ?? 'unknown'}\n`);
    return 0;
  }
  if (!options.headless) {
    log(
      'the desktop window needs the Electron binary (start it with `electron app`); under plain node Tether Desktop runs headless',
    );
  }
  if (options.token !== undefined) log('using the token from --token (TETHER_TOKEN keeps it out of the process list)');

  // Read once, then out of this process's environment: nothing this host starts should inherit it
  // (the command environment filters TETHER_* too; this is the second lock).
  const envToken = env.TETHER_TOKEN?.trim() || undefined;
  delete env.TETHER_TOKEN;
  // And out of /proc/<this pid>/environ, where Linux keeps it for this process's whole life
  // (this process stays, as the launcher, while the host runs).
  if (envToken !== undefined && env === process.env && !wipeStartingEnvironment('TETHER_TOKEN')) {
    if (process.platform === 'linux') log('could not wipe TETHER_TOKEN from this process’s /proc environ');
  }
  // A token in this very process's starting environment stays readable in /proc/<pid>/environ:
  // the host runs again without it, and this process only waits for it.
  if (envToken !== undefined && options.token === undefined && options.tokenFd === undefined && io.relaunch !== false) {
    if (env === process.env) return relaunchWithoutTokenEnv(argv, envToken);
  }
  if (options.lifelineFd !== undefined) exitWithLauncher(options.lifelineFd);
  let token = options.token ?? envToken;
  if (options.tokenFd !== undefined) {
    try {
      token = await readTokenFd(options.tokenFd);
    } catch (err) {
      log((err as Error).message);
      return 2;
    }
  }
  const interactive = 'isTTY' in stdin && stdin.isTTY === true;
  let host: Host;
  try {
    host = await startHost({
      ...(options.configDir !== undefined ? { configDir: options.configDir } : {}),
      ...(options.relayUrl !== undefined ? { relayUrl: options.relayUrl } : {}),
      ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(options.insecureRelay ? { allowInsecureRelay: true } : {}),
      env: {},
      workspaces: options.workspaces.map((path) => (options.policy ? { path, policy: options.policy } : { path })),
      allowAnyFolder: options.allowAnyFolder,
      terminal: interactive ? { input: stdin, output: stderr } : null,
      log,
    });
  } catch (err) {
    log(`cannot start: ${(err as Error).message}`);
    return 1;
  }

  let ui: UiServer | undefined;
  if (options.uiPort !== undefined) {
    try {
      ui = await serveUi(host.api, { port: options.uiPort, staticDir: UI_STATIC_DIR });
      stdout.write(`Tether Desktop UI: ${ui.url}\n`);
    } catch (err) {
      log(`cannot serve the UI on port ${options.uiPort}: ${(err as Error).message}`);
      await host.dispose();
      return 1;
    }
  }
  if (!interactive && ui === undefined) {
    log('no terminal and no --ui: calls that need a confirmation are refused (confirmation_unavailable)');
  } else if (interactive) {
    log('confirmations are asked here at the terminal' + (ui ? ' and in the UI' : ''));
  }

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: shutting down`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void (async () => {
        await ui?.dispose().catch((err: Error) => log(`UI server: ${err.message}`));
        await host.dispose().catch((err: Error) => log(`shutdown: ${err.message}`));
        done(0);
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
