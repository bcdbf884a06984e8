import { lstatSync, type Stats } from 'node:fs';
import { lstat, readlink, realpath, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { TetherError } from '@tether/shared';
import { errnoCode, stableFsError } from './fs-errors.js';
import { relativeInside, splitWorkspacePath, type PathFormProblem } from './path-forms.js';

/**
 * A path argument after the guard accepted it.
 *
 * - `abs`: the real path, every symlink resolved (the final one too when it exists); read here.
 * - `entry`: the real parent joined with the final name as given, the final symlink NOT
 *   followed; `lstat`, unlink and rename act here, so a link is handled as a link.
 * - `rel`: workspace-relative posix path as the caller named it (`.` for the root), for results.
 */
export interface ResolvedPath {
  abs: string;
  rel: string;
  exists: boolean;
  entry: string;
  /** True when the final component is a symlink (to somewhere inside the workspace). */
  isSymlink: boolean;
  /** The lstat of `abs` taken while resolving, when the final component is not a symlink (saves a syscall). */
  stats?: Stats;
}

/** Hops of one symlink chain followed before it counts as a loop (Linux's own limit is 40). */
const MAX_SYMLINK_HOPS = 40;

/**
 * Linux file systems whose metadata is on this machine (statfs f_type): ext2/3/4, XFS, Btrfs,
 * F2FS, ZFS, bcachefs, tmpfs, overlayfs (containers). Not NFS, SMB, FUSE (sshfs), 9p and the
 * like, where a stat is a network round trip that may hang.
 */
const LOCAL_FS_TYPES = new Set([
  0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x01021994, 0x794c7630,
]);

/**
 * Whether `root` is on a local file system whose lstat the guard may take synchronously: a few µs
 * from the kernel's caches, where an asynchronous one is a thread-pool round trip (two thread
 * switches, an eventfd wake-up and a promise) costing several times the syscall itself, twice per
 * call. Elsewhere (other platforms, network and FUSE file systems) the guard stays asynchronous, so
 * a hung server never blocks the host.
 */
async function hasLocalMetadata(root: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  try {
    return LOCAL_FS_TYPES.has((await statfs(root)).type);
  } catch {
    return false;
  }
}

/** Why the guard refused a path; carried in the error's details (never any outside data). */
export type RefusalReason =
  PathFormProblem | 'symlink_escape' | 'symlink_dangling' | 'symlink_loop' | 'root' | 'root_replaced';

/** Refusal error: the same code and message for every reason, so nothing about the outside leaks. */
export function outsideError(reason: RefusalReason): TetherError {
  return new TetherError('path_outside_workspace', undefined, { reason });
}

/**
 * The workspace boundary (DESIGN.md "Path boundary"). Opened on a folder, it pins that folder's
 * real path and identity (dev+ino); every path argument of every tool goes through `resolve`,
 * which refuses with `path_outside_workspace` anything that, after `..`, symlinks of every
 * existing component and platform forms, is not inside the pinned root. A root that was
 * replaced (by a symlink or another folder) is refused the same way; a root that is gone
 * fails with `not_found` ("the workspace folder is gone").
 */
export class PathGuard {
  /** The root's real path, pinned at open. */
  readonly root: string;
  /** True when the root lives on a case-insensitive file system (names compared folded). */
  readonly caseInsensitive: boolean;
  private readonly given: string;
  /** True when the root's file system is local (see hasLocalMetadata): its lstats are taken synchronously. */
  readonly localMetadata: boolean;
  private readonly dev: number;
  private readonly ino: number;

  private constructor(root: string, given: string, st: Stats, caseInsensitive: boolean, localMetadata: boolean) {
    this.root = root;
    this.given = given;
    this.dev = st.dev;
    this.ino = st.ino;
    this.caseInsensitive = caseInsensitive;
    this.localMetadata = localMetadata;
  }

  /** Pins `root` (which must be an existing folder) as a workspace boundary. */
  static async open(root: string): Promise<PathGuard> {
    const given = path.resolve(root);
    let real: string;
    try {
      real = await realpath(given);
    } catch (err) {
      throw new TetherError('not_found', 'The workspace folder does not exist.', undefined, { cause: err });
    }
    const st = await lstat(real);
    if (!st.isDirectory()) throw new TetherError('not_a_directory', 'The workspace root is not a folder.');
    return new PathGuard(real, given, st, await detectCaseInsensitive(real, st), await hasLocalMetadata(real));
  }

  /**
   * Resolves a caller's path against the root and checks it. `allowRoot: false` refuses the
   * root itself (delete, move). Throws `path_outside_workspace`, or `not_found` when the
   * root is gone.
   */
  async resolve(p: string, options: { allowRoot?: boolean } = {}): Promise<ResolvedPath> {
    const split = splitWorkspacePath(p, [this.root, this.given], {
      platform: process.platform,
      caseInsensitive: this.caseInsensitive,
    });
    if (!split.ok) {
      if (split.problem === 'name_too_long')
        throw new TetherError('invalid_args', 'A path component is longer than 255 bytes.');
      throw outsideError(split.problem);
    }
    const parts = split.parts;
    if (parts.length === 0 && options.allowRoot === false) throw outsideError('root');
    // The root check runs beside the walk (both only look at metadata); nothing is returned, and
    // no other error wins, unless the root is still the pinned folder. One round trip less per call.
    const rootCheck = this.checkRoot();
    rootCheck.catch(() => undefined); // awaited below; this only marks it handled meanwhile
    let walked: ResolvedPath;
    try {
      walked = await this.walk(parts);
    } catch (err) {
      await rootCheck;
      throw stableFsError(err);
    }
    await rootCheck;
    return walked;
  }

  /** Resolves `parts` below the root component by component (see resolve). */
  private async walk(parts: string[]): Promise<ResolvedPath> {
    let cur = this.root; // always a real path inside the root
    let exists = true;
    let isSymlink = false;
    let entry = this.root;
    let stats: Stats | undefined;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i] as string;
      const next = path.join(cur, name);
      const last = i === parts.length - 1;
      if (!exists) {
        cur = next;
        entry = next;
        continue;
      }
      let st: Stats;
      try {
        st = await this.lstat(next);
      } catch (err) {
        const code = errnoCode(err);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        exists = false;
        cur = next;
        entry = next;
        continue;
      }
      entry = next;
      if (st.isSymbolicLink()) {
        cur = await this.followInside(next);
        if (last) isSymlink = true;
      } else {
        cur = next;
        if (last) stats = st;
      }
    }
    const resolved: ResolvedPath = {
      abs: cur,
      rel: parts.length === 0 ? '.' : parts.join('/'),
      exists,
      entry,
      isSymlink,
    };
    if (stats) resolved.stats = stats;
    return resolved;
  }

  /** Workspace-relative posix path of a real path inside the root (for walk results). */
  relative(abs: string): string {
    const rel = relativeInside(abs, this.root, this.caseInsensitive);
    if (rel === undefined) throw outsideError('outside');
    return rel === '' ? '.' : rel;
  }

  /** lstat of a path under the root: synchronous on a local file system (see hasLocalMetadata). */
  async lstat(p: string): Promise<Stats> {
    return this.localMetadata ? lstatSync(p) : lstat(p);
  }

  /** Fails unless the root is still the very folder pinned at open. */
  async checkRoot(): Promise<void> {
    let st: Stats;
    try {
      st = await this.lstat(this.root);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        throw new TetherError('not_found', 'The workspace folder is gone.', { reason: 'root_gone' });
      }
      throw err;
    }
    if (!st.isDirectory() || st.dev !== this.dev || st.ino !== this.ino) throw outsideError('root_replaced');
  }

  /** Resolves a symlink found at `link` (a real path inside the root) and refuses it unless its target is inside. */
  private async followInside(link: string): Promise<string> {
    await this.checkHops(link);
    let target: string;
    try {
      target = await realpath(link);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ELOOP') throw outsideError('symlink_loop');
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // Dangling: where it would lead cannot be checked (and may be created later), so it is refused.
        throw outsideError('symlink_dangling');
      }
      throw err;
    }
    const rel = relativeInside(target, this.root, this.caseInsensitive);
    if (rel === undefined) throw outsideError('symlink_escape');
    return target;
  }

  /**
   * Every hop of a symlink chain must point inside the root, not only where it ends: a link out
   * and back in (`a` -> `/elsewhere/b` -> `/ws/c`) is refused, since whoever owns `/elsewhere`
   * decides where it leads next time. Each hop's target is resolved lexically against the
   * folder holding that link (absolute targets through the root as given are accepted too).
   */
  private async checkHops(link: string): Promise<void> {
    let current = link;
    for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
      let target: string;
      try {
        target = await readlink(current);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EINVAL') return; // not a link any more: the realpath check below decides
        if (code === 'ENOENT' || code === 'ENOTDIR') throw outsideError('symlink_dangling');
        throw err;
      }
      const next = path.resolve(path.dirname(current), target);
      const inside =
        relativeInside(next, this.root, this.caseInsensitive) !== undefined ||
        relativeInside(next, this.given, this.caseInsensitive) !== undefined;
      if (!inside) throw outsideError('symlink_escape');
      let st: Stats;
      try {
        st = await lstat(next);
      } catch {
        return; // dangling or through a file: the realpath check below refuses it
      }
      if (!st.isSymbolicLink()) return;
      current = next;
    }
    throw outsideError('symlink_loop');
  }
}

/**
 * Whether names under `root` are compared case-insensitively: the root is looked up with its
 * last name's case flipped; the same inode means the file system folds case (macOS, Windows).
 */
async function detectCaseInsensitive(root: string, st: Stats): Promise<boolean> {
  const base = path.basename(root);
  const flipped = [...base].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
  if (flipped === base) return process.platform === 'win32' || process.platform === 'darwin';
  try {
    const other = await stat(path.join(path.dirname(root), flipped));
    return other.ino === st.ino && other.dev === st.dev;
  } catch {
    return false;
  }
}
