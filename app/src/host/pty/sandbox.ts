import { execFile } from 'node:child_process';
import { TetherError } from '@tether/shared';

/** How a command is confined: `none` (the person's confirmation only) or bubblewrap. */
export type SandboxMode = 'none' | 'bwrap';

/** Longest wait for the one-off bubblewrap probe. */
const BWRAP_PROBE_TIMEOUT_MS = 10_000;

/** The confinement every sandboxed command gets, and what the probe checks this machine allows. */
const BWRAP_CONFINEMENT_ARGS = [
  '--die-with-parent',
  '--unshare-all',
  '--share-net',
  '--ro-bind',
  '/',
  '/',
  '--dev',
  '/dev',
  '--proc',
  '/proc',
] as const;

/**
 * The bubblewrap command line that runs `argv` with the workspace writable and everything
 * else read-only. Choices:
 * - `--ro-bind / /` then `--bind root root`: the command sees the person's tools and files as
 *   usual but can write only inside the workspace (and a private `/tmp`). This confines
 *   writes, not reads: keeping reads lets compilers, git and package managers work.
 * - `--unshare-all --share-net`: own pid, ipc, uts and cgroup namespaces (nothing outside is
 *   visible or signalable), but the network stays, since builds and package installs need it.
 * - `--die-with-parent`: if the host dies, the sandbox dies with it.
 * - no `--new-session`: the pty is ours alone, so TIOCSTI into it reaches nobody else, and a
 *   new session would take the controlling terminal away from interactive programs.
 */
export function bwrapArgv(bwrap: string, root: string, cwd: string, argv: readonly string[]): string[] {
  return [bwrap, ...BWRAP_CONFINEMENT_ARGS, '--tmpfs', '/tmp', '--bind', root, root, '--chdir', cwd, '--', ...argv];
}

/**
 * Checks once per bubblewrap path that it exists and can build a sandbox on this machine
 * (kernels may forbid the user namespaces it needs). A failed probe is remembered too:
 * sandboxed commands then fail closed with `unavailable`, never run unsandboxed.
 */
export class BwrapProbe {
  private readonly results = new Map<string, Promise<string | null>>();

  /** Throws `unavailable` when `bwrap` cannot sandbox here. */
  async ensure(bwrap: string): Promise<void> {
    let result = this.results.get(bwrap);
    if (!result) {
      result = probe(bwrap);
      this.results.set(bwrap, result);
    }
    const problem = await result;
    if (problem !== null) {
      throw new TetherError(
        'unavailable',
        `The workspace requires the bubblewrap sandbox, which cannot run here: ${problem}`,
        {
          sandbox: 'bwrap',
        },
      );
    }
  }
}

function probe(bwrap: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      bwrap,
      [...BWRAP_CONFINEMENT_ARGS, '--', 'true'],
      { timeout: BWRAP_PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, _stdout, stderr) => {
        if (!err) return resolve(null);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve(`${bwrap} is not installed`);
        resolve((stderr || err.message).trim().slice(0, 500));
      },
    );
  });
}
