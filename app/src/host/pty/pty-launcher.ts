import { chmod, copyFile, link, lstat, mkdir, mkdtemp, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import * as nodePty from 'node-pty';
import { TetherError } from '@tether/shared';
import type { ToolContext } from '../tools/tool-context.js';
import { buildCommandEnv } from './command-env.js';
import { NetworkProxy } from './net-proxy.js';
import type { ProcessLedger } from './process-ledger.js';
import {
  SANDBOX_NET_FILES,
  bwrapArgv,
  detectSandbox,
  findForwarder,
  onPath,
  proxyEnv,
  type Forwarder,
  type SandboxStatus,
} from './sandbox.js';
import {
  DEFAULT_SANDBOX_SPEC,
  boundSocketPaths,
  existingHiddenPaths,
  hiddenPathCandidates,
  type NetworkRule,
  type SandboxSpec,
} from './sandbox-rules.js';
import { seatbeltArgv, seatbeltProfile } from './seatbelt.js';
import { seccompArch, unixSocketFilter } from './seccomp.js';

/** Settings shared by every pty the shell tools start. */
export interface PtyLauncherOptions {
  /** The shell that runs commands; default: `$SHELL` when it is POSIX-compatible, else /bin/sh (cmd.exe on Windows). */
  shell?: string;
  /** Confinement per workspace; default DEFAULT_SANDBOX_SPEC (the OS sandbox, filtered internet). */
  sandbox?: SandboxSpec | ((workspaceId: string) => SandboxSpec);
  /** The person's environment the command environment is filtered from; default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** The bubblewrap executable; default `bwrap` from PATH. */
  bwrapPath?: string;
  /** The home whose secret places are hidden; default os.homedir(). */
  home?: string;
  /** Tether's config dir (token file, audit log, call journal): hidden from commands. */
  configDir?: string;
  /** What the OS offers; default detectSandbox() once. */
  status?: Promise<SandboxStatus>;
  /** What carries traffic out of a bubblewrap sandbox; default findForwarder() (socat, else Node). */
  forwarder?: Forwarder | null;
  /**
   * The Perl that forwards and loads the seccomp filter in a networked command (bubblewrap);
   * default /usr/bin/perl, else the first `perl` on PATH. null: socat or Node forwards, and a
   * second bubblewrap applies the filter.
   */
  perlPath?: string | null;
  /** Which addresses the proxy lets commands reach; default the public internet only. Tests widen it to loopback. */
  addressAllowed?: (address: string) => boolean;
  /** Records unsandboxed pty leaders, so the next host start can end what a crash left running. */
  ledger?: ProcessLedger;
  /** Called for each destination the proxy refuses. */
  onNetworkRefused?: (workspaceId: string, host: string, reason: string) => void;
}

/** How one workspace's commands are confined right now: what the UI and the confirmation show. */
export interface Confinement {
  sandboxed: boolean;
  engine: SandboxStatus['engine'];
  /** Why commands are not sandboxed (opted out, bwrap missing, …). */
  reason?: string;
  /** The network the commands get (`none` when unsandboxed means "not filtered": see `sandboxed`). */
  network: NetworkRule;
  /** Why the network is narrower than the workspace asked (no forwarder), if it is. */
  networkNote?: string;
  /** The places hidden from the commands, as configured (whether or not they exist). */
  hidden: string[];
  /** Bubblewrap only: the seccomp filter refuses every new unix socket (false on a CPU Tether has no filter for). */
  unixSocketFilter?: boolean;
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
/** Prefix of a launcher's private folder in the temp dir; the owning process's pid follows it. */
const PRIVATE_DIR_PREFIX = 'tether-sandbox-';
const PRIVATE_DIR_NAME = /^tether-sandbox-(\d+)-[A-Za-z0-9]{6}$/;

/** Whether a process with this pid exists (one of another user counts: it may not be signalled, but lives). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the private folders that hosts which ended without `dispose` (killed, crashed) left in
 * `dir`: named with a pid no process has any more, a real folder (not a link), and this user's.
 * They hold a copy of the seccomp filter and dead sockets, nothing secret, but would pile up.
 */
export async function sweepStalePrivateDirs(dir: string = tmpdir()): Promise<number> {
  const uid = process.getuid?.();
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const match = PRIVATE_DIR_NAME.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    const full = path.join(dir, name);
    const info = await lstat(full).catch(() => null);
    if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid)) continue;
    await rm(full, { recursive: true, force: true }).then(
      () => removed++,
      () => undefined,
    );
  }
  return removed;
}

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

/**
 * How commands of a workspace with `spec` are confined on a machine whose sandbox is `status`
 * (`forwarder`: a Node exists to carry filtered traffic out of a bubblewrap sandbox).
 */
export function confinementOf(input: {
  spec: SandboxSpec;
  status: SandboxStatus;
  forwarder: boolean;
  home: string;
  configDir: string | undefined;
  root: string;
}): Confinement {
  const { spec, status } = input;
  const unconfined = (reason: string): Confinement => ({
    sandboxed: false,
    engine: status.engine,
    reason,
    network: spec.network,
    hidden: [],
  });
  if (spec.mode === 'off') return unconfined('the sandbox is switched off for this workspace');
  if (!status.available) return unconfined(status.reason ?? 'this machine has no sandbox');
  const hidden = hiddenPathCandidates(spec, input.home, input.configDir, input.root);
  const filter = status.engine === 'bubblewrap' ? { unixSocketFilter: seccompArch() !== null } : {};
  if (spec.network.mode !== 'none' && status.engine === 'bubblewrap' && !input.forwarder) {
    return {
      sandboxed: true,
      engine: status.engine,
      network: { mode: 'none' },
      networkNote:
        'neither Perl, socat nor Node.js was found to carry traffic to the filtering proxy, so commands have no network',
      hidden,
      ...filter,
    };
  }
  return { sandboxed: true, engine: status.engine, network: spec.network, hidden, ...filter };
}

/** One line for the confirmation: where the command runs and what it can reach. */
export function confinementSummary(c: Confinement): string {
  if (!c.sandboxed)
    return `Not sandboxed (${c.reason ?? 'no sandbox'}): the command can read and change everything you can.`;
  const engine = c.engine === 'seatbelt' ? 'Seatbelt' : 'bubblewrap';
  const network =
    c.network.mode === 'none'
      ? 'no network'
      : c.network.mode === 'domains'
        ? `network only to ${c.network.domains.join(', ') || '(no domain)'}`
        : 'internet only (no local, private or metadata addresses)';
  const sockets =
    c.unixSocketFilter === false
      ? 'no unix sockets bound when it starts (no seccomp filter for this CPU)'
      : c.engine === 'bubblewrap'
        ? 'no unix sockets (seccomp filter)'
        : 'no unix sockets';
  return `Sandboxed (${engine}): writes only in the workspace, ${c.hidden.length} secret places hidden, ${network}, ${sockets}${c.networkNote ? `; ${c.networkNote}` : ''}.`;
}

/** A workspace's proxy for bubblewrap sandboxes, kept while its network rule stays the same. */
interface SharedProxy {
  rule: string;
  ready: Promise<{ proxy: NetworkProxy; hostDir: string }>;
}

/** Starts ptys with a cleaned environment, in the workspace, inside the OS sandbox where there is one. */
export class PtyLauncher {
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly home: string;
  private readonly sandboxedPtys = new WeakSet<nodePty.IPty>();
  private statusPromise: Promise<SandboxStatus> | undefined;
  private forwarderFound: Promise<Forwarder | null> | undefined;
  private perlFound: Promise<string | null> | undefined;
  /** The host folder (0700) holding the seccomp filter, the forwarder copy and one folder per workspace proxy. */
  private privateDir: Promise<string> | undefined;
  private readonly proxies = new Map<string, SharedProxy>();
  /** Proxies replaced by a rule change: closed with the launcher (commands started before may still use them). */
  private readonly retired: Array<SharedProxy['ready']> = [];
  private proxyCount = 0;
  private disposed = false;
  readonly shell: string;

  constructor(private readonly options: PtyLauncherOptions = {}) {
    this.baseEnv = options.baseEnv ?? process.env;
    this.shell = options.shell ?? defaultShell(this.baseEnv);
    this.home = options.home ?? homedir();
  }

  /** Closes the workspace proxies and removes the private folder. Commands already running lose their network. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...[...this.proxies.values()].map((p) => p.ready), ...this.retired.splice(0)];
    this.proxies.clear();
    await Promise.allSettled(all.map(async (ready) => (await ready).proxy.dispose()));
    const dir = this.privateDir;
    this.privateDir = undefined;
    if (dir) await dir.then((d) => rm(d, { recursive: true, force: true })).catch(() => undefined);
  }

  /** Closes a workspace's proxy (its commands have ended: paused or removed); the next command starts a new one. */
  async releaseWorkspace(workspaceId: string): Promise<void> {
    const shared = this.proxies.get(workspaceId);
    if (!shared) return;
    this.proxies.delete(workspaceId);
    const { proxy, hostDir } = await shared.ready.catch(() => ({ proxy: null, hostDir: null }));
    await proxy?.dispose();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  }

  /** The launcher's private folder, made once: the seccomp filter (and the execute-only socat copy, when socat forwards). */
  private ensurePrivateDir(): Promise<string> {
    this.privateDir ??= (async () => {
      // Folders of hosts that were killed go first; this one's name carries its pid for the next sweep.
      await sweepStalePrivateDirs();
      const dir = await mkdtemp(path.join(tmpdir(), `${PRIVATE_DIR_PREFIX}${process.pid}-`));
      const arch = seccompArch();
      if (arch) await writeFile(path.join(dir, SANDBOX_NET_FILES.filter), unixSocketFilter(arch), { mode: 0o444 });
      const forwarder = (await this.perl()) === null ? await this.forwarder() : null;
      if (forwarder?.kind === 'socat') {
        const copy = path.join(dir, SANDBOX_NET_FILES.forwarder);
        await copyFile(forwarder.path, copy);
        await chmod(copy, 0o111);
      }
      return dir;
    })();
    return this.privateDir;
  }

  /** The host side of a workspace's network (bubblewrap): one proxy on a unix socket, reused by its commands. */
  private sharedProxy(workspaceId: string, network: Exclude<NetworkRule, { mode: 'none' }>): SharedProxy['ready'] {
    const rule = JSON.stringify(network);
    const current = this.proxies.get(workspaceId);
    if (current?.rule === rule) return current.ready;
    if (current) this.retired.push(current.ready);
    const ready = (async () => {
      const base = await this.ensurePrivateDir();
      const hostDir = path.join(base, `net-${++this.proxyCount}`);
      await mkdir(hostDir, { mode: 0o700 });
      for (const name of [SANDBOX_NET_FILES.filter, SANDBOX_NET_FILES.forwarder]) {
        await link(path.join(base, name), path.join(hostDir, name)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err; // no filter for this CPU, or Node forwards
        });
      }
      const proxy = new NetworkProxy({
        rule: network,
        ...(this.options.addressAllowed ? { addressAllowed: this.options.addressAllowed } : {}),
        onRefused: (host, reason) => this.options.onNetworkRefused?.(workspaceId, host, reason),
      });
      await proxy.listen(path.join(hostDir, SANDBOX_NET_FILES.socket));
      return { proxy, hostDir };
    })();
    // A failed start is not kept: the next command tries again.
    ready.catch(() => {
      if (this.proxies.get(workspaceId)?.ready === ready) this.proxies.delete(workspaceId);
    });
    this.proxies.set(workspaceId, { rule, ready });
    return ready;
  }

  /** The confinement settings of a workspace. */
  specFor(workspaceId: string): SandboxSpec {
    const sandbox = this.options.sandbox ?? DEFAULT_SANDBOX_SPEC;
    return typeof sandbox === 'function' ? sandbox(workspaceId) : sandbox;
  }

  /** What this OS offers (probed once). */
  status(): Promise<SandboxStatus> {
    this.statusPromise ??=
      this.options.status ?? detectSandbox(this.options.bwrapPath ? { bwrapPath: this.options.bwrapPath } : {});
    return this.statusPromise;
  }

  private forwarder(): Promise<Forwarder | null> {
    this.forwarderFound ??=
      this.options.forwarder !== undefined ? Promise.resolve(this.options.forwarder) : findForwarder(this.baseEnv);
    return this.forwarderFound;
  }

  /** The Perl that forwards and loads the seccomp filter in networked bubblewrap sandboxes (perlLauncher); null: none, or no filter for this CPU. */
  private perl(): Promise<string | null> {
    this.perlFound ??= (async () => {
      if (seccompArch() === null) return null;
      if (this.options.perlPath !== undefined) return this.options.perlPath;
      // The system's Perl first: a perl earlier on the person's PATH (perlbrew, a wrapper) is less predictable.
      return (await onPath('perl', { PATH: '/usr/bin:/bin' })) ?? onPath('perl', this.baseEnv);
    })();
    return this.perlFound;
  }

  /** True for a pty in its own pid namespace (bubblewrap): the kernel ends everything in it with it. */
  inPidNamespace(pty: nodePty.IPty): boolean {
    return this.sandboxedPtys.has(pty);
  }

  /** How a workspace's commands are confined: for the workspace card and the confirmation. */
  async confinement(workspaceId: string, root: string): Promise<Confinement> {
    const [status, forwarder, perl] = await Promise.all([this.status(), this.forwarder(), this.perl()]);
    return confinementOf({
      spec: this.specFor(workspaceId),
      status,
      forwarder: forwarder !== null || perl !== null,
      home: this.home,
      configDir: this.options.configDir,
      root,
    });
  }

  /**
   * Spawns the pty. The child is a session and process-group leader (forkpty), which is what
   * lets killProcessTree reach everything it starts. Inside the sandbox, commands are also in
   * their own pid namespace, which the kernel empties when the command's first process ends.
   */
  async launch(request: LaunchRequest): Promise<nodePty.IPty> {
    const env = buildCommandEnv(this.baseEnv, request.env);
    let argv = shellArgv(this.shell, request.command);
    const confinement = await this.confinement(request.workspaceId, request.root);
    const cleanups: Array<() => Promise<void>> = [];
    const cleanup = (): void => {
      for (const c of cleanups.splice(0)) void c().catch(() => undefined);
    };
    try {
      if (confinement.sandboxed) {
        // Covering each socket bound by path matters only without the seccomp filter, which refuses them all.
        const sockets =
          confinement.engine === 'bubblewrap' && !confinement.unixSocketFilter ? await boundSocketPaths() : [];
        const hidden = await existingHiddenPaths([...confinement.hidden, ...sockets]);
        const network = confinement.network;
        if (confinement.engine === 'bubblewrap') {
          if (this.disposed) throw new TetherError('unavailable', 'The host is shutting down.');
          let proxyPlan: { hostDir: string; forwarder: Forwarder | null; perl: string | null } | undefined;
          if (network.mode !== 'none') {
            const { hostDir } = await this.sharedProxy(request.workspaceId, network);
            this.perlFound ??=
              this.options.perlPath !== undefined
                ? Promise.resolve(this.options.perlPath)
                : onPath('perl', this.baseEnv);
            proxyPlan = { hostDir, forwarder: (await this.forwarder())!, perl: await this.perlFound };
            Object.assign(env, proxyEnv(), request.env ?? {}); // a caller's NO_PROXY stays (no other proxy variable is settable)
          }
          const filter = confinement.unixSocketFilter
            ? path.join(await this.ensurePrivateDir(), SANDBOX_NET_FILES.filter)
            : null;
          argv = bwrapArgv({
            bwrap: this.options.bwrapPath ?? 'bwrap',
            root: request.root,
            cwd: request.cwd,
            argv,
            hidden,
            filter,
            ...(proxyPlan ? { proxy: proxyPlan } : {}),
          });
          env.TMPDIR = '/tmp'; // the sandbox's own tmpfs; the person's TMPDIR is read-only in there
        } else if (confinement.engine === 'seatbelt') {
          const tmp = await mkdtemp(path.join(tmpdir(), 'tether-cmd-'));
          cleanups.push(() => rm(tmp, { recursive: true, force: true }));
          let port: number | null = null;
          if (network.mode !== 'none') {
            const proxy = new NetworkProxy({
              rule: network,
              ...(this.options.addressAllowed ? { addressAllowed: this.options.addressAllowed } : {}),
              onRefused: (host, reason) => this.options.onNetworkRefused?.(request.workspaceId, host, reason),
            });
            cleanups.push(() => proxy.dispose());
            port = (await proxy.listen(0)) as number;
          }
          if (port !== null) Object.assign(env, proxyEnv(port), request.env ?? {});
          argv = seatbeltArgv(
            seatbeltProfile({ root: request.root, tmpDir: await realpath(tmp), hidden, proxyPort: port }),
            argv,
          );
          env.TMPDIR = tmp;
        }
      }
      const [file, ...args] = argv as [string, ...string[]];
      const pty = nodePty.spawn(file, args, {
        name: 'xterm-256color',
        cols: request.cols,
        rows: request.rows,
        cwd: request.cwd,
        env,
        // Raw bytes on Unix: attachPtyOutput decodes them, and reads the last ones itself.
        ...(process.platform === 'win32' ? {} : { encoding: null }),
      });
      pty.onExit(cleanup);
      if (confinement.sandboxed && confinement.engine === 'bubblewrap') this.sandboxedPtys.add(pty);
      const ledger = this.options.ledger;
      if (ledger && !confinement.sandboxed) {
        const pid = pty.pid;
        void ledger.add(pid);
        // Removed once the tree is gone: the run's or session's own kill runs before the pty reports its exit.
        pty.onExit(() => void ledger.remove(pid));
      }
      return pty;
    } catch (err) {
      cleanup();
      throw err;
    }
  }
}
