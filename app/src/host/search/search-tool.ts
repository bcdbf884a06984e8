import { spawn } from 'node:child_process';
import { TetherError, type ToolArgs, type ToolResult } from '@tether/shared';
import { lstatFound } from '../fs/lstat-found.js';
import type { PathGuard } from '../fs/path-guard.js';
import { searchJs } from './js-search.js';
import { searchRipgrep } from './ripgrep-search.js';
import { checkGlob, checkPattern } from './search-query.js';

/** Which engine `search` uses: ripgrep when installed (`auto`), or one forced (tests, benches). */
export type SearchEngineChoice = 'auto' | 'ripgrep' | 'js';

let ripgrepProbe: Promise<boolean> | undefined;

/** True when `rg` runs from PATH (probed once per process). */
export function ripgrepAvailable(): Promise<boolean> {
  ripgrepProbe ??= new Promise((resolve) => {
    const child = spawn('rg', ['--version'], { stdio: 'ignore', windowsHide: true });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
  return ripgrepProbe;
}

/** The `search` tool: resolves the path through the guard, then runs the chosen engine. */
export async function searchTool(
  args: ToolArgs<'search'>,
  guard: PathGuard,
  signal: AbortSignal,
  choice: SearchEngineChoice,
): Promise<ToolResult<'search'>> {
  checkPattern(args.pattern);
  checkGlob(args.glob);
  const start = await guard.resolve(args.path ?? '.');
  if (!start.exists) throw new TetherError('not_found', `No such file or folder: ${start.rel}`);
  const st = await lstatFound(start.abs, start.rel);
  if (!st.isDirectory() && !st.isFile())
    throw new TetherError('not_a_file', `Not a regular file or folder: ${start.rel}`);
  const query = {
    pattern: args.pattern,
    regex: args.regex,
    caseSensitive: args.caseSensitive,
    contextLines: args.contextLines,
    maxResults: args.maxResults,
    ...(args.glob !== undefined ? { glob: args.glob } : {}),
    rootAbs: guard.root,
    caseInsensitive: guard.caseInsensitive,
    startAbs: start.abs,
    // ripgrep runs in the root and is given this path: the real one, so no symlink is on it.
    startRel: guard.relative(start.abs),
    startIsFile: st.isFile(),
    signal,
  };
  const useRipgrep = choice === 'ripgrep' || (choice === 'auto' && (await ripgrepAvailable()));
  if (useRipgrep) {
    const out = await searchRipgrep(query);
    return { ...out, engine: 'ripgrep' };
  }
  const out = await searchJs(query);
  return { ...out, engine: 'js' };
}
