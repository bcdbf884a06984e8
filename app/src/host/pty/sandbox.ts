import { spawn } from 'node:child_process';
import { access, constants as fsConstants } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { HiddenPath } from './sandbox-rules.js';
import { perlLauncher, seccompArch, unixSocketFilter } from './seccomp.js';

/** Which OS sandbox confines commands here, and whether it works. */
export interface SandboxStatus {
  /** `bubblewrap` on Linux, `seatbelt` on macOS, null where Tether has none (Windows). */
  engine: 'bubblewrap' | 'seatbelt' | null;
  available: boolean;
  /** Why it is not available, in words for the person (bwrap missing, user namespaces off, …). */
  reason?: string;
}

/** Longest wait for the one-off sandbox probe. */
const PROBE_TIMEOUT_MS = 10_000;

/** Where the host's proxy socket is bound inside the sandbox (its /run is a private tmpfs). */
export const SANDBOX_PROXY_DIR = '/run/tether-net';
/** The proxy's port on the sandbox's own loopback (a private network namespace: no clash possible). */
export const SANDBOX_PROXY_PORT = 3128;

/**
 * The confinement every sandboxed command gets, and what the probe checks this machine allows:
 * - `--unshare-all`: own user, pid, network, ipc, uts and cgroup namespaces. In its own pid
 *   namespace a command sees and signals only its own processes (not the host, whose
 *   /proc/<pid>/environ is out of sight), and when its first process exits the kernel kills
 *   every process left in there, `setsid` and double-forked ones included. In its own network
 *   namespace there is only a private loopback: no route out, none of the host's loopback
 *   services and none of its abstract unix sockets (D-Bus, X11). The way out, when the
 *   workspace allows one, is the host's filtering proxy (net-proxy.ts).
 * - `--die-with-parent`: if the host dies, the sandbox dies with it.
 * - `--ro-bind / /`: programs, toolchains and the person's files are readable (compilers, git
 *   and package managers need them), nothing is writable; the secret places are then covered.
 * - a fresh /dev, /proc, and private tmpfs on /tmp and /run: host unix sockets there
 *   (/run/user/…/bus, /run/docker.sock, /tmp/.X11-unix, ssh-agent sockets) are not reachable.
 * - no `--new-session`: the pty is ours alone, so TIOCSTI into it reaches nobody else, and a
 *   new session would take the controlling terminal away from interactive programs.
 */
const BWRAP_CONFINEMENT_ARGS = [
  '--die-with-parent',
  '--unshare-all',
  '--ro-bind',
  '/',
  '/',
  '--dev',
  '/dev',
  '--proc',
  '/proc',
  '--tmpfs',
  '/tmp',
  '--tmpfs',
  '/run',
] as const;

/**
 * `--cap-drop ALL` for a host running as root, whose capabilities bubblewrap otherwise keeps
 * in the sandbox (enough to unmount the covers). Anyone else gets none in there already, and a
 * setuid bubblewrap refuses the option from them.
 */
function dropCapabilities(): string[] {
  return process.getuid?.() === 0 ? ['--cap-drop', 'ALL'] : [];
}

/** Names inside a sandbox's network folder (the host's private folder, bound read-only at SANDBOX_PROXY_DIR). */
export const SANDBOX_NET_FILES = {
  /** The host proxy's unix socket. */
  socket: 'proxy.sock',
  /** The seccomp filter (seccomp.ts), read by the inner bubblewrap. */
  filter: 'seccomp.bpf',
  /** socat, copied execute-only: a process started from a file it cannot read is not dumpable. */
  forwarder: 'socat',
} as const;

/** What one sandboxed command is built from. */
export interface BwrapPlan {
  bwrap: string;
  root: string;
  cwd: string;
  argv: readonly string[];
  hidden: readonly HiddenPath[];
  /** The seccomp filter's file on the host (no network), or null where this CPU has no filter. */
  filter: string | null;
  /**
   * The host folder holding the proxy socket, the filter and the forwarder (SANDBOX_NET_FILES);
   * the Perl that forwards and loads the filter into the command (perlLauncher), or, where
   * there is none, the forwarder to run and a second bubblewrap for the filter.
   */
  proxy?: { hostDir: string; forwarder: Forwarder | null; perl: string | null };
}

/**
 * The in-sandbox end of the network: listens on the sandbox's own loopback and forwards each
 * connection to the host's proxy socket. Prints one line when it listens, which the wrapper
 * waits for, so the command's first request never races it.
 */
const FORWARDER_SOURCE = `const net=require('net');const [port,sock]=process.argv.slice(1);
const s=net.createServer(c=>{const u=net.connect(sock);c.pipe(u);u.pipe(c);
c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());c.on('close',()=>u.destroy());u.on('close',()=>c.destroy());});
s.listen(Number(port),'127.0.0.1',()=>{process.stderr.write('ready\\n');});`;

/**
 * Where there is no Perl (see perlLauncher): starts the forwarder, waits until it listens, then
 * becomes the command (under the filter, through a second bubblewrap: see bwrapArgv). socat's "listening on" notice (-d -d) and
 * Node's `ready` line come down a pipe, so the command's first connection never races the
 * forwarder and nothing spins or sleeps while it starts. The pipe's reader then goes away:
 * socat ignores SIGPIPE and logs on, Node writes nothing more.
 */
const FORWARDER_WRAPPER = [
  'kind="$1"; fwd="$2"; src="$3"; sock="$4"; filter="$5"; shift 5',
  'if [ "$kind" = socat ]; then',
  `  { "$fwd" -d -d TCP-LISTEN:${SANDBOX_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$sock" </dev/null 2>&1 >/dev/null & } |`,
  '    { while read -r line; do case "$line" in *"listening on"*) break ;; esac; done; }',
  'else',
  `  { "$fwd" -e "$src" ${SANDBOX_PROXY_PORT} "$sock" </dev/null 2>&1 >/dev/null & } | { read -r _; }`,
  'fi',
  'if [ -n "$filter" ]; then exec "$@" 9<"$filter"; fi',
  'exec "$@"',
].join('\n');

/** Runs the rest of its arguments with the file named first open on fd 9 (where `--seccomp 9` reads it). */
const WITH_FILTER = 'f="$1"; shift; exec "$@" 9<"$f"';

/** The program that carries a sandbox's connections to the host proxy's socket. */
export interface Forwarder {
  kind: 'socat' | 'node';
  path: string;
}

/** Covers each hidden place: an empty read-only directory over a directory, /dev/null over a file. */
function hideArgs(hidden: readonly HiddenPath[]): string[] {
  return hidden.flatMap((h) =>
    h.kind === 'dir' ? ['--tmpfs', h.path, '--remount-ro', h.path] : ['--ro-bind', '/dev/null', h.path],
  );
}

/**
 * The bubblewrap command line for one command. Order matters: everything read-only, then
 * the secret places and other workspaces covered, then the workspace bound writable (so a
 * workspace inside a covered folder is still there), then the covers that lie inside the
 * workspace once more (a workspace at the home folder still hides ~/.ssh).
 *
 * The seccomp filter applies to the command and everything it starts, but not to the
 * forwarder, which must open a unix socket to the host proxy for each connection:
 * - no network: one bubblewrap, `--seccomp 9`, the filter opened on fd 9 by a /bin/sh in front;
 * - with a network: the outer bubblewrap runs perlLauncher, which listens on the sandbox's
 *   loopback, forks the forwarder (Perl itself), loads the filter into itself and becomes the
 *   command; where there is no Perl, a shell wrapper starts socat or Node, waits until it
 *   listens, and execs a second bubblewrap that only applies `--seccomp 9`, in a user namespace
 *   of its own with no capabilities.
 * The command cannot take the forwarder over: the Perl forwarder makes itself non-dumpable,
 * socat runs from an execute-only copy (so it is not dumpable either), and the /proc/<pid>/mem,
 * ptrace and pidfd_getfd of a non-dumpable process are refused to one without capabilities. `--cap-drop ALL` makes that hold for a host running as root
 * too (bubblewrap keeps root's capabilities in the sandbox otherwise, enough to unmount the
 * covers); the second bubblewrap drops them itself, having needed them to start.
 */
export function bwrapArgv(plan: BwrapPlan): string[] {
  const inside = plan.hidden.filter((h) => h.path === plan.root || h.path.startsWith(plan.root + path.sep));
  const nested = plan.proxy !== undefined && plan.filter !== null && plan.proxy.perl === null;
  const args = [
    plan.bwrap,
    ...BWRAP_CONFINEMENT_ARGS,
    ...(nested ? [] : dropCapabilities()),
    ...hideArgs(plan.hidden.filter((h) => !inside.includes(h))),
    '--bind',
    plan.root,
    plan.root,
    ...hideArgs(inside.filter((h) => h.path !== plan.root)),
  ];
  if (!plan.proxy) {
    if (plan.filter === null) return [...args, '--chdir', plan.cwd, '--', ...plan.argv];
    return [
      '/bin/sh',
      '-c',
      WITH_FILTER,
      'tether-sandbox',
      plan.filter,
      ...args,
      '--seccomp',
      '9',
      '--chdir',
      plan.cwd,
      '--',
      ...plan.argv,
    ];
  }
  args.push('--ro-bind', plan.proxy.hostDir, SANDBOX_PROXY_DIR, '--chdir', plan.cwd, '--');
  const inDir = (name: string): string => path.posix.join(SANDBOX_PROXY_DIR, name);
  const socket = inDir(SANDBOX_NET_FILES.socket);
  const arch = seccompArch();
  if (plan.filter !== null && plan.proxy.perl !== null && arch) {
    const launcher = [plan.proxy.perl, '-e', perlLauncher(arch), inDir(SANDBOX_NET_FILES.filter)];
    // PERL_BADLANG=0: a locale the system lacks would make Perl warn before every command (it is removed again for the command).
    const quiet = ['--setenv', 'PERL_BADLANG', '0'];
    return [...args.slice(0, -1), ...quiet, '--', ...launcher, socket, String(SANDBOX_PROXY_PORT), ...plan.argv];
  }
  if (!plan.proxy.forwarder) throw new Error('a networked sandbox without Perl needs a forwarder');
  const { kind, path: fwd } = plan.proxy.forwarder;
  let command = [...plan.argv];
  if (plan.filter !== null) {
    const filterOnly = ['--unshare-user', '--cap-drop', 'ALL', '--dev-bind', '/', '/', '--die-with-parent'];
    command = [plan.bwrap, ...filterOnly, '--chdir', plan.cwd, '--seccomp', '9', '--', ...plan.argv];
  }
  return [
    ...args,
    '/bin/sh',
    '-c',
    FORWARDER_WRAPPER,
    'tether-sandbox',
    kind,
    kind === 'socat' ? inDir(SANDBOX_NET_FILES.forwarder) : fwd,
    FORWARDER_SOURCE,
    socket,
    plan.filter === null ? '' : inDir(SANDBOX_NET_FILES.filter),
    ...command,
  ];
}

/** The variables that point a sandboxed command's HTTP clients at the proxy (its own loopback stays direct). */
export function proxyEnv(port: number = SANDBOX_PROXY_PORT): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    ALL_PROXY: url,
    all_proxy: url,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}

/**
 * Finds what this OS offers, once: bubblewrap that can build the full confinement here
 * (kernels may forbid the user namespaces it needs), Seatbelt's `sandbox-exec` on macOS,
 * nothing on Windows. The answer says in words why a sandbox is missing.
 */
export async function detectSandbox(
  options: { bwrapPath?: string; platform?: NodeJS.Platform } = {},
): Promise<SandboxStatus> {
  const platform = options.platform ?? process.platform;
  if (platform === 'linux') {
    const bwrap = options.bwrapPath ?? 'bwrap';
    const problem = await probeBwrap(bwrap);
    return problem === null
      ? { engine: 'bubblewrap', available: true }
      : { engine: 'bubblewrap', available: false, reason: problem };
  }
  if (platform === 'darwin') {
    try {
      await access('/usr/bin/sandbox-exec', fsConstants.X_OK);
      return { engine: 'seatbelt', available: true };
    } catch {
      return { engine: 'seatbelt', available: false, reason: '/usr/bin/sandbox-exec is missing' };
    }
  }
  return {
    engine: null,
    available: false,
    reason: `Tether has no OS sandbox for ${platform}: commands run as you, confined only by your confirmation`,
  };
}

/**
 * Runs `true` under the full confinement and, where this CPU has one, the seccomp filter (fed
 * on fd 3): a kernel without seccomp filters fails here, not on every command.
 */
function probeBwrap(bwrap: string): Promise<string | null> {
  const arch = seccompArch();
  return new Promise((resolve) => {
    const probe = [...BWRAP_CONFINEMENT_ARGS, ...dropCapabilities(), ...(arch ? ['--seccomp', '3'] : []), '--', 'true'];
    const child = spawn(bwrap, probe, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const filterPipe = child.stdio[3] as Writable;
    filterPipe.on('error', () => undefined); // bwrap gone before reading it: its exit says why
    filterPipe.end(arch ? unixSocketFilter(arch) : Buffer.alloc(0));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(
        err.code === 'ENOENT'
          ? `bubblewrap (${bwrap}) is not installed; install the bubblewrap package`
          : `bubblewrap fails here: ${err.message}`,
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(null);
      const text = (stderr || `exit ${code ?? signal}`).trim().slice(0, 500);
      if (/namespace|permission|not permitted/i.test(text) && !/seccomp/i.test(text)) {
        return resolve(
          `bubblewrap cannot create user namespaces here (${text}); the kernel or its settings forbid them`,
        );
      }
      if (/seccomp/i.test(text)) return resolve(`bubblewrap cannot load Tether's seccomp filter here (${text})`);
      resolve(`bubblewrap fails here: ${text}`);
    });
  });
}

/** The first executable `name` on PATH, or null. */
export async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * What carries a sandbox's traffic to the host proxy: socat when installed (it starts in a few
 * ms), else this process when it is plain Node, else the first `node` on PATH (Electron's own
 * binary cannot run scripts: its runAsNode fuse is off). Null: no way out, so no network.
 */
export async function findForwarder(env: NodeJS.ProcessEnv = process.env): Promise<Forwarder | null> {
  const socat = await onPath('socat', env);
  if (socat) return { kind: 'socat', path: socat };
  if (!process.versions.electron) return { kind: 'node', path: process.execPath };
  const node = await onPath('node', env);
  return node ? { kind: 'node', path: node } : null;
}
