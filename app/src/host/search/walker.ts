import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { TetherError } from '@tether/shared';
import { GitignoreChain } from './gitignore-chain.js';

/** One entry met by `walk`. Symlinks are reported as such and never followed. */
export interface WalkEntry {
  abs: string;
  /** Workspace-relative posix path. */
  rel: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** 1 for the start folder's children. */
  depth: number;
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

async function readSorted(dirAbs: string): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    // One thread-pool trip per folder (opendir's iterator costs a promise per entry).
    entries = await readdir(dirAbs, { withFileTypes: true });
  } catch {
    return []; // unreadable or vanished mid-walk: nothing to list, like ripgrep
  }
  entries.sort((a, b) => compareNames(a.name, b.name));
  return entries;
}

/** Folders whose listing is fetched ahead of the depth-first walk reaching them (overlaps I/O with work). */
const PREFETCH_DIRS = 4;

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
  yield* walkDir(startAbs, startRel === '.' ? '' : startRel, 1, chain, options, limit, readSorted(startAbs), false);
}

interface Kept {
  abs: string;
  rel: string;
  type: WalkEntry['type'];
}

async function* walkDir(
  dirAbs: string,
  dirRel: string,
  depth: number,
  parentChain: GitignoreChain,
  options: WalkOptions,
  limit: WalkLimit,
  listing: Promise<Dirent[]>,
  readOwnGitignore: boolean,
): AsyncGenerator<WalkEntry> {
  if (options.signal?.aborted) throw new TetherError('cancelled');
  const entries = await listing;
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
    if (decided === 'exclude') continue;
    if (decided === undefined) {
      if (!options.includeHidden && name.startsWith('.')) continue;
      if (options.respectGitignore && chain.ignores(rel, type === 'dir')) continue;
    }
    kept.push({ abs: path.join(dirAbs, name), rel, type });
  }
  const descend = depth < options.maxDepth;
  const subdirs = descend ? kept.filter((k) => k.type === 'dir') : [];
  const listings = new Map<string, Promise<Dirent[]>>();
  let next = 0;
  const prefetch = (): void => {
    while (next < subdirs.length && listings.size < PREFETCH_DIRS) {
      const dir = subdirs[next++] as Kept;
      listings.set(dir.abs, readSorted(dir.abs));
    }
  };
  prefetch();
  for (const k of kept) {
    yield { abs: k.abs, rel: k.rel, type: k.type, depth };
    if (k.type === 'dir' && descend) {
      const own = listings.get(k.abs) ?? readSorted(k.abs);
      listings.delete(k.abs);
      prefetch();
      yield* walkDir(k.abs, k.rel, depth + 1, chain, options, limit, own, true);
      if (limit.hit) return;
    }
  }
}
