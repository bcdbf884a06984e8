import { constants, fstatSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { DEFAULT_READ_LINES, MAX_READ_BYTES, TetherError, type ToolArgs, type ToolResult } from '@tether/shared';
import type { PathGuard } from './path-guard.js';
import { checkOpenedInside } from './pinned-dir.js';

/** Bytes read per syscall while scanning: large, so a 100 MB file is ~100 reads. */
const SCAN_BUFFER_BYTES = 1024 * 1024;

/** Bytes read per step while looking for a page: about one page of typical lines. */
const PAGE_READ_BYTES = 512 * 1024;

/** A byte offset is remembered every this many lines, so a page deep in a huge file starts close by. */
const CHECKPOINT_LINES = 1024;

/** A NUL byte in this many leading bytes makes a file binary (git's heuristic). */
const BINARY_SNIFF_BYTES = 8000;

/** Read buffers kept for reuse (a few concurrent readers' worth). */
const MAX_SPARE_BUFFERS = 8;
const spareBuffers: Buffer[] = [];

/** Page ends remembered per file (readers paging through it, a few at a time). */
const MAX_REMEMBERED_PAGE_ENDS = 16;

/** Line indexes kept (one per recently read file version): each is a few KB even for 100 MB files. */
const MAX_CACHED_INDEXES = 64;

/**
 * O_NOFOLLOW: a final symlink swapped in after the guard looked is not followed; O_NONBLOCK: a
 * FIFO swapped in cannot hang the open (and fstat refuses it before any read).
 */
export const SAFE_READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

interface LineIndex {
  totalLines: number;
  /** checkpoints[k] = byte offset where line k * CHECKPOINT_LINES starts. */
  checkpoints: number[];
  /** Where recently returned pages ended (line → byte offset), so the next page starts there directly. */
  pageEnds: Map<number, number>;
  binary: boolean;
}

/**
 * Remembers where lines start in files recently read, keyed by the file's identity and version
 * (dev, ino, size, mtime, ctime), so paging through a big file costs one scan, not one per page.
 */
export class LineIndexCache {
  private readonly map = new Map<string, LineIndex>();

  async get(handle: FileHandle, st: Stats): Promise<LineIndex> {
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit); // most recently used last
      return hit;
    }
    const index = await buildIndex(handle, st.size);
    this.map.set(key, index);
    if (this.map.size > MAX_CACHED_INDEXES) this.map.delete(this.map.keys().next().value as string);
    return index;
  }
}

async function buildIndex(handle: FileHandle, size: number): Promise<LineIndex> {
  const buf = Buffer.allocUnsafe(Math.min(SCAN_BUFFER_BYTES, Math.max(size, 1)));
  const checkpoints = [0];
  let lines = 0;
  let pos = 0;
  let binary = false;
  let lastByte = 10;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    if (pos === 0) binary = buf.subarray(0, Math.min(bytesRead, BINARY_SNIFF_BYTES)).indexOf(0) !== -1;
    let i = buf.indexOf(10, 0);
    while (i !== -1 && i < bytesRead) {
      lines++;
      if (lines % CHECKPOINT_LINES === 0) checkpoints.push(pos + i + 1);
      i = buf.indexOf(10, i + 1);
    }
    lastByte = buf[bytesRead - 1] as number;
    pos += bytesRead;
  }
  if (pos > 0 && lastByte !== 10) lines++; // a last line without a final newline still counts
  return { totalLines: lines, checkpoints, binary, pageEnds: new Map() };
}

/**
 * Opens a regular file for reading; FIFOs, devices, sockets and folders are refused unopened.
 * With `guard`, the file actually opened must be inside its root (see checkOpenedInside).
 */
export async function openRegularFile(
  abs: string,
  rel: string,
  known?: Stats,
  guard?: PathGuard,
): Promise<{ handle: FileHandle; st: Stats }> {
  let pre: Stats;
  try {
    pre = known ?? (await lstat(abs));
  } catch {
    throw new TetherError('not_found', `No such file: ${rel}`);
  }
  if (!pre.isFile()) throw new TetherError('not_a_file', `Not a regular file: ${rel}`);
  const handle = await open(abs, SAFE_READ_FLAGS);
  try {
    // Right after the open, on a local file system (see PathGuard.localMetadata): from memory.
    const st = guard?.localMetadata ? fstatSync(handle.fd) : await handle.stat();
    if (!st.isFile() || st.ino !== pre.ino || st.dev !== pre.dev) {
      throw new TetherError('not_a_file', `Not a regular file: ${rel}`);
    }
    if (guard) await checkOpenedInside(guard, handle);
    return { handle, st };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * read_file. utf8: `offset` lines are skipped and up to `limit` (default DEFAULT_READ_LINES)
 * returned, each with its own line ending, so pages concatenate to the file; a page stops
 * early at MAX_READ_BYTES (a single longer line is cut there). base64: `offset` and `limit`
 * are bytes (limit default and cap MAX_READ_BYTES), for binary files.
 */
export async function readFileTool(
  args: ToolArgs<'read_file'>,
  guard: PathGuard,
  cache: LineIndexCache,
): Promise<ToolResult<'read_file'>> {
  const target = await guard.resolve(args.path);
  if (!target.exists) throw new TetherError('not_found', `No such file: ${target.rel}`);
  const { handle, st } = await openRegularFile(target.abs, target.rel, target.stats, guard);
  try {
    const offset = args.offset ?? 0;
    if (args.encoding === 'base64') {
      const want = Math.min(args.limit ?? MAX_READ_BYTES, MAX_READ_BYTES, Math.max(st.size - offset, 0));
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await handle.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return {
        path: target.rel,
        content: buf.subarray(0, got).toString('base64'),
        encoding: 'base64',
        offset,
        count: got,
        size: st.size,
        truncated: offset + got < st.size,
      };
    }
    const index = await cache.get(handle, st);
    if (index.binary)
      throw new TetherError('binary_file', `The file is binary; read it with encoding "base64": ${target.rel}`);
    const page = await readLines(handle, index, offset, args.limit ?? DEFAULT_READ_LINES);
    return {
      path: target.rel,
      content: page.content,
      encoding: 'utf8',
      totalLines: index.totalLines,
      offset,
      count: page.count,
      size: st.size,
      truncated: page.cut || offset + page.count < index.totalLines,
    };
  } finally {
    // Read-only: nothing of the answer depends on the close, so it is not waited for (one
    // thread-pool round trip less before the result goes out). The descriptor is closed all the same.
    handle.close().catch(() => undefined);
  }
}

async function readLines(
  handle: FileHandle,
  index: LineIndex,
  offset: number,
  limit: number,
): Promise<{ content: string; count: number; cut: boolean }> {
  if (offset >= index.totalLines) return { content: '', count: 0, cut: false };
  const cp = Math.min(Math.floor(offset / CHECKPOINT_LINES), index.checkpoints.length - 1);
  const known = index.pageEnds.get(offset);
  let lineNo = known !== undefined ? offset : cp * CHECKPOINT_LINES; // the line starting at `from`
  const from = known ?? (index.checkpoints[cp] as number);
  const want = Math.min(limit, index.totalLines - offset);
  let start = lineNo === offset ? from : -1;
  let end = -1;
  let count = 0;
  let cut = false;
  let done = false;
  // Called with the position just past each line's end; returns true when the page is complete.
  const onLineEnd = (lineEnd: number): boolean => {
    if (start === -1) {
      lineNo++;
      if (lineNo === offset) start = lineEnd;
      return false;
    }
    if (lineEnd - start > MAX_READ_BYTES) {
      cut = true;
      if (count === 0) {
        end = start + MAX_READ_BYTES; // a single line longer than a page is cut
        count = 1;
      }
      return true;
    }
    count++;
    end = lineEnd;
    return count === want;
  };
  // The page is assembled from what the scan read (no second read); the read buffers are
  // recycled between calls, since allocating half a megabyte per page made the GC the bottleneck.
  const kept: { pos: number; data: Buffer }[] = [];
  const taken: Buffer[] = [];
  let pos = from;
  while (!done) {
    const data = spareBuffers.pop() ?? Buffer.allocUnsafe(PAGE_READ_BYTES);
    taken.push(data);
    const { bytesRead } = await handle.read(data, 0, data.length, pos);
    if (bytesRead === 0) {
      if (start !== -1 && count < want && pos > (end === -1 ? start : end)) onLineEnd(pos); // last line, no newline
      break;
    }
    let i = data.indexOf(10, 0);
    while (i !== -1 && i < bytesRead) {
      if (onLineEnd(pos + i + 1)) {
        done = true;
        break;
      }
      i = data.indexOf(10, i + 1);
    }
    if (start !== -1) kept.push({ pos, data: data.subarray(0, bytesRead) });
    pos += bytesRead;
    // Stop reading once the page can no longer fit (the current line alone is too long).
    if (!done && start !== -1 && pos - (end === -1 ? start : end) > MAX_READ_BYTES) done = onLineEnd(pos) || true;
  }
  if (end === -1) end = start === -1 ? 0 : start;
  if (start === -1) start = end;
  if (!cut) {
    index.pageEnds.set(offset + count, end);
    if (index.pageEnds.size > MAX_REMEMBERED_PAGE_ENDS)
      index.pageEnds.delete(index.pageEnds.keys().next().value as number);
  }
  const parts: Buffer[] = [];
  for (const chunk of kept) {
    const from = Math.max(start, chunk.pos);
    const to = Math.min(end, chunk.pos + chunk.data.length);
    if (to > from) parts.push(chunk.data.subarray(from - chunk.pos, to - chunk.pos));
  }
  let bytes: Buffer = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, end - start);
  if (cut && bytes.length === MAX_READ_BYTES) bytes = trimPartialUtf8(bytes);
  const content = bytes.toString('utf8'); // copies: the read buffers are free again after this
  for (const b of taken) if (spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(b);
  return { content, count, cut };
}

/** Drops a UTF-8 sequence cut in half at the end of `buf`. */
function trimPartialUtf8(buf: Buffer): Buffer {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && ((buf[i] as number) & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf;
  const lead = buf[i] as number;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? buf.subarray(0, i) : buf;
}
