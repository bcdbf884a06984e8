import { close, constants, open, readdir, readlink, type Dirent, type Stats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import { TetherError } from '@tether/shared';
import { isTetherTemp } from '../fs/atomic-write.js';
import { errnoCode } from '../fs/fs-errors.js';
import { relativeInside } from '../fs/path-forms.js';
import { outsideError } from '../fs/path-guard.js';
import { GitignoreChain } from './gitignore-chain.js';

/** One entry met by `walk`. Symlinks are reported as such and never followed. */
export interface WalkEntry {
  abs: string;
  /** Workspace-relative posix path. */
  rel: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** 1 for the start folder's children. */
  depth: number;
  /** With `withStats`: the entry's lstat, taken through the folder's pinned descriptor. */
  stats?: Stats;
}

/** How `walk` filters. */
export interface WalkOptions {
  /** Names starting with a dot are skipped (and not entered) unless true. */
  includeHidden: boolean;
  respectGitignore: boolean;
  /** Deepest level reported (1 = the start folder's children only). */
  maxDepth: number;
  signal?: AbortSignal;
  /**
   * ripgrep's `-g` overrides, consulted before hidden and .gitignore rules: `include` takes an
   * entry whatever those say, `exclude` drops it, undefined leaves it to them.
   */
  override?: (rel: string, isDir: boolean) => 'include' | 'exclude' | undefined;
  /** Asked after each override: true when the walk should let the event loop run (costly globs). */
  shouldYield?: () => boolean;
  /** The root's file system folds case (PathGuard.caseInsensitive): for the inside check. */
  caseInsensitive?: boolean;
  /** lstat every entry while its folder is pinned (list_dir's size and mtime). */
  withStats?: boolean;
  /**
   * Names read from one folder at most (list_dir: MAX_LIST_ENTRIES). The folder is read as a
   * stream and left there: a folder of 100,000 entries costs this many names and stats, not all
   * of them (it took ~2 s and ~150 MB a call). Those names are the first the system gives (its
   * order, not name order), sorted; the walk's `limit.cut` says a folder was cut.
   */
  maxFolderEntries?: number;
}

/**
 * Entries a walk visits at most, listed or not: a bound on the work one call can cause in a
 * huge tree (a home folder added as a workspace). Past it the walk stops and says so.
 */
export const MAX_WALK_ENTRIES = 1_000_000;

/** Walks stop at this and report `truncated` (see MAX_WALK_ENTRIES). */
export class WalkLimit {
  visited = 0;
  hit = false;
  /** A folder had more than `maxFolderEntries` names: only that many were read. */
  cut = false;
}

function typeOf(d: Dirent): WalkEntry['type'] {
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isDirectory()) return 'dir';
  if (d.isFile()) return 'file';
  return 'other';
}

/**
 * Byte-wise (UTF-8) order of names: what ripgrep's `--sort path` uses, so both search engines
 * list files in the same order. UTF-8 byte order equals code point order, which differs from
 * JS's UTF-16 order only around surrogates; compare code points there.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) {
      return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0);
    }
    return x - y;
  }
  return a.length - b.length;
}

/** A folder's entries in byte-wise order, with their lstat when asked. */
interface Listing {
  entries: Dirent[];
  stats?: Map<string, Stats>;
  /** More names than `maxFolderEntries` were there; only that many were read. */
  cut?: boolean;
}

/** lstat calls made at once for one folder's entries (withStats). */
const STAT_CONCURRENCY = 32;

/**
 * Lists a folder through a descriptor checked to be inside the root (pinned-dir.ts): a folder
 * swapped for a link out after its parent was listed is not listed. The start folder outside
 * is `path_outside_workspace`; a folder below it that is, or that vanished, lists nothing.
 * Callback fs calls, and the check beside the listing, keep this to two thread-pool round trips
 * in a row (a walk lists thousands of folders).
 */
async function readSorted(dirAbs: string, rootAbs: string, options: WalkOptions, isStart: boolean): Promise<Listing> {
  let fd: number;
  try {
    fd = await openDir(dirAbs);
  } catch (err) {
    if (isStart && errnoCode(err) === 'ELOOP') throw outsideError('symlink_escape'); // swapped for a link since checked
    return { entries: [] }; // unreadable or vanished mid-walk: nothing to list, like ripgrep
  }
  const pinned = FD_DIR === null ? dirAbs : `${FD_DIR}/${fd}`;
  try {
    const [read, now] = await Promise.all([
      options.maxFolderEntries !== undefined
        ? readSome(pinned, options.maxFolderEntries)
        : readdirTyped(pinned).then(
            (all) => ({ entries: all.filter((d) => !isTetherTemp(d.name)), cut: false }),
            () => ({ entries: [] as Dirent[], cut: false }),
          ),
      FD_DIR === null ? Promise.resolve(undefined) : readlinkPath(pinned).catch(() => undefined),
    ]);
    const entries = read.entries;
    const cut = read.cut ? { cut: true } : {};
    if (
      FD_DIR !== null &&
      (now === undefined || relativeInside(now, rootAbs, options.caseInsensitive === true) === undefined)
    ) {
      if (isStart && now !== undefined) throw outsideError('symlink_escape');
      return { entries: [] }; // swapped for a link out since its parent was listed: not listed
    }
    entries.sort((a, b) => compareNames(a.name, b.name));
    if (!options.withStats) return { entries, ...cut };
    const stats = new Map<string, Stats>();
    for (let i = 0; i < entries.length; i += STAT_CONCURRENCY) {
      await Promise.all(
        entries.slice(i, i + STAT_CONCURRENCY).map(async (d) => {
          const st = await lstat(path.join(pinned, d.name)).catch(() => undefined);
          if (st) stats.set(d.name, st);
        }),
      );
    }
    return { entries, stats, ...cut };
  } finally {
    close(fd, () => undefined); // nothing waits on it: the listing is already read
  }
}

/** Where the kernel names an open descriptor's folder (Linux); elsewhere folders are read by their checked path. */
const FD_DIR = process.platform === 'linux' ? '/proc/self/fd' : null;

/** O_NOFOLLOW: a folder swapped for a link since its parent was listed fails instead of being followed. */
const OPEN_DIR_FLAGS = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | (constants.O_NOFOLLOW ?? 0);

const openDir = (p: string): Promise<number> =>
  new Promise((resolve, reject) => open(p, OPEN_DIR_FLAGS, (err, fd) => (err ? reject(err) : resolve(fd))));
const readdirTyped = (p: string): Promise<Dirent[]> =>
  new Promise((resolve, reject) =>
    readdir(p, { withFileTypes: true }, (err, entries) => (err ? reject(err) : resolve(entries))),
  );

/**
 * Up to `max` names of a folder, read as a stream (fs.opendir) and left there: the temp files of
 * atomic writes are not counted or listed. `cut` when more names were there.
 */
async function readSome(p: string, max: number): Promise<{ entries: Dirent[]; cut: boolean }> {
  const entries: Dirent[] = [];
  try {
    const dir = await opendir(p, { bufferSize: 256 });
    for await (const d of dir) {
      if (isTetherTemp(d.name)) continue;
      if (entries.length >= max) return { entries, cut: true }; // leaving the loop closes the folder
      entries.push(d);
    }
  } catch {
    // unreadable or vanished mid-walk: what was read is listed, like ripgrep
  }
  return { entries, cut: false };
}

const readlinkPath = (p: string): Promise<string> =>
  new Promise((resolve, reject) => readlink(p, (err, target) => (err ? reject(err) : resolve(target))));

/**
 * Folders whose listing is fetched ahead of the depth-first walk reaching them (overlaps I/O
 * with work). 16, not 4: a pinned listing is two round trips in a row (open, then list and
 * check), and more in flight keeps the thread pool busy (50,000-file walk: 140 ms at 4, 80 at 16).
 */
const PREFETCH_DIRS = 16;

/**
 * Depth-first walk below `startAbs` (a real folder inside the workspace) in byte-wise name
 * order, skipping `.git`, hidden names (unless asked) and .gitignore'd paths (unless asked).
 * Never follows symlinks, so it cannot leave the workspace.
 */
export async function* walk(
  rootAbs: string,
  startAbs: string,
  startRel: string,
  options: WalkOptions,
  limit: WalkLimit = new WalkLimit(),
): AsyncGenerator<WalkEntry> {
  const chain = options.respectGitignore ? await GitignoreChain.forFolder(rootAbs, startRel) : GitignoreChain.empty();
  const listing = readSorted(startAbs, rootAbs, options, true);
  yield* walkDir(rootAbs, startAbs, startRel === '.' ? '' : startRel, 1, chain, options, limit, listing, false);
}

interface Kept {
  abs: string;
  rel: string;
  type: WalkEntry['type'];
  stats?: Stats;
}

async function* walkDir(
  rootAbs: string,
  dirAbs: string,
  dirRel: string,
  depth: number,
  parentChain: GitignoreChain,
  options: WalkOptions,
  limit: WalkLimit,
  listing: Promise<Listing>,
  readOwnGitignore: boolean,
): AsyncGenerator<WalkEntry> {
  if (options.signal?.aborted) throw new TetherError('cancelled');
  const { entries, stats, cut } = await listing;
  if (cut) limit.cut = true;
  // Only a folder that lists a .gitignore costs a read for it.
  const chain =
    readOwnGitignore && options.respectGitignore && entries.some((d) => d.name === '.gitignore')
      ? await parentChain.descend(dirAbs, dirRel)
      : parentChain;
  const kept: Kept[] = [];
  for (const d of entries) {
    if (limit.visited >= MAX_WALK_ENTRIES) {
      limit.hit = true;
      break;
    }
    limit.visited++;
    const name = d.name;
    if (name === '.git') continue;
    const type = typeOf(d);
    const rel = dirRel === '' ? name : `${dirRel}/${name}`;
    const decided = options.override?.(rel, type === 'dir');
    if (options.shouldYield?.()) await new Promise((resolve) => setImmediate(resolve));
    if (decided === 'exclude') continue;
    if (decided === undefined) {
      if (!options.includeHidden && name.startsWith('.')) continue;
      if (options.respectGitignore && chain.ignores(rel, type === 'dir')) continue;
    }
    const st = stats?.get(name);
    kept.push({ abs: path.join(dirAbs, name), rel, type, ...(st ? { stats: st } : {}) });
  }
  const descend = depth < options.maxDepth;
  const subdirs = descend ? kept.filter((k) => k.type === 'dir') : [];
  const listings = new Map<string, Promise<Listing>>();
  let next = 0;
  const prefetch = (): void => {
    while (next < subdirs.length && listings.size < PREFETCH_DIRS) {
      const dir = subdirs[next++] as Kept;
      listings.set(dir.abs, readSorted(dir.abs, rootAbs, options, false));
    }
  };
  prefetch();
  for (const k of kept) {
    yield { abs: k.abs, rel: k.rel, type: k.type, depth, ...(k.stats ? { stats: k.stats } : {}) };
    if (k.type === 'dir' && descend) {
      const own = listings.get(k.abs) ?? readSorted(k.abs, rootAbs, options, false);
      listings.delete(k.abs);
      prefetch();
      yield* walkDir(rootAbs, k.abs, k.rel, depth + 1, chain, options, limit, own, true);
      if (limit.hit) return;
    }
  }
}
