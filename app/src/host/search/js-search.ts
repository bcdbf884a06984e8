import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { TetherError } from '@tether/shared';
import { MatchCollector } from './match-collector.js';
import {
  codePoints,
  compileMatchers,
  makeGlobOverride,
  type Matchers,
  type SearchOutcome,
  type SearchQuery,
} from './search-query.js';
import { walk, type WalkEntry } from './walker.js';

/** Bytes read per chunk of a big file; a file up to this size is read in one go. */
const CHUNK_BYTES = 1024 * 1024;

/** Files searched at once: enough to keep the disk and the thread pool busy on two cores. */
const FILE_CONCURRENCY = 16;

/** O_NONBLOCK so a FIFO swapped in after the walk cannot hang the open; O_NOFOLLOW so a swapped-in link is not followed. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * The JavaScript search engine, used where ripgrep is not installed: the same files (walk
 * order, .gitignore, hidden names skipped, binary files skipped, symlinks not followed), the
 * same lines and the same result shape as the ripgrep engine. Patterns use JS RegExp syntax.
 */
export async function searchJs(query: SearchQuery): Promise<SearchOutcome> {
  const matchers = compileMatchers(query);
  const override = makeGlobOverride(query.glob);
  const budget = query.maxResults + 1; // one more than asked tells whether there were more
  const out: SearchOutcome = { matches: [], truncated: false };

  const files: AsyncIterable<WalkEntry> | WalkEntry[] = query.startIsFile
    ? [{ abs: query.startAbs, rel: query.startRel, type: 'file', depth: 0 }]
    : walk(query.rootAbs, query.startAbs, query.startRel, {
        includeHidden: false,
        respectGitignore: true,
        maxDepth: Number.POSITIVE_INFINITY,
        signal: query.signal,
        ...(override ? { override } : {}),
      });

  // Files are searched concurrently but their results are taken strictly in walk order.
  const inFlight: Promise<MatchCollector>[] = [];
  const take = async (): Promise<boolean> => {
    const collector = await (inFlight.shift() as Promise<MatchCollector>);
    for (const m of collector.matches) {
      if (out.matches.length >= query.maxResults) {
        out.truncated = true;
        return true;
      }
      out.matches.push(m);
    }
    return false;
  };
  let stopped = false;
  try {
    for await (const entry of files) {
      if (query.signal.aborted) throw new TetherError('cancelled');
      if (entry.type !== 'file') continue;
      inFlight.push(searchFile(entry, query, matchers, budget - out.matches.length));
      if (inFlight.length >= FILE_CONCURRENCY && (await take())) {
        stopped = true;
        break;
      }
    }
    while (!stopped && inFlight.length > 0) stopped = await take();
  } finally {
    // Let abandoned searches settle so no file handle outlives the call.
    await Promise.allSettled(inFlight);
  }
  if (query.signal.aborted) throw new TetherError('cancelled');
  return out;
}

/** Searches one file; a binary file (a NUL byte in its first chunk) yields nothing, as in ripgrep. */
async function searchFile(entry: WalkEntry, query: SearchQuery, m: Matchers, budget: number): Promise<MatchCollector> {
  const collector = new MatchCollector(entry.rel, query.contextLines, budget);
  let handle;
  try {
    handle = await open(entry.abs, OPEN_FLAGS);
  } catch {
    return collector; // vanished or unreadable: skipped, like ripgrep
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return collector;
    const buf = Buffer.allocUnsafe(Math.min(Math.max(st.size, 1), CHUNK_BYTES));
    let carry: Buffer | undefined;
    let lineNo = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      const eof = bytesRead === 0;
      let data = buf.subarray(0, bytesRead);
      if (data.indexOf(0) !== -1) break; // binary: ripgrep stops at the first NUL it sees
      if (carry) data = Buffer.concat([carry, data]);
      carry = undefined;
      if (data.length === 0) break;
      let end = data.length;
      if (!eof) {
        const nl = data.lastIndexOf(10);
        if (nl === -1 && data.length < 64 * CHUNK_BYTES) {
          carry = Buffer.from(data);
          continue;
        }
        end = nl + 1;
        carry = end < data.length ? Buffer.from(data.subarray(end)) : undefined;
      }
      lineNo = processBlock(data.toString('utf8', 0, end), lineNo, collector, m, query.contextLines);
      if (collector.done || eof) break;
      if (query.signal.aborted) break;
    }
  } finally {
    await handle.close();
  }
  return collector;
}

/** Feeds a block of whole lines to the collector; returns the last line number used. */
function processBlock(text: string, lineNo: number, collector: MatchCollector, m: Matchers, n: number): number {
  if (!collector.hasPending && (!collector.wantsMatches || !m.block.test(text))) {
    // Fast path: no line of this block matches, so only count lines and keep the last few.
    let count = 0;
    let pos = text.indexOf('\n');
    while (pos !== -1) {
      count++;
      pos = text.indexOf('\n', pos + 1);
    }
    if (text.length > 0 && !text.endsWith('\n')) count++;
    collector.skip(count, n > 0 ? lastLines(text, n) : []);
    return lineNo + count;
  }
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (collector.done) break;
    lineNo++;
    let column: number | undefined;
    if (collector.wantsMatches) {
      const hit = m.line.exec(line);
      if (hit) column = codePoints(line.slice(0, hit.index)) + 1;
    }
    collector.line(lineNo, line, column);
  }
  return lineNo;
}

function lastLines(text: string, n: number): string[] {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const out: string[] = [];
  let end = body.length;
  while (out.length < n) {
    const start = end === 0 ? -1 : body.lastIndexOf('\n', end - 1);
    out.unshift(body.slice(start + 1, end));
    if (start === -1) break;
    end = start;
  }
  return out;
}
