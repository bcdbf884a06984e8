/**
 * Worker-thread side of the JS search engine. It receives batches of files (in walk order),
 * searches each with synchronous reads and posts the matches back in the same order.
 *
 * Synchronous fs calls are deliberate and safe here: this thread has no event loop serving
 * anyone (the host's loop is on the main thread), and three direct syscalls per file are
 * several times cheaper than three thread-pool round trips, which is what lets the JS engine
 * keep up with ripgrep on large trees.
 */
import { closeSync, constants, openSync, readlinkSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { relativeInside } from '../fs/path-forms.js';
import { FileScanner } from './file-scanner.js';
import { MatchCollector } from './match-collector.js';
import { compileMatchers, type Matchers, type SearchMatch } from './search-query.js';

/** The query part a worker needs (sent with every batch; compiled once per distinct query). */
export interface SearchWorkerInit {
  pattern: string;
  regex: boolean;
  caseSensitive: boolean;
  contextLines: number;
  /** The workspace root (real path) and whether it folds case: every file opened is checked to be inside. */
  rootAbs: string;
  caseInsensitive: boolean;
}
export interface SearchWorkerBatch {
  id: number;
  files: { abs: string; rel: string }[];
  /** Matches wanted at most from this batch (the caller's remaining need, plus one). */
  budget: number;
}
export interface SearchWorkerReply {
  id: number;
  matches: SearchMatch[];
}

/** O_NOFOLLOW and O_NONBLOCK: a link or FIFO swapped in after the walk fails instead of being followed or blocking. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const FIRST_READ_BYTES = 64 * 1024;
const CHUNK_BYTES = 1024 * 1024;

/** Where the kernel names an open descriptor's file (Linux); elsewhere the walk's check is all there is. */
const FD_DIR = process.platform === 'linux' ? '/proc/self/fd' : null;

/**
 * True when the file open as `fd` is inside the root (pinned-dir.ts's fdOpenedInside,
 * synchronous like every call of this thread). Files are opened by path, and a folder on that
 * path may have been swapped for a link out since the walk listed it. Asked only of a file
 * that gave matches, before they are kept: a file that gives none reveals nothing, and a
 * readlink per file would cost the engine a third of its speed.
 */
function openedInside(fd: number, init: SearchWorkerInit): boolean {
  if (FD_DIR === null) return true;
  let now: string;
  try {
    now = readlinkSync(`${FD_DIR}/${fd}`);
  } catch {
    return true; // no /proc mounted
  }
  return relativeInside(now, init.rootAbs, init.caseInsensitive) !== undefined;
}

const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
let chunk: Buffer | undefined;

let compiled: { key: string; matchers: Matchers } | undefined;

function matchersFor(init: SearchWorkerInit): Matchers {
  const key = JSON.stringify([init.pattern, init.regex, init.caseSensitive]);
  if (compiled?.key !== key) compiled = { key, matchers: compileMatchers(init) };
  return compiled.matchers;
}

function searchFile(abs: string, rel: string, budget: number, init: SearchWorkerInit): SearchMatch[] {
  const collector = new MatchCollector(rel, init.contextLines, budget);
  const scanner = new FileScanner(collector, matchersFor(init), init.contextLines);
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch {
    return []; // vanished or unreadable: skipped, like ripgrep
  }
  try {
    const n = readSync(fd, first, 0, first.length, null);
    if (n < first.length) {
      scanner.feed(first.subarray(0, n), true); // the whole file: a short read of a regular file is its end
    } else if (!scanner.feed(first, false)) {
      chunk ??= Buffer.allocUnsafe(CHUNK_BYTES);
      for (;;) {
        const got = readSync(fd, chunk, 0, chunk.length, null);
        if (scanner.feed(chunk.subarray(0, got), got === 0)) break;
      }
    }
  } catch {
    // A read error (EAGAIN from a FIFO swapped in, EIO): what was found so far stands.
  }
  try {
    // Swapped for a link out since the walk: what was read is not the workspace's, drop it.
    if (collector.matches.length > 0 && !openedInside(fd, init)) return [];
  } finally {
    closeSync(fd);
  }
  return collector.matches;
}

parentPort?.on('message', (batch: SearchWorkerBatch & { searchId: number; init: SearchWorkerInit }) => {
  const matches: SearchMatch[] = [];
  for (const file of batch.files) {
    if (matches.length >= batch.budget) break;
    for (const m of searchFile(file.abs, file.rel, batch.budget - matches.length, batch.init)) matches.push(m);
  }
  parentPort?.postMessage({ searchId: batch.searchId, id: batch.id, matches } satisfies SearchWorkerReply & {
    searchId: number;
  });
});
