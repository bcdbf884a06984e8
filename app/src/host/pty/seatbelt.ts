import type { HiddenPath } from './sandbox-rules.js';

/** What one macOS Seatbelt profile is built from. */
export interface SeatbeltPlan {
  /** The workspace's real root: the only place besides the private temp dir that is writable. */
  root: string;
  /** A private temp dir for this command (TMPDIR points there). */
  tmpDir: string;
  hidden: readonly HiddenPath[];
  /** The host proxy's loopback port, or null for no network at all. */
  proxyPort: number | null;
}

/** A path as a Seatbelt string literal (backslashes and quotes escaped; the profile is Scheme). */
function lit(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The Seatbelt (`sandbox-exec -p`) profile for one command, with the rules of the Linux
 * sandbox: read everything but the hidden places, write only the workspace, the private temp
 * dir and the terminal, no unix sockets (so not launchd's services, the keychain agent or
 * Docker's socket), and no network but the host proxy's port on loopback, which does the
 * filtering. Processes may signal only their own sandbox. macOS has no pid namespace: the
 * host kills the process tree itself (process-tree.ts), and Seatbelt's `(deny default)`
 * stops the escapes (`launchctl submit`, Mach services) that would outlive it.
 */
export function seatbeltProfile(plan: SeatbeltPlan): string {
  const hiddenRules = plan.hidden.map((h) =>
    h.kind === 'dir' ? `(subpath ${lit(h.path)})` : `(literal ${lit(h.path)})`,
  );
  const lines = [
    '(version 1)',
    '(deny default)',
    '(import "system.sb")',
    // Programs: start, fork and signal only what is in this sandbox.
    '(allow process-exec)',
    '(allow process-fork)',
    '(allow signal (target same-sandbox))',
    '(allow process-info* (target same-sandbox))',
    '(allow sysctl-read)',
    '(allow iokit-open (iokit-user-client-class "RootDomainUserClient"))',
    '(allow mach-lookup (global-name "com.apple.system.opendirectoryd.libinfo") (global-name "com.apple.trustd.agent") (global-name "com.apple.SystemConfiguration.configd"))',
    '(allow ipc-posix-shm-read-data ipc-posix-shm-read-metadata)',
    // Reads: everything but the secret places, other workspaces and Tether's own files.
    '(allow file-read*)',
    ...(hiddenRules.length > 0 ? [`(deny file-read* file-write* ${hiddenRules.join(' ')})`] : []),
    // Writes: the workspace, the private temp dir, the terminal and the null device.
    `(allow file-write* (subpath ${lit(plan.root)}) (subpath ${lit(plan.tmpDir)}) (literal "/dev/null") (literal "/dev/zero") (literal "/dev/dtracehelper") (regex #"^/dev/ttys[0-9]+$") (literal "/dev/tty"))`,
    '(allow file-ioctl (regex #"^/dev/ttys[0-9]+$") (literal "/dev/tty"))',
    // Network: none, or only the host proxy on loopback; never unix sockets.
    '(deny network* (remote unix-socket))',
    ...(plan.proxyPort === null
      ? ['(deny network*)']
      : [`(allow network-outbound (remote ip "localhost:${plan.proxyPort}"))`]),
    // A command's own servers on loopback (a dev server and its tests) stay possible.
    ...(plan.proxyPort === null ? [] : ['(allow network-bind network-inbound (local ip "localhost:*"))']),
  ];
  return `${lines.join('\n')}\n`;
}

/** The argv that runs `argv` under the profile. */
export function seatbeltArgv(profile: string, argv: readonly string[]): string[] {
  return ['/usr/bin/sandbox-exec', '-p', profile, ...argv];
}
