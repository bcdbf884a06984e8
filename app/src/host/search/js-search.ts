import { close, constants, open, read } from 'node:fs';
import { TetherError } from '@tether/shared';
import { fdOpenedInside } from '../fs/pinned-dir.js';
import { FileScanner } from './file-scanner.js';
import { MatchCollector } from './match-collector.js';
import {
  compileMatchers,
  makeGlobOverride,
  type Matchers,
  type SearchOutcome,
  type SearchQuery,
} from './search-query.js';
import { searchOnWorkers } from './search-worker-pool.js';
import { walk, type WalkEntry } from './walker.js';

/** Bytes read per chunk of a file bigger than the first read. */
const CHUNK_BYTES = 1024 * 1024;

/** Files searched at once on the thread pool (the in-thread fallback). */
const FILE_CONCURRENCY = 16;

/** First read of every file: most source files fit, so one read is all they cost (ripgrep's buffer size too). */
const FIRST_READ_BYTES = 64 * 1024;

/** O_NONBLOCK so a FIFO swapped in after the walk cannot hang the open; O_NOFOLLOW so a swapped-in link is not followed. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** How searchJs runs: on worker threads (default for folders), or all on this thread's fs pool. */
export interface JsSearchOptions {
  workers?: boolean;
}

/**
 * The JavaScript search engine, used where ripgrep is not installed: the same files (walk
 * order, .gitignore, hidden names skipped, binary files skipped, symlinks not followed), the
 * same lines and the same result shape as the ripgrep engine. Patterns use JS RegExp syntax.
 * A folder is searched on worker threads (see search-worker.ts); if they cannot run, here.
 */
export async function searchJs(query: SearchQuery, options: JsSearchOptions = {}): Promise<SearchOutcome> {
  const matchers = compileMatchers(query); // refuses a bad pattern before any work
  if (options.workers !== false) {
    // Even a single file goes to a worker: a pathological regex then never stalls the host's loop.
    const files: AsyncIterable<WalkEntry> | WalkEntry[] = query.startIsFile
      ? [{ abs: query.startAbs, rel: query.startRel, type: 'file', depth: 0 }]
      : walkFiles(query);
    try {
      return await searchOnWorkers(query, files);
    } catch (err) {
      if (err instanceof TetherError) throw err;
      // The workers could not run (a packaging problem, a resource limit): search here instead.
    }
  }
  return searchInThread(query, matchers);
}

function walkFiles(query: SearchQuery): AsyncIterable<WalkEntry> {
  const override = makeGlobOverride(query.glob);
  return walk(query.rootAbs, query.startAbs, query.startRel, {
    includeHidden: false,
    respectGitignore: true,
    maxDepth: Number.POSITIVE_INFINITY,
    signal: query.signal,
    caseInsensitive: query.caseInsensitive === true,
    ...(override ? { override, shouldYield: override.shouldYield } : {}),
  });
}

async function searchInThread(query: SearchQuery, matchers: Matchers): Promise<SearchOutcome> {
  const budget = query.maxResults + 1; // one more than asked tells whether there were more
  const out: SearchOutcome = { matches: [], truncated: false };
  const files: AsyncIterable<WalkEntry> | WalkEntry[] = query.startIsFile
    ? [{ abs: query.startAbs, rel: query.startRel, type: 'file', depth: 0 }]
    : walkFiles(query);

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
 * Searches one file. The callback fs API and a reused first-read buffer keep a small file to
 * three thread-pool trips (open, read, close): the walk already said it is a regular file, and
 * O_NONBLOCK|O_NOFOLLOW make a FIFO or link swapped in since then fail instead.
 */
async function searchFile(
  entry: WalkEntry,
  query: SearchQuery,
  m: Matchers,
  budget: number,
  slot: Buffer,
): Promise<MatchCollector> {
  const collector = new MatchCollector(entry.rel, query.contextLines, budget);
  const scanner = new FileScanner(collector, m, query.contextLines);
  let fd: number;
  try {
    fd = await openFd(entry.abs);
  } catch {
    return collector; // vanished or unreadable: skipped, like ripgrep
  }
  try {
    const n = await readFd(fd, slot);
    if (n < slot.length) {
      scanner.feed(slot.subarray(0, n), true); // the whole file: a short read of a regular file is its end
    } else if (!scanner.feed(slot, false)) {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      for (;;) {
        const got = await readFd(fd, buf);
        if (scanner.feed(buf.subarray(0, got), got === 0) || query.signal.aborted) break;
      }
    }
  } catch {
    // A read error (EAGAIN from a FIFO swapped in, EIO): what was found so far stands.
  }
  try {
    // A folder on the path swapped for a link out since the walk listed it: what was read is
    // not the workspace's. Asked only when there is something to report (as in search-worker.ts).
    if (collector.matches.length > 0 && !(await fdOpenedInside(query.rootAbs, query.caseInsensitive === true, fd))) {
      return new MatchCollector(entry.rel, query.contextLines, budget);
    }
  } finally {
    await closeFd(fd);
  }
  return collector;
}
