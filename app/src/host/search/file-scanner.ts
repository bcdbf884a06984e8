import type { MatchCollector } from './match-collector.js';
import { codePoints, type Matchers } from './search-query.js';

/** A line longer than this is split rather than buffered further (a 64 MiB line is not text). */
const MAX_CARRY_BYTES = 64 * 1024 * 1024;

/**
 * Feeds one file's bytes, chunk by chunk, to a MatchCollector: whole lines only (a partial last
 * line is carried to the next chunk), stopping at a NUL byte as ripgrep does (a NUL in the
 * first chunk means a binary file: nothing is reported). No I/O here, so the thread-pool
 * engine and the worker engine share it.
 */
export class FileScanner {
  private carry: Buffer | undefined;
  private lineNo = 0;

  constructor(
    readonly collector: MatchCollector,
    private readonly m: Matchers,
    private readonly contextLines: number,
  ) {}

  /** Feeds the next chunk (`eof`: it is the last). Returns true when no more data is needed. */
  feed(chunk: Buffer, eof: boolean): boolean {
    if (chunk.indexOf(0) !== -1) return true; // binary: ripgrep stops at the first NUL it sees
    let data = chunk;
    if (this.carry) {
      data = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    if (data.length === 0) return true;
    let end = data.length;
    if (!eof) {
      const nl = data.lastIndexOf(10);
      if (nl === -1 && data.length < MAX_CARRY_BYTES) {
        this.carry = Buffer.from(data);
        return false;
      }
      if (nl !== -1) {
        end = nl + 1;
        this.carry = end < data.length ? Buffer.from(data.subarray(end)) : undefined;
      }
    }
    this.lineNo = processBlock(data.toString('utf8', 0, end), this.lineNo, this.collector, this.m, this.contextLines);
    return this.collector.done || eof;
  }
}

/** Feeds a block of whole lines to the collector; returns the last line number used. */
export function processBlock(text: string, lineNo: number, collector: MatchCollector, m: Matchers, n: number): number {
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
