import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { TetherError } from '@tether/shared';
import { openPinnedDir } from '../fs/pinned-dir.js';
import { GitignoreChain } from './gitignore-chain.js';
import { MatchCollector } from './match-collector.js';
import { keepVerifiedMatches } from './verify-matches.js';
import { checkPattern, codePoints, type SearchOutcome, type SearchQuery } from './search-query.js';

/** ripgrep's `--json` text: UTF-8 as `text`, anything else as base64 `bytes`. */
type RgData = { text?: string; bytes?: string };
interface RgMessage {
  type: 'begin' | 'match' | 'context' | 'end' | 'summary';
  data: { path?: RgData; lines?: RgData; line_number?: number; submatches?: { start: number }[] };
}

function decode(d: RgData | undefined): string {
  if (!d) return '';
  return d.text ?? Buffer.from(d.bytes ?? '', 'base64').toString('utf8');
}

/** The ripgrep arguments for a query (an array: never a shell; `--` before the pattern). */
export function ripgrepArgs(query: SearchQuery, ignoreFile: string | undefined, target = query.startRel): string[] {
  const args = [
    '--json',
    '--no-config', // a person's RIPGREP_CONFIG_PATH must not change what agents see
    '--sort=path', // deterministic order, the same as the JS engine's walk
    '--no-require-git', // .gitignore counts in a folder that is not a git repository too
    '--no-ignore-parent', // nothing above the workspace root is read
    '--no-ignore-global',
    '--no-ignore-exclude',
    '--no-ignore-dot',
    '--no-follow',
    query.caseSensitive ? '--case-sensitive' : '--ignore-case',
  ];
  if (!query.regex) args.push('--fixed-strings');
  if (query.contextLines > 0) args.push(`--context=${query.contextLines}`);
  if (query.glob !== undefined) args.push('--glob', query.glob);
  // Last, so no caller glob takes them back: the temp files of atomic writes (atomic-write.ts).
  args.push('--glob', '!.tether-[0-9a-f]*.tmp');
  if (ignoreFile !== undefined) args.push('--ignore-file', ignoreFile);
  args.push('--', query.pattern, target);
  return args;
}

/**
 * The ripgrep engine: spawns `rg --json` in the workspace root and turns its stream into
 * matches; stops (kills rg) once it has one match more than asked, or on the call's signal.
 * .gitignore files between the root and a sub-folder searched are handed over with
 * `--ignore-file`, rewritten relative to the root (ripgrep would read none above the start).
 * Against a folder swapped for a link out mid-call: ripgrep reaches the folder searched through
 * a pinned descriptor, and every match it reports is checked against the inside file before it
 * is returned (ripgrep lists the folders below by path and cannot be told otherwise).
 */
export async function searchRipgrep(query: SearchQuery, rgPath = 'rg'): Promise<SearchOutcome> {
  checkPattern(query.pattern);
  if (query.signal.aborted) throw new TetherError('cancelled');
  // ripgrep searches a file named explicitly even when binary; the JS engine (and ripgrep in a
  // folder) skips it. Same answer for both: a NUL in the first 64 KiB means no matches.
  if (query.startIsFile && (await startsBinary(query.startAbs))) return { matches: [], truncated: false };
  let tmpDir: string | undefined;
  let ignoreFile: string | undefined;
  if (!query.startIsFile && query.startRel !== '.') {
    const parentRel = path.posix.dirname(query.startRel);
    const chain = await GitignoreChain.forFolder(query.rootAbs, parentRel);
    const rules = chain.ignores(query.startRel, true) ? [] : chain.toRipgrepRules();
    if (rules.length > 0) {
      tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tether-rg-'));
      ignoreFile = path.join(tmpDir, 'ignore');
      await writeFile(ignoreFile, `${rules.join('\n')}\n`, { mode: 0o600 });
    }
  }
  // ripgrep follows the folder named on its command line, so it is never named by a path that
  // a swap could redirect: the folder searched (or holding the file searched) is pinned and
  // checked inside the root, and ripgrep reaches it through the pin (pinnedStart).
  const dirRel = query.startIsFile ? path.posix.dirname(query.startRel) : query.startRel;
  const dirAbs = query.startIsFile ? path.dirname(query.startAbs) : query.startAbs;
  const pinned = await openPinnedDir(query.rootAbs, query.caseInsensitive === true, dirAbs);
  try {
    let cwd = pinned.pathForChild;
    let target = query.startIsFile ? path.posix.basename(query.startRel) : '.';
    if (dirRel !== '.' && pinned.pathForChild !== dirAbs) {
      // Below the root: ripgrep must still see root-relative paths (its globs and --ignore-file
      // rules are anchored at its working folder), so it runs in a private folder where
      // `dirRel` is a link to the pinned folder, and is given `startRel` as before.
      tmpDir ??= await mkdtemp(path.join(os.tmpdir(), 'tether-rg-'));
      const view = path.join(tmpDir, 'view');
      await mkdir(path.join(view, path.posix.dirname(dirRel)), { recursive: true });
      await symlink(pinned.pathForChild, path.join(view, dirRel));
      cwd = view;
      target = query.startRel;
    } else if (pinned.pathForChild === dirAbs) {
      cwd = query.rootAbs; // no /proc here: the checked path as before
      target = query.startRel;
    }
    const out = await runRipgrep(query, ripgrepArgs(query, ignoreFile, target), rgPath, cwd);
    // Below the folder pinned, ripgrep lists folders by path: what it read through a folder
    // swapped for a link out meanwhile is dropped here (verify-matches.ts).
    out.matches = await keepVerifiedMatches(out.matches, query.rootAbs, query.caseInsensitive === true);
    return out;
  } finally {
    await pinned.close();
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
  }
}

async function startsBinary(abs: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(abs, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    // Gone or swapped for a link since the guard checked it: nothing to search.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TetherError('not_found', 'The file is gone.', undefined, { cause: err });
    if (code === 'ELOOP')
      throw new TetherError('not_a_file', 'The file was replaced by a link.', undefined, { cause: err });
    throw err;
  }
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).indexOf(0) !== -1;
  } finally {
    await handle.close();
  }
}

function runRipgrep(query: SearchQuery, args: string[], rgPath: string, cwd: string): Promise<SearchOutcome> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.RIPGREP_CONFIG_PATH;
    const child = spawn(rgPath, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      windowsHide: true,
    });
    const out: SearchOutcome = { matches: [], truncated: false };
    const decoder = new StringDecoder('utf8');
    let buffered = '';
    let stderr = '';
    let sawFile = false;
    let stopped = false;
    let collector: MatchCollector | undefined;

    const stop = (): void => {
      if (!stopped) {
        stopped = true;
        child.kill();
      }
    };
    const flush = (): void => {
      if (!collector) return;
      for (const m of collector.matches) {
        if (out.matches.length >= query.maxResults) {
          out.truncated = true;
          break;
        }
        out.matches.push(m);
      }
      collector = undefined;
      if (out.truncated) stop();
    };
    const onMessage = (msg: RgMessage): void => {
      if (msg.type === 'begin') {
        sawFile = true;
        const rel = decode(msg.data.path).replace(/\\/g, '/').replace(/^\.\//, '');
        collector = new MatchCollector(rel, query.contextLines, query.maxResults + 1 - out.matches.length);
      } else if ((msg.type === 'match' || msg.type === 'context') && collector && !collector.done) {
        const line = decode(msg.data.lines).replace(/\n$/, '');
        let column: number | undefined;
        const first = msg.data.submatches?.[0];
        if (msg.type === 'match' && first) {
          column = codePoints(Buffer.from(line, 'utf8').subarray(0, first.start).toString('utf8')) + 1;
        }
        collector.line(msg.data.line_number ?? 0, line, column);
        if (collector.done) flush();
      } else if (msg.type === 'end') {
        flush();
      } else if (msg.type === 'summary') {
        sawFile = true;
      }
    };
    const onAbort = (): void => stop();
    query.signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped) return;
      buffered += decoder.write(chunk);
      let nl = buffered.indexOf('\n');
      while (nl !== -1 && !stopped) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.length > 0) onMessage(JSON.parse(line) as RgMessage);
        nl = buffered.indexOf('\n');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => {
      query.signal.removeEventListener('abort', onAbort);
      reject(new TetherError('internal', 'ripgrep could not be started.', undefined, { cause: err }));
    });
    child.on('close', (code) => {
      query.signal.removeEventListener('abort', onAbort);
      if (query.signal.aborted) return reject(new TetherError('cancelled'));
      if (!stopped) flush();
      if (code === 2 && !sawFile && !stopped) {
        // Exit 2 with no summary: ripgrep refused the pattern before searching (its message names only the pattern).
        const message = stderr.replace(/\s+/g, ' ').trim().slice(0, 500);
        return reject(new TetherError('invalid_args', `The pattern is not valid: ${message}`, { field: 'pattern' }));
      }
      resolve(out);
    });
  });
}
