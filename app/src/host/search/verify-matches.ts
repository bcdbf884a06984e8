import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fdOpenedInside } from '../fs/pinned-dir.js';
import { cutLine, type SearchMatch } from './search-query.js';

/** Files re-read at once. */
const VERIFY_CONCURRENCY = 16;

/** Bytes read per chunk while looking for the reported lines. */
const VERIFY_CHUNK_BYTES = 256 * 1024;

/** O_NOFOLLOW and O_NONBLOCK as in the engines: a link or FIFO swapped in fails instead. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Keeps only the matches whose every line (match and context) is, right now, that line of the
 * file of that path inside the root. ripgrep lists the folders below the one it starts in by
 * path, so a folder swapped for a link out while it runs can make it read outside files; it
 * cannot be told not to. What it reports is therefore checked against the file re-read here
 * through a descriptor checked to be inside the root: a file that was outside, or whose lines
 * differ, loses its matches. Costs one read per file with matches (at most maxResults files).
 */
export async function keepVerifiedMatches(
  matches: SearchMatch[],
  rootAbs: string,
  caseInsensitive: boolean,
): Promise<SearchMatch[]> {
  const byFile = new Map<string, SearchMatch[]>();
  for (const m of matches) {
    const list = byFile.get(m.path);
    if (list) list.push(m);
    else byFile.set(m.path, [m]);
  }
  const files = [...byFile.keys()];
  const verified = new Set<string>();
  for (let i = 0; i < files.length; i += VERIFY_CONCURRENCY) {
    await Promise.all(
      files.slice(i, i + VERIFY_CONCURRENCY).map(async (rel) => {
        const ok = await fileHasLines(rootAbs, caseInsensitive, rel, byFile.get(rel) as SearchMatch[]);
        if (ok) verified.add(rel);
      }),
    );
  }
  return matches.filter((m) => verified.has(m.path));
}

/** The lines a file's matches claim: line number → text as reported (already cut by cutLine). */
function claimedLines(matches: SearchMatch[]): Map<number, string> {
  const want = new Map<number, string>();
  for (const m of matches) {
    want.set(m.line, m.text);
    m.before?.forEach((t, k) => want.set(m.line - (m.before as string[]).length + k, t));
    m.after?.forEach((t, k) => want.set(m.line + 1 + k, t));
  }
  return want;
}

async function fileHasLines(rootAbs: string, ci: boolean, rel: string, matches: SearchMatch[]): Promise<boolean> {
  const want = claimedLines(matches);
  const last = Math.max(...want.keys());
  let handle;
  try {
    handle = await open(path.join(rootAbs, ...rel.split('/')), OPEN_FLAGS);
  } catch {
    return false; // gone or swapped since: nothing to show
  }
  try {
    if (!(await fdOpenedInside(rootAbs, ci, handle.fd))) return false;
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.allocUnsafe(VERIFY_CHUNK_BYTES);
    let lineNo = 1;
    let partial = '';
    let found = 0;
    const check = (text: string): boolean => {
      const claimed = want.get(lineNo);
      if (claimed !== undefined) {
        if (cutLine(text) !== claimed) return false;
        found++;
      }
      lineNo++;
      return true;
    };
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      const text = partial + (bytesRead > 0 ? decoder.write(buf.subarray(0, bytesRead)) : decoder.end());
      const lines = text.split('\n');
      partial = bytesRead > 0 ? (lines.pop() as string) : '';
      if (bytesRead === 0 && lines[lines.length - 1] === '') lines.pop(); // the final newline ends no line
      for (const line of lines) {
        if (!check(line)) return false;
        if (lineNo > last) return found === want.size;
      }
      if (bytesRead === 0) return found === want.size;
    }
  } catch {
    return false;
  } finally {
    await handle.close();
  }
}
