import { lstat } from 'node:fs/promises';
import { MAX_GLOB_MATCHES, MAX_LIST_ENTRIES, TetherError, type ToolArgs, type ToolResult } from '@tether/shared';
import picomatch from 'picomatch';
import { searchTool, type SearchEngineChoice } from '../search/search-tool.js';
import { walk, WalkLimit, type WalkEntry } from '../search/walker.js';
import type { ToolHandlers } from '../tools/tool-context.js';
import type { PathGuard } from './path-guard.js';
import { LineIndexCache, readFileTool } from './read-file.js';
import { deleteTool, editFileTool, mkdirTool, moveTool, writeFileTool } from './write-tools.js';

/** Options of createFsTools. */
export interface FsToolsOptions {
  /** `auto` (default): ripgrep when `rg` is on PATH, else the JS engine. */
  searchEngine?: SearchEngineChoice;
}

/** lstat calls list_dir runs at once (size and mtime of each entry). */
const STAT_CONCURRENCY = 32;

type EntryType = 'file' | 'dir' | 'symlink' | 'other';

function typeOfStats(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

/** Resolves a path that must be an existing folder. */
async function resolveFolder(guard: PathGuard, p: string): Promise<{ abs: string; rel: string }> {
  const target = await guard.resolve(p);
  if (!target.exists) throw new TetherError('not_found', `No such folder: ${target.rel}`);
  const st = await lstat(target.abs);
  if (!st.isDirectory()) throw new TetherError('not_a_directory', `Not a folder: ${target.rel}`);
  return { abs: target.abs, rel: target.rel };
}

/** list_dir: depth-first in byte-wise name order, capped at MAX_LIST_ENTRIES; `.git` is never listed. */
async function listDirTool(
  args: ToolArgs<'list_dir'>,
  guard: PathGuard,
  signal: AbortSignal,
): Promise<ToolResult<'list_dir'>> {
  const dir = await resolveFolder(guard, args.path);
  const found: WalkEntry[] = [];
  const limit = new WalkLimit();
  let truncated = false;
  for await (const entry of walk(
    guard.root,
    dir.abs,
    dir.rel,
    {
      includeHidden: args.includeHidden,
      respectGitignore: args.respectGitignore,
      maxDepth: args.depth,
      signal,
    },
    limit,
  )) {
    if (found.length >= MAX_LIST_ENTRIES) {
      truncated = true;
      break;
    }
    found.push(entry);
  }
  truncated ||= limit.hit;
  const entries: ToolResult<'list_dir'>['entries'] = new Array(found.length);
  for (let i = 0; i < found.length; i += STAT_CONCURRENCY) {
    await Promise.all(
      found.slice(i, i + STAT_CONCURRENCY).map(async (e, j) => {
        const st = await lstat(e.abs).catch(() => undefined);
        const type = st ? typeOfStats(st) : e.type;
        entries[i + j] = {
          path: e.rel,
          type,
          size: st && type !== 'dir' ? st.size : 0,
          mtimeMs: st ? Math.floor(st.mtimeMs) : 0,
        };
      }),
    );
  }
  return { path: dir.rel, entries, truncated };
}

/**
 * glob: `pattern` is matched (picomatch, dotfiles included) against paths relative to `path`
 * (default the root); files and symlinks are returned, folders are not. `.git` is skipped and
 * .gitignore respected. The walk starts at the pattern's literal prefix and stops at its depth.
 */
async function globTool(args: ToolArgs<'glob'>, guard: PathGuard, signal: AbortSignal): Promise<ToolResult<'glob'>> {
  const base = await resolveFolder(guard, args.path ?? '.');
  let isMatch: (p: string) => boolean;
  let scan: ReturnType<typeof picomatch.scan>;
  try {
    isMatch = picomatch(args.pattern, { dot: true });
    scan = picomatch.scan(args.pattern);
  } catch {
    throw new TetherError('invalid_args', 'The glob pattern is not valid.', { field: 'pattern' });
  }
  if (scan.base.startsWith('/') || scan.base.split('/').includes('..')) {
    return { matches: [], truncated: false }; // a relative walk can never produce such a path
  }
  const prefix = scan.isGlob ? scan.base : '';
  let start = base;
  if (prefix !== '') {
    const sub = await guard.resolve(base.rel === '.' ? prefix : `${base.rel}/${prefix}`);
    if (!sub.exists || !(await lstat(sub.abs)).isDirectory()) return { matches: [], truncated: false };
    start = { abs: sub.abs, rel: sub.rel };
  }
  const globPart = scan.isGlob ? scan.glob : args.pattern;
  // Braces may hide a '/' ({a/b,c}): then the depth cannot be read off the pattern.
  const unbounded = globPart.includes('**') || globPart.includes('{');
  const maxDepth = unbounded ? Number.POSITIVE_INFINITY : globPart.split('/').length;
  const baseRelPrefix = base.rel === '.' ? '' : `${base.rel}/`;
  const matches: string[] = [];
  const limit = new WalkLimit();
  let truncated = false;
  for await (const entry of walk(
    guard.root,
    start.abs,
    start.rel,
    { includeHidden: true, respectGitignore: true, maxDepth, signal },
    limit,
  )) {
    if (entry.type === 'dir') continue;
    const relToBase = entry.rel.startsWith(baseRelPrefix) ? entry.rel.slice(baseRelPrefix.length) : entry.rel;
    if (!isMatch(relToBase)) continue;
    if (matches.length >= MAX_GLOB_MATCHES) {
      truncated = true;
      break;
    }
    matches.push(entry.rel);
  }
  return { matches, truncated: truncated || limit.hit };
}

/** stat: the entry itself (a symlink reports as `symlink`). */
async function statTool(args: ToolArgs<'stat'>, guard: PathGuard): Promise<ToolResult<'stat'>> {
  const target = await guard.resolve(args.path);
  if (!target.exists) throw new TetherError('not_found', `No such file or folder: ${target.rel}`);
  const st = await lstat(target.entry);
  return {
    path: target.rel,
    type: typeOfStats(st),
    size: st.size,
    mtimeMs: Math.floor(st.mtimeMs),
    mode: st.mode & 0o7777,
  };
}

/**
 * The file tools of a workspace (read_file, list_dir, glob, search, stat, write_file,
 * edit_file, move, delete, mkdir). Every path goes through `ctx.guard`; results carry
 * workspace-relative posix paths only.
 */
export function createFsTools(options: FsToolsOptions = {}): ToolHandlers {
  const engine = options.searchEngine ?? 'auto';
  const lineIndexes = new LineIndexCache();
  return {
    read_file: (args, ctx) => readFileTool(args, ctx.guard, lineIndexes),
    list_dir: (args, ctx) => listDirTool(args, ctx.guard, ctx.signal),
    glob: (args, ctx) => globTool(args, ctx.guard, ctx.signal),
    search: (args, ctx) => searchTool(args, ctx.guard, ctx.signal, engine),
    stat: (args, ctx) => statTool(args, ctx.guard),
    write_file: (args, ctx) => writeFileTool(args, ctx.guard),
    edit_file: (args, ctx) => editFileTool(args, ctx.guard),
    move: (args, ctx) => moveTool(args, ctx.guard),
    delete: (args, ctx) => deleteTool(args, ctx.guard),
    mkdir: (args, ctx) => mkdirTool(args, ctx.guard),
  };
}
