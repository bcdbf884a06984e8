import { cutLine, type SearchMatch } from './search-query.js';

/**
 * Turns one file's lines into matches with before/after context, the same way for both
 * engines: every line within `contextLines` of a match is context, whether or not it matches
 * itself (so two adjacent matches each list the other as context).
 */
export class MatchCollector {
  readonly matches: SearchMatch[] = [];
  private recent: { no: number; text: string }[] = [];
  private pending: SearchMatch[] = [];
  private lastNo = 0;

  /** `budget`: matches to collect at most from this file (the caller's remaining need). */
  constructor(
    private readonly path: string,
    private readonly contextLines: number,
    private readonly budget: number,
  ) {}

  /** True once the budget is spent and every kept match has its after-context. */
  get done(): boolean {
    return this.matches.length >= this.budget && this.pending.length === 0;
  }

  /** True while matches are still wanted. */
  get wantsMatches(): boolean {
    return this.matches.length < this.budget;
  }

  /** True while some kept match still waits for after-context lines. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** One line (1-based `no`, text without its `\n`); `column` is set when the line matches. */
  line(no: number, text: string, column: number | undefined): void {
    const n = this.contextLines;
    if (no !== this.lastNo + 1) {
      // Not contiguous (ripgrep skipped lines out of context): context cannot span the gap.
      this.recent = [];
      this.pending = [];
    }
    this.lastNo = no;
    if (n > 0 && this.pending.length > 0) {
      const cut = cutLine(text);
      for (const m of this.pending) (m.after as string[]).push(cut);
      this.pending = this.pending.filter((m) => (m.after as string[]).length < n);
    }
    if (column !== undefined && this.wantsMatches) {
      const match: SearchMatch = { path: this.path, line: no, column, text: cutLine(text) };
      if (n > 0) {
        match.before = this.recent.map((r) => cutLine(r.text));
        match.after = [];
        this.pending.push(match);
      }
      this.matches.push(match);
    }
    if (n > 0) {
      this.recent.push({ no, text });
      if (this.recent.length > n) this.recent.shift();
    }
  }

  /**
   * Skips `count` lines that hold no match (the JS engine's fast path over a block with no
   * hit); `tail` are the last lines of the block, for the next match's before-context.
   */
  skip(count: number, tail: string[]): void {
    if (count === 0) return;
    this.lastNo += count;
    const n = this.contextLines;
    if (n > 0) {
      const kept = tail.slice(-n);
      const first = this.lastNo - kept.length + 1;
      this.recent = kept.map((text, i) => ({ no: first + i, text }));
    }
  }
}
