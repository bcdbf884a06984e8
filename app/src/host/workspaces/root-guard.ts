import { posix, win32 } from 'node:path';
import { TetherError } from '@tether/shared';

/** What a workspace root is checked against (the real machine's by default; tests pass others). */
export interface RootGuardContext {
  /** The person's home folder. */
  home: string;
  platform: NodeJS.Platform;
  /** Folders no workspace may be inside of or hold (Tether's own config directory). */
  protectedPaths?: readonly string[];
}

/**
 * Folders that are never a workspace root, nor is anything inside them: the operating
 * system's own files, which an agent has no business changing.
 */
const SYSTEM_TREES: Record<'posix' | 'darwin' | 'win32', readonly string[]> = {
  posix: ['/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/boot', '/dev', '/proc', '/sys', '/run'],
  darwin: ['/etc', '/bin', '/sbin', '/dev', '/System', '/private/etc', '/private/var/db', '/Library/Keychains'],
  win32: ['C:\\Windows'],
};

/**
 * Folders refused as a root themselves, though a project may live inside them (`/var/www/site`,
 * `/usr/local/src/app`, `C:\Program Files\…` is refused whole on Windows as it is system-owned).
 */
const SYSTEM_FOLDERS: Record<'posix' | 'darwin' | 'win32', readonly string[]> = {
  posix: ['/usr', '/usr/local', '/usr/share', '/var', '/var/lib', '/opt', '/srv', '/mnt', '/media', '/tmp'],
  darwin: [
    '/usr',
    '/usr/local',
    '/var',
    '/private',
    '/private/var',
    '/private/tmp',
    '/tmp',
    '/Library',
    '/Applications',
    '/Volumes',
    '/opt',
    '/opt/homebrew',
  ],
  win32: ['C:\\Program Files', 'C:\\Program Files (x86)', 'C:\\ProgramData'],
};

function flavour(platform: NodeJS.Platform): 'posix' | 'darwin' | 'win32' {
  return platform === 'win32' ? 'win32' : platform === 'darwin' ? 'darwin' : 'posix';
}

function pathApi(platform: NodeJS.Platform): typeof posix {
  return platform === 'win32' ? win32 : posix;
}

/** A path in the form it is compared in: normalized, no trailing separator, case folded where the file system folds it. */
function comparable(path: string, platform: NodeJS.Platform): string {
  const api = pathApi(platform);
  let p = api.normalize(path);
  if (p.length > api.parse(p).root.length) p = p.replace(/[\\/]+$/, '');
  return platform === 'win32' || platform === 'darwin' ? p.toLowerCase() : p;
}

/** Whether `inner` is `outer` or inside it (both comparable). */
function within(inner: string, outer: string, platform: NodeJS.Platform): boolean {
  if (inner === outer) return true;
  const sep = pathApi(platform).sep;
  return inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/**
 * The absolute path a person means by `input`: `~` and `~/…` expanded to the home folder.
 * A relative path is refused (`invalid_args`): resolved against the host's own working folder
 * it would name some folder the person never chose.
 */
export function absoluteRootOf(input: string, context: Pick<RootGuardContext, 'home' | 'platform'>): string {
  const api = pathApi(context.platform);
  const trimmed = input.trim();
  let path = trimmed;
  if (trimmed === '~') path = context.home;
  else if (trimmed.startsWith('~/') || (context.platform === 'win32' && trimmed.startsWith('~\\')))
    path = api.join(context.home, trimmed.slice(2));
  if (!api.isAbsolute(path) || (context.platform === 'win32' && !/^([A-Za-z]:[\\/]|\\\\)/.test(path))) {
    throw new TetherError(
      'invalid_args',
      `"${trimmed}" is a relative path. Give the folder's full path (${context.platform === 'win32' ? 'C:\\Users\\you\\project' : '/home/you/project'}, or ~/project).`,
      { fields: [{ path: 'root', message: 'relative path' }] },
    );
  }
  return api.normalize(path);
}

/**
 * Refuses, with `unsafe_workspace_root`, a root an agent should never have whole: the file
 * system's root, the home folder or a folder holding it, the system's own folders, and
 * Tether's own config. `details.reason` says which (`root`, `home`, `system`, `tether`).
 */
export function checkRootIsSafe(root: string, context: RootGuardContext): void {
  const { platform } = context;
  const api = pathApi(platform);
  const p = comparable(root, platform);
  const refuse = (reason: string, message: string): never => {
    throw new TetherError(
      'unsafe_workspace_root',
      `${message} Choose the project folder itself. (To add it anyway on purpose, start tether-desktop with --allow-any-folder.)`,
      { reason, root },
    );
  };
  if (p === comparable(api.parse(p).root, platform))
    refuse('root', `${root} is the whole file system: an agent could read and change everything on this computer.`);
  const home = comparable(context.home, platform);
  if (p === home)
    refuse('home', `${root} is your home folder: an agent could read your keys, mail and every other project.`);
  if (within(home, p, platform))
    refuse('home', `${root} holds your home folder: an agent could read your keys, mail and every other project.`);
  const f = flavour(platform);
  for (const tree of SYSTEM_TREES[f])
    if (within(p, comparable(tree, platform), platform))
      refuse('system', `${root} is a system folder: the operating system's own files are no workspace.`);
  for (const folder of SYSTEM_FOLDERS[f])
    if (p === comparable(folder, platform))
      refuse('system', `${root} is a system folder: it holds much more than one project.`);
  if (platform === 'win32' && /^[a-z]:\\users$/.test(p)) refuse('home', `${root} holds every user's home folder.`);
  for (const guarded of context.protectedPaths ?? []) {
    const g = comparable(guarded, platform);
    if (within(p, g, platform) || within(g, p, platform))
      refuse('tether', `${root} holds Tether's own settings and token: an agent could change its own rules.`);
  }
}

/** A workspace the new root overlaps with, for a warning. */
export interface RootOverlap {
  workspaceId: string;
  name: string;
  root: string;
  /** `inside`: the new root is inside that workspace; `around`: it holds that workspace. */
  relation: 'inside' | 'around';
}

/** The workspaces `root` is inside of or holds (one folder reachable through two workspaces, maybe with other rules). */
export function overlapsOf(
  root: string,
  others: ReadonlyArray<{ id: string; name: string; root: string }>,
  platform: NodeJS.Platform,
): RootOverlap[] {
  const p = comparable(root, platform);
  const found: RootOverlap[] = [];
  for (const w of others) {
    const o = comparable(w.root, platform);
    if (o === p) continue;
    if (within(p, o, platform)) found.push({ workspaceId: w.id, name: w.name, root: w.root, relation: 'inside' });
    else if (within(o, p, platform)) found.push({ workspaceId: w.id, name: w.name, root: w.root, relation: 'around' });
  }
  return found;
}

/** One sentence per overlap, for the person. */
export function overlapWarning(o: RootOverlap): string {
  return o.relation === 'inside'
    ? `This folder is inside the workspace "${o.name}" (${o.root}): its files are reachable through both, under each one's rules.`
    : `This folder holds the workspace "${o.name}" (${o.root}): those files are reachable through both, under each one's rules.`;
}
