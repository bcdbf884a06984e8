import { MAX_SEARCH_LINE_CHARS, TetherError, type ToolResult } from '@tether/shared';
import { compileGlob } from '../fs/glob-matcher.js';

/** One match as returned by the `search` tool. */
export type SearchMatch = ToolResult<'search'>['matches'][number];

/** A search both engines run the same way. */
export interface SearchQuery {
  pattern: string;
  regex: boolean;
  caseSensitive: boolean;
  contextLines: number;
  maxResults: number;
  glob?: string;
  /** The workspace root (real path); ripgrep runs here and paths are relative to it. */
  rootAbs: string;
  /** The root's file system folds case (PathGuard.caseInsensitive): for the inside checks. */
  caseInsensitive?: boolean;
  /** Where to search: a real folder or regular file inside the root. */
  startAbs: string;
  /** `startAbs` relative to the root, posix ('.' for the root). */
  startRel: string;
  startIsFile: boolean;
  signal: AbortSignal;
}

/** What an engine found, in file order (byte-wise path order, depth first) then line order. */
export interface SearchOutcome {
  matches: SearchMatch[];
  truncated: boolean;
}

/** Cuts a line to MAX_SEARCH_LINE_CHARS (minified files) without splitting a surrogate pair. */
export function cutLine(line: string): string {
  let text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.length > MAX_SEARCH_LINE_CHARS) {
    let end = MAX_SEARCH_LINE_CHARS;
    const c = text.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
    text = text.slice(0, end);
  }
  return text;
}

/** Characters (code points) in `s`: the unit of `column`. */
export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
    n++;
  }
  return n;
}

/** Compiled matchers for the JS engine: one for a whole block of text, one for a single line. */
export interface Matchers {
  /** `m` flag: true when some line of a block may match (a cheap pre-check; false positives are fine). */
  block: RegExp;
  /** Anchors bound to the line; `exec` gives the first match's index. */
  line: RegExp;
}

/** Builds the JS engine's matchers, refusing with `invalid_args` what neither engine can run. */
export function compileMatchers(query: Pick<SearchQuery, 'pattern' | 'regex' | 'caseSensitive'>): Matchers {
  checkPattern(query.pattern);
  const source = query.regex ? query.pattern : query.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const base = query.caseSensitive ? '' : 'i';
  for (const unicode of ['u', '']) {
    try {
      return { block: new RegExp(source, `${base}m${unicode}`), line: new RegExp(source, `${base}${unicode}`) };
    } catch {
      // Not valid with the `u` flag (e.g. a needless escape): try the legacy syntax.
    }
  }
  throw new TetherError('invalid_args', 'The pattern is not a valid regular expression.', { field: 'pattern' });
}

/** Line-oriented search: a pattern cannot span lines in either engine. */
export function checkPattern(pattern: string): void {
  if (pattern.includes('\n') || pattern.includes('\r')) {
    throw new TetherError('invalid_args', 'The pattern must not contain line breaks.', { field: 'pattern' });
  }
  // A process argument cannot hold a NUL byte (spawning ripgrep would throw), so neither engine takes one.
  if (pattern.includes('\0')) {
    throw new TetherError('invalid_args', 'The pattern must not contain a NUL character.', { field: 'pattern' });
  }
}

/** The `glob` argument goes to ripgrep as a process argument too: no NUL byte. */
export function checkGlob(glob: string | undefined): void {
  if (glob?.includes('\0')) {
    throw new TetherError('invalid_args', 'The glob must not contain a NUL character.', { field: 'glob' });
  }
}

/**
 * The `glob` argument as ripgrep's `-g` override, relative to the workspace root: a glob
 * without `/` matches the base name at any depth, one with `/` the whole path; a trailing `/`
 * matches folders only. A match includes the entry even if hidden or ignored; with a plain
 * glob, files that do not match are excluded (folders are still entered); a `!glob` excludes
 * what it matches.
 */
export function makeGlobOverride(glob: string | undefined): GlobOverride | undefined {
  if (glob === undefined) return undefined;
  const negative = glob.startsWith('!');
  let body = negative ? glob.slice(1) : glob;
  const dirOnly = body.endsWith('/');
  if (dirOnly) body = body.slice(0, -1);
  const anchored = body.includes('/');
  if (body.startsWith('/')) body = body.slice(1);
  // glob-matcher.ts, not a regex: a pattern built to backtrack must not stall the host's loop.
  const matcher = compileGlob(body, { field: 'glob', basename: !anchored });
  const override = (rel: string, isDir: boolean): 'include' | 'exclude' | undefined => {
    const hit = (!dirOnly || isDir) && matcher.matches(rel);
    if (negative) return hit ? 'exclude' : undefined;
    if (hit) return 'include';
    return isDir ? undefined : 'exclude';
  };
  return Object.assign(override, { shouldYield: () => matcher.shouldYield() });
}

/** The `glob` argument compiled for the walker (see makeGlobOverride). */
export type GlobOverride = ((rel: string, isDir: boolean) => 'include' | 'exclude' | undefined) & {
  /** See GlobMatcher.shouldYield. */
  shouldYield(): boolean;
};
