import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The secret places a sandboxed command may never read, relative to the person's home: keys,
 * cloud and registry credentials, browser profiles, keychains and shell histories. This is
 * the one list; a workspace adds its own paths in its config (`hidePaths`), and Tether's own
 * config dir and the other workspaces are added by the launcher.
 */
export const SECRET_HOME_PATHS: readonly string[] = [
  // keys and agents
  '.ssh',
  '.gnupg',
  '.password-store',
  '.local/share/keyrings',
  '.pki',
  // cloud and cluster credentials
  '.aws',
  '.azure',
  '.config/gcloud',
  '.kube',
  '.docker',
  '.oci',
  '.terraform.d',
  '.vault-token',
  '.config/doctl',
  '.config/hcloud',
  // package registries and forges
  '.netrc',
  '.npmrc',
  '.yarnrc',
  '.pypirc',
  '.gem/credentials',
  '.cargo/credentials',
  '.cargo/credentials.toml',
  '.git-credentials',
  '.config/gh',
  '.config/hub',
  '.config/glab-cli',
  // browser profiles
  '.mozilla',
  '.config/google-chrome',
  '.config/chromium',
  '.config/BraveSoftware',
  '.config/microsoft-edge',
  '.config/vivaldi',
  '.config/opera',
  'snap/firefox',
  'snap/chromium',
  // password managers
  '.config/1Password',
  '.config/Bitwarden',
  '.config/keepassxc',
  // shell and REPL histories
  '.bash_history',
  '.zsh_history',
  '.zhistory',
  '.history',
  '.sh_history',
  '.local/share/fish/fish_history',
  '.python_history',
  '.node_repl_history',
  '.psql_history',
  '.mysql_history',
  '.sqlite_history',
  '.lesshst',
  '.viminfo',
  // macOS
  'Library/Keychains',
  'Library/Cookies',
  'Library/Safari',
  'Library/Messages',
  'Library/Mail',
  'Library/Application Support/Google/Chrome',
  'Library/Application Support/Firefox',
  'Library/Application Support/BraveSoftware',
  'Library/Application Support/Microsoft Edge',
  'Library/Application Support/1Password',
];

/** What a sandboxed command's network is: filtered internet (default), nothing, or some domains only. */
export type NetworkRule = { mode: 'internet' } | { mode: 'none' } | { mode: 'domains'; domains: readonly string[] };

/** Everything the launcher needs to know about one workspace to confine its commands. */
export interface SandboxSpec {
  /** `os`: the OS sandbox (default); `off`: the person opted out, commands run with their confirmation only. */
  mode: 'os' | 'off';
  network: NetworkRule;
  /** Extra paths (absolute, or relative to home) this workspace hides besides SECRET_HOME_PATHS. */
  hidePaths: readonly string[];
  /** Other workspaces' roots: hidden from this one's commands. */
  otherRoots: readonly string[];
}

/** The default: sandboxed, filtered internet, the standard secret places hidden. */
export const DEFAULT_SANDBOX_SPEC: SandboxSpec = {
  mode: 'os',
  network: { mode: 'internet' },
  hidePaths: [],
  otherRoots: [],
};

/** The places one workspace's commands cannot read, as absolute paths (before checking they exist). */
export function hiddenPathCandidates(
  spec: Pick<SandboxSpec, 'hidePaths' | 'otherRoots'>,
  home: string,
  configDir: string | undefined,
  root: string,
): string[] {
  const list = [
    ...SECRET_HOME_PATHS.map((p) => path.join(home, p)),
    ...spec.hidePaths.map((p) => (path.isAbsolute(p) ? p : path.join(home, p))),
    ...(configDir ? [configDir] : []),
    // Another workspace nested inside this one is part of this one's files (the file tools reach it too).
    ...spec.otherRoots.filter((other) => !isInside(other, root)),
  ];
  return [...new Set(list.map((p) => path.resolve(p)))];
}

/** True when `p` is `dir` or inside it. */
export function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** One existing place to hide, by its real path (a symlinked ~/.ssh is hidden where it really is). */
export interface HiddenPath {
  path: string;
  kind: 'dir' | 'file';
}

/**
 * The candidates that exist, resolved to real paths, each once. Runs before every command, so
 * it reads each parent folder once (most candidates do not exist) and resolves only the hits.
 */
export async function existingHiddenPaths(candidates: readonly string[]): Promise<HiddenPath[]> {
  const byParent = new Map<string, string[]>();
  for (const c of candidates) {
    const parent = path.dirname(c);
    const list = byParent.get(parent);
    if (list) list.push(c);
    else byParent.set(parent, [c]);
  }
  const present = (
    await Promise.all(
      [...byParent].map(async ([parent, children]) => {
        let names: Set<string>;
        try {
          names = new Set(await readdir(parent));
        } catch {
          return []; // no such folder (or unreadable to us, so unreadable to the command too)
        }
        return children.filter((c) => names.has(path.basename(c)));
      }),
    )
  ).flat();
  const found = await Promise.all(
    present.map(async (candidate): Promise<HiddenPath | null> => {
      try {
        const real = await realpath(candidate);
        const info = await stat(real);
        return { path: real, kind: info.isDirectory() ? 'dir' : 'file' };
      } catch {
        return null; // not there: nothing to hide (home is read-only, so a command cannot create it either)
      }
    }),
  );
  const seen = new Set<string>();
  return found.filter((h): h is HiddenPath => {
    if (!h || seen.has(h.path)) return false;
    seen.add(h.path);
    return true;
  });
}

/** Folders the Linux sandbox replaces with empty private ones anyway: sockets in there need no cover. */
const PRIVATE_IN_SANDBOX = ['/tmp', '/run', '/var/run', '/dev', '/proc'];

/**
 * The unix sockets bound by path on this machine right now (from /proc/net/unix), outside the
 * folders the sandbox replaces anyway. A socket file stays connectable through a read-only bind
 * mount and from another network namespace, so each one is covered in the sandbox (Docker's
 * socket under ~/.docker, an editor's or agent's socket in the home or /var). Linux only; empty
 * elsewhere.
 */
export async function boundSocketPaths(procNetUnix = '/proc/net/unix'): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(procNetUnix, 'utf8');
  } catch {
    return [];
  }
  const paths = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path: the path (which may hold spaces) is what follows the 7th field.
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s(.+)$/.exec(line);
    const p = m?.[1];
    if (!p?.startsWith('/')) continue; // abstract (@…) and unnamed sockets: a network namespace separates those
    if (PRIVATE_IN_SANDBOX.some((dir) => isInside(p, dir))) continue;
    paths.add(p);
  }
  return [...paths];
}
