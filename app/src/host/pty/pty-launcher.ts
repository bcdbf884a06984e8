import { stat } from 'node:fs/promises';
import path from 'node:path';
import * as nodePty from 'node-pty';
import { TetherError } from '@tether/shared';
import type { ToolContext } from '../tools/tool-context.js';
import { buildCommandEnv } from './command-env.js';
import { BwrapProbe, bwrapArgv, type SandboxMode } from './sandbox.js';

/** Settings shared by every pty the shell tools start. */
export interface PtyLauncherOptions {
  /** The shell that runs commands; default: `$SHELL` when it is POSIX-compatible, else /bin/sh (cmd.exe on Windows). */
  shell?: string;
  /** Confinement per workspace; default `none`. */
  sandbox?: SandboxMode | ((workspaceId: string) => SandboxMode);
  /** The person's environment the command environment is filtered from; default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** The bubblewrap executable; default `bwrap` from PATH. */
  bwrapPath?: string;
}

/** One pty to start. `command` undefined means an interactive login shell. */
export interface LaunchRequest {
  workspaceId: string;
  root: string;
  cwd: string;
  command: string | undefined;
  env: Record<string, string> | undefined;
  cols: number;
  rows: number;
}

/** Shells whose `-c` takes POSIX syntax, which is what agents write; others (fish, nu) are not used for commands. */
const POSIX_SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash']);

/** The default shell for `env`: see PtyLauncherOptions.shell. */
export function defaultShell(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32') return env.COMSPEC ?? 'cmd.exe';
  const shell = env.SHELL;
  return shell && path.isAbsolute(shell) && POSIX_SHELLS.has(path.basename(shell)) ? shell : '/bin/sh';
}

/** Program and arguments that make `shell` run `command` (or start interactively when it is undefined). */
export function shellArgv(shell: string, command: string | undefined): string[] {
  const name = path.basename(shell).toLowerCase();
  if (name === 'cmd.exe' || name === 'cmd') return command === undefined ? [shell] : [shell, '/d', '/s', '/c', command];
  if (name.startsWith('powershell') || name.startsWith('pwsh')) {
    return command === undefined ? [shell, '-NoLogo'] : [shell, '-NoLogo', '-NoProfile', '-Command', command];
  }
  return command === undefined ? [shell, '-l'] : [shell, '-c', command];
}

/**
 * Resolves a tool's `cwd` argument through the workspace's path guard (refusing anything
 * outside with `path_outside_workspace`) and requires an existing directory.
 */
export async function resolveCwd(ctx: ToolContext, cwd: string | undefined): Promise<{ abs: string; rel: string }> {
  const resolved = await ctx.guard.resolve(cwd ?? '.');
  if (!resolved.exists)
    throw new TetherError('not_found', `The directory ${resolved.rel} does not exist.`, { path: resolved.rel });
  const info = await stat(resolved.abs);
  if (!info.isDirectory())
    throw new TetherError('not_a_directory', `${resolved.rel} is not a directory.`, { path: resolved.rel });
  return { abs: resolved.abs, rel: resolved.rel };
}

/** Starts ptys with a cleaned environment, in the workspace, optionally inside bubblewrap. */
export class PtyLauncher {
  private readonly probe = new BwrapProbe();
  private readonly baseEnv: NodeJS.ProcessEnv;
  readonly shell: string;

  constructor(private readonly options: PtyLauncherOptions = {}) {
    this.baseEnv = options.baseEnv ?? process.env;
    this.shell = options.shell ?? defaultShell(this.baseEnv);
  }

  /** The sandbox mode that applies to a workspace. */
  sandboxFor(workspaceId: string): SandboxMode {
    const sandbox = this.options.sandbox ?? 'none';
    return typeof sandbox === 'function' ? sandbox(workspaceId) : sandbox;
  }

  /**
   * Spawns the pty. The child is a session and process-group leader (forkpty), which is what
   * lets killProcessTree reach everything it starts. Fails closed with `unavailable` when the
   * workspace wants a sandbox this machine cannot provide.
   */
  async launch(request: LaunchRequest): Promise<nodePty.IPty> {
    const env = buildCommandEnv(this.baseEnv, request.env);
    let argv = shellArgv(this.shell, request.command);
    if (this.sandboxFor(request.workspaceId) === 'bwrap') {
      if (process.platform !== 'linux') {
        throw new TetherError(
          'unavailable',
          'The workspace requires the bubblewrap sandbox, which exists only on Linux.',
          {
            sandbox: 'bwrap',
          },
        );
      }
      const bwrap = this.options.bwrapPath ?? 'bwrap';
      await this.probe.ensure(bwrap);
      argv = bwrapArgv(bwrap, request.root, request.cwd, argv);
      env.TMPDIR = '/tmp'; // the sandbox's own tmpfs; the person's TMPDIR is read-only in there
    }
    const [file, ...args] = argv as [string, ...string[]];
    return nodePty.spawn(file, args, {
      name: 'xterm-256color',
      cols: request.cols,
      rows: request.rows,
      cwd: request.cwd,
      env,
      // Raw bytes on Unix: attachPtyOutput decodes them, and reads the last ones itself.
      ...(process.platform === 'win32' ? {} : { encoding: null }),
    });
  }
}
