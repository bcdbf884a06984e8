import { lstat } from 'node:fs/promises';
import { MAX_GLOB_MATCHES, MAX_LIST_ENTRIES, TetherError, type ToolArgs, type ToolResult } from '@tether/shared';
import { searchTool, type SearchEngineChoice } from '../search/search-tool.js';
import { walk, WalkLimit, type WalkEntry } from '../search/walker.js';
import type { ToolContext, ToolHandlers } from '../tools/tool-context.js';
import { stableFsError } from './fs-errors.js';
import { compileGlob } from './glob-matcher.js';
import { lstatFound } from './lstat-found.js';
import type { PathGuard } from './path-guard.js';
import { LineIndexCache, readFileTool } from './read-file.js';
import { deleteTool, editFileTool, mkdirTool, moveTool, writeFileTool } from './write-tools.js';

/** Options of createFsTools. */
export interface FsToolsOptions {
  /** `auto` (default): ripgrep when `rg` is on PATH, else the JS engine. */
  searchEngine?: SearchEngineChoice;
}

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
  const st = await lstatFound(target.abs, target.rel);
  if (!st.isDirectory()) throw new TetherError('not_a_directory', `Not a folder: ${target.rel}`);
  return { abs: target.abs, rel: target.rel };
}

/**
 * list_dir: depth-first in byte-wise name order, capped at MAX_LIST_ENTRIES; `.git` and the temp
 * files of atomic writes are never listed. A folder with more names than the cap is read only up
 * to it (streamed, not all of it): those are the first names the system gives, sorted, and
 * `truncated` is set.
 */
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
      caseInsensitive: guard.caseInsensitive,
      withStats: true,
      maxFolderEntries: MAX_LIST_ENTRIES,
    },
    limit,
  )) {
    if (found.length >= MAX_LIST_ENTRIES) {
      truncated = true;
      break;
    }
    found.push(entry);
  }
  truncated ||= limit.hit || limit.cut;
  // Sizes and times were taken through each folder's pinned descriptor during the walk, not by
  // path afterwards: a folder swapped for a link out meanwhile cannot show an outside file's.
  const entries: ToolResult<'list_dir'>['entries'] = found.map((e) => {
    const st = e.stats;
    const type = st ? typeOfStats(st) : e.type;
    return {
      path: e.rel,
      type,
      size: st && type !== 'dir' ? st.size : 0,
      mtimeMs: st ? Math.floor(st.mtimeMs) : 0,
    };
  });
  return { path: dir.rel, entries, truncated };
}

/**
 * glob: `pattern` is matched (glob-matcher.ts: bounded work, dotfiles included) against paths
 * relative to `path` (default the root); files and symlinks are returned, folders are not.
 * `.git` is skipped and .gitignore respected. The walk starts at the literal folder all the
 * pattern's alternatives share and stops at their depth.
 */
async function globTool(args: ToolArgs<'glob'>, guard: PathGuard, signal: AbortSignal): Promise<ToolResult<'glob'>> {
  const base = await resolveFolder(guard, args.path ?? '.');
  const glob = compileGlob(args.pattern, { negation: true });
  if (glob.never) return { matches: [], truncated: false }; // a relative walk can never produce such a path
  let start = base;
  if (glob.base !== '') {
    const sub = await guard.resolve(base.rel === '.' ? glob.base : `${base.rel}/${glob.base}`);
    const st = sub.exists ? await lstat(sub.abs).catch(() => undefined) : undefined;
    if (!st?.isDirectory()) return { matches: [], truncated: false };
    start = { abs: sub.abs, rel: sub.rel };
  }
  const maxDepth = glob.maxSegments - (glob.base === '' ? 0 : glob.base.split('/').length);
  if (maxDepth < 1) return { matches: [], truncated: false };
  const startRelPrefix = start.rel === '.' ? '' : `${start.rel}/`;
  const globBasePrefix = glob.base === '' ? '' : `${glob.base}/`;
  const matches: string[] = [];
  const limit = new WalkLimit();
  let truncated = false;
  for await (const entry of walk(
    guard.root,
    start.abs,
    start.rel,
    { includeHidden: true, respectGitignore: true, maxDepth, signal, caseInsensitive: guard.caseInsensitive },
    limit,
  )) {
    if (entry.type === 'dir') continue;
    // The walk names entries from the root through start.rel; the pattern sees them relative to `path`.
    const relToBase = globBasePrefix + entry.rel.slice(startRelPrefix.length);
    const hit = glob.matches(relToBase);
    // A walk of a big folder runs in microtasks; let heartbeats and other calls in now and then.
    if (glob.shouldYield()) await new Promise((resolve) => setImmediate(resolve));
    if (!hit) continue;
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
  const st = await lstatFound(target.entry, target.rel);
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
  const handlers: ToolHandlers = {
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
  // A system error past the guard (a path too long, a folder a command made unreadable) is a
  // stable code, not `internal`.
  for (const [name, handler] of Object.entries(handlers)) {
    const run = handler as (args: unknown, ctx: ToolContext) => Promise<unknown>;
    (handlers as Record<string, unknown>)[name] = (args: unknown, ctx: ToolContext) =>
      run(args, ctx).catch((err: unknown) => {
        const a = args as { path?: unknown; to?: unknown };
        const path = typeof a.path === 'string' ? a.path : typeof a.to === 'string' ? a.to : undefined;
        throw stableFsError(err, path);
      });
  }
  return handlers;
}
