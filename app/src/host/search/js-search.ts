import { close, constants, open, read } from 'node:fs';
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

/** First read of every file: most source files fit, so one read is all they cost. */
const FIRST_READ_BYTES = 64 * 1024;

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
  const freeSlots: Buffer[] = Array.from({ length: FILE_CONCURRENCY + 1 }, () => Buffer.allocUnsafe(FIRST_READ_BYTES));
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
      const slot = freeSlots.pop() as Buffer;
      inFlight.push(
        searchFile(entry, query, matchers, budget - out.matches.length, slot).finally(() => freeSlots.push(slot)),
      );
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

const openFd = (p: string): Promise<number> =>
  new Promise((resolve, reject) => open(p, OPEN_FLAGS, (err, fd) => (err ? reject(err) : resolve(fd))));
const readFd = (fd: number, buf: Buffer): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
const closeFd = (fd: number): Promise<void> => new Promise((resolve) => close(fd, () => resolve()));

/**
 * Searches one file; a binary file (a NUL byte in its first chunk) yields nothing, as in
 * ripgrep. The callback fs API and a reused first-read buffer keep a small file to three
 * thread-pool trips (open, read, close): the walk already said it is a regular file, and
 * O_NONBLOCK|O_NOFOLLOW make a FIFO or link swapped in since then fail the read instead.
 */
async function searchFile(entry: WalkEntry, query: SearchQuery, m: Matchers, budget: number, slot: Buffer): Promise<MatchCollector> {
  const collector = new MatchCollector(entry.rel, query.contextLines, budget);
  let fd: number;
  try {
    fd = await openFd(entry.abs);
  } catch {
    return collector; // vanished or unreadable: skipped, like ripgrep
  }
  try {
    const n = await readFd(fd, slot);
    if (n < slot.length) {
      // The whole file (a short read of a regular file is its end).
      if (slot.subarray(0, n).indexOf(0) !== -1) return collector;
      processBlock(slot.toString('utf8', 0, n), 0, collector, m, query.contextLines);
      return collector;
    }
    await searchBigFile(fd, Buffer.from(slot), collector, query, m);
  } catch {
    // A read error (EAGAIN from a FIFO swapped in, EIO): what was found so far stands.
  } finally {
    await closeFd(fd);
  }
  return collector;
}

/** The rest of a file bigger than the first read, in CHUNK_BYTES chunks split at line ends. */
async function searchBigFile(fd: number, first: Buffer, collector: MatchCollector, query: SearchQuery, m: Matchers): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let carry: Buffer | undefined;
  let lineNo = 0;
  let next: Buffer | undefined = first;
  for (;;) {
    let data: Buffer;
    if (next) {
      data = next;
      next = undefined;
    } else {
      data = buf.subarray(0, await readFd(fd, buf));
    }
    const eof = data.length === 0;
    if (data.indexOf(0) !== -1) return; // binary: ripgrep stops at the first NUL it sees
    if (carry) data = Buffer.concat([carry, data]);
    carry = undefined;
    if (data.length === 0) return;
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
    if (collector.done || eof || query.signal.aborted) return;
  }
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
