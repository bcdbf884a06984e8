import { TetherError } from '@tether/shared';

/**
 * Alternatives one pattern may expand to through braces: `{a,b}` groups multiply, and every
 * alternative is matched against every path, so an unbounded count is unbounded work.
 */
export const MAX_GLOB_ALTERNATIVES = 1000;

/** Characters of all alternatives together: per-path work is at most about this times the path's length. */
export const MAX_GLOB_EXPANDED_CHARS = 20_000;

/**
 * Matching steps (one character compared, or one segment tried) one path may cost. Ordinary
 * patterns need a few per character of the path; only a pattern built to be slow comes near,
 * and it is refused with `invalid_args` instead of holding the host's event loop.
 */
export const MAX_GLOB_STEPS_PER_PATH = 2_000_000;

/**
 * Steps after which a caller walking many paths should let the event loop run (shouldYield):
 * a few milliseconds of matching, so heartbeats and other calls are never held for long.
 */
export const GLOB_STEPS_PER_YIELD = 1_000_000;

/** One code point of a segment pattern, a `?`, a `*`, or a `[...]` class. */
type Token =
  | { kind: 'char'; cp: number }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'class'; negated: boolean; ranges: number[] };

/** A path segment of a pattern: `**` alone, a plain name, or tokens. */
type Segment = { kind: 'globstar' } | { kind: 'literal'; name: string } | { kind: 'wild'; tokens: Token[] };

/** A compiled glob (see compileGlob). */
export interface GlobMatcher {
  /** True when the posix relative path (no leading `./`) matches. */
  matches(rel: string): boolean;
  /** The literal folder every match lies under (`''`: none), a place to start a walk. */
  readonly base: string;
  /** Most path segments a match can have (Infinity with `**` or a negation). */
  readonly maxSegments: number;
  /** True when no relative path can match (every alternative absolute or climbing with `..`). */
  readonly never: boolean;
  /** Steps spent by the last `matches` call (a bound tests can assert on instead of time). */
  readonly lastSteps: number;
  /** True once every GLOB_STEPS_PER_YIELD steps: the caller should await a macrotask then. */
  shouldYield(): boolean;
}

/** How compileGlob reads a pattern. */
export interface GlobOptions {
  /** The argument named in an `invalid_args` error. */
  field?: string;
  /** Match the last segment of a path only (ripgrep's rule for a glob without `/`). */
  basename?: boolean;
  /** A leading `!` negates the whole pattern (the glob tool); otherwise it is a literal `!`. */
  negation?: boolean;
}

/**
 * Compiles a glob into a matcher whose work is bounded: linear in the path per wildcard
 * segment (no backtracking regex), `**` handled by dynamic programming over segments.
 * Syntax: `*` and `?` (never across `/`), `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\` escapes,
 * `{a,b}` (nested; at most MAX_GLOB_ALTERNATIVES), `**` as a whole segment (any number of
 * segments, none included). Wildcards match names starting with a dot too, as ripgrep's
 * globs and the glob tool always did. Extglobs (`+(a|b)`) and `{1..3}` ranges are literal
 * text, as in ripgrep. Case-sensitive. Throws `invalid_args` past the limits above.
 */
export function compileGlob(pattern: string, options: GlobOptions = {}): GlobMatcher {
  const field = options.field ?? 'pattern';
  let body = pattern;
  const negated = options.negation === true && body.startsWith('!');
  if (negated) body = body.slice(1);
  const alternatives = expandBraces(body, field);
  let chars = 0;
  for (const a of alternatives) chars += a.length;
  if (chars > MAX_GLOB_EXPANDED_CHARS) {
    throw tooBig(field, `its braces expand to more than ${MAX_GLOB_EXPANDED_CHARS} characters`);
  }
  const compiled = [...new Set(alternatives)].map((a) => splitSegments(stripDotSlash(a)).map(compileSegment));
  // An absolute alternative or one climbing out can never match a relative path: drop it.
  const usable = compiled.filter((segs) => !segs.some((s, i) => (i === 0 && isEmpty(s)) || isLiteral(s, '..')));
  return new CompiledGlob(usable, negated, options.basename === true, field);
}

class CompiledGlob implements GlobMatcher {
  readonly base: string;
  readonly maxSegments: number;
  readonly never: boolean;
  lastSteps = 0;
  private stepsSinceYield = 0;

  constructor(
    private readonly alternatives: Segment[][],
    private readonly negated: boolean,
    private readonly basename: boolean,
    private readonly field: string,
  ) {
    this.never = !negated && alternatives.length === 0;
    this.base = negated || basename ? '' : commonLiteralBase(alternatives);
    this.maxSegments =
      negated || basename || alternatives.some((segs) => segs.some((s) => s.kind === 'globstar'))
        ? Number.POSITIVE_INFINITY
        : Math.max(0, ...alternatives.map((segs) => segs.length));
  }

  matches(rel: string): boolean {
    const parts = rel.split('/');
    const path = this.basename ? [parts[parts.length - 1] as string] : parts;
    const budget = { steps: 0, field: this.field };
    let hit = false;
    try {
      for (const segs of this.alternatives) {
        if (matchSegments(segs, path, budget)) {
          hit = true;
          break;
        }
      }
    } finally {
      this.lastSteps = budget.steps;
      this.stepsSinceYield += budget.steps;
    }
    return hit !== this.negated;
  }

  shouldYield(): boolean {
    if (this.stepsSinceYield < GLOB_STEPS_PER_YIELD) return false;
    this.stepsSinceYield = 0;
    return true;
  }
}

interface Budget {
  steps: number;
  field: string;
}

function spend(budget: Budget, n: number): void {
  budget.steps += n;
  if (budget.steps > MAX_GLOB_STEPS_PER_PATH) {
    throw tooBig(budget.field, 'it is too costly to match (too many wildcards)');
  }
}

function tooBig(field: string, why: string): TetherError {
  return new TetherError('invalid_args', `The glob pattern is refused: ${why}.`, { field });
}

/**
 * Segment-level matching: the set of pattern positions reachable after each path segment.
 * Each (pattern segment, path segment) pair is tried at most once, so the work is at most the
 * product of the two lengths: no exponential recursion on `**`.
 */
function matchSegments(segs: Segment[], path: string[], budget: Budget): boolean {
  const m = segs.length;
  let reach = new Uint8Array(m + 1);
  const close = (r: Uint8Array): void => {
    for (let i = 0; i < m; i++) if (r[i] === 1 && (segs[i] as Segment).kind === 'globstar') r[i + 1] = 1;
  };
  reach[0] = 1;
  close(reach);
  for (const name of path) {
    const next = new Uint8Array(m + 1);
    let any = false;
    for (let i = 0; i < m; i++) {
      if (reach[i] !== 1) continue;
      spend(budget, 1);
      const seg = segs[i] as Segment;
      if (seg.kind === 'globstar') {
        next[i] = 1;
        any = true;
      } else if (matchSegment(seg, name, budget)) {
        next[i + 1] = 1;
        any = true;
      }
    }
    if (!any) return false;
    close(next);
    reach = next;
  }
  return reach[m] === 1;
}

/**
 * One segment against one name: the classic two-pointer wildcard match. Every token but `*`
 * takes exactly one code point, so on a mismatch only the last `*` needs to take one more:
 * at most (name length × pattern length) steps, never exponential.
 */
function matchSegment(seg: Segment, name: string, budget: Budget): boolean {
  if (seg.kind === 'literal') {
    spend(budget, 1);
    return seg.name === name;
  }
  if (seg.kind === 'globstar') return true;
  const tokens = seg.tokens;
  let ti = 0;
  let si = 0;
  let starTi = -1;
  let starSi = 0;
  let steps = 0;
  while (si < name.length) {
    if (++steps === 4096) {
      spend(budget, steps);
      steps = 0;
    }
    const t = tokens[ti];
    if (t !== undefined && t.kind === 'star') {
      starTi = ti++;
      starSi = si;
      continue;
    }
    if (t !== undefined) {
      const cp = name.codePointAt(si) as number;
      if (takes(t, cp)) {
        ti++;
        si += cp > 0xffff ? 2 : 1;
        continue;
      }
    }
    if (starTi < 0) {
      spend(budget, steps);
      return false;
    }
    ti = starTi + 1;
    starSi += (name.codePointAt(starSi) as number) > 0xffff ? 2 : 1;
    si = starSi;
  }
  spend(budget, steps);
  while (tokens[ti]?.kind === 'star') ti++;
  return ti === tokens.length;
}

function takes(t: Exclude<Token, { kind: 'star' }>, cp: number): boolean {
  if (t.kind === 'char') return t.cp === cp;
  if (t.kind === 'any') return true;
  let inside = false;
  for (let i = 0; i < t.ranges.length; i += 2) {
    if (cp >= (t.ranges[i] as number) && cp <= (t.ranges[i + 1] as number)) {
      inside = true;
      break;
    }
  }
  return inside !== t.negated;
}

/** Index of the `]` closing a class opened at `open`, or -1 when it is not a class (then `[` is literal). */
function classEnd(p: string, open: number): number {
  let j = open + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++; // a `]` first is a member
  for (; j < p.length; j++) {
    const c = p[j];
    if (c === '\\') j++;
    else if (c === '/') return -1;
    else if (c === ']') return j;
  }
  return -1;
}

/** The alternatives and end of a `{...}` group at `open`, or undefined when it is literal text (no `}` or no top-level `,`). */
function braceGroup(p: string, open: number): { alternatives: string[]; end: number } | undefined {
  let depth = 0;
  let from = open + 1;
  const parts: string[] = [];
  for (let j = open + 1; j < p.length; j++) {
    const c = p[j];
    if (c === '\\') j++;
    else if (c === '[') {
      const end = classEnd(p, j);
      if (end !== -1) j = end;
    } else if (c === '{') depth++;
    else if (c === ',' && depth === 0) {
      parts.push(p.slice(from, j));
      from = j + 1;
    } else if (c === '}') {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (parts.length === 0) return undefined;
      parts.push(p.slice(from, j));
      return { alternatives: parts, end: j };
    }
  }
  return undefined;
}

/** Brace expansion, left to right, refusing more than MAX_GLOB_ALTERNATIVES results at every step. */
function expandBraces(p: string, field: string): string[] {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      const end = classEnd(p, i);
      if (end !== -1) i = end;
      continue;
    }
    if (c !== '{') continue;
    const group = braceGroup(p, i);
    if (!group) continue;
    const middles: string[] = [];
    for (const alt of group.alternatives) {
      for (const x of expandBraces(alt, field)) middles.push(x);
      if (middles.length > MAX_GLOB_ALTERNATIVES) throw tooMany(field);
    }
    const tails = expandBraces(p.slice(group.end + 1), field);
    if (middles.length * tails.length > MAX_GLOB_ALTERNATIVES) throw tooMany(field);
    const head = p.slice(0, i);
    const out: string[] = [];
    for (const m of middles) for (const t of tails) out.push(head + m + t);
    return out;
  }
  return [p];
}

function tooMany(field: string): TetherError {
  return tooBig(field, `its braces expand to more than ${MAX_GLOB_ALTERNATIVES} alternatives`);
}

function stripDotSlash(p: string): string {
  let s = p;
  while (s.startsWith('./')) s = s.slice(2);
  return s;
}

/** Splits at each `/` outside an escape (a class never holds `/`: see classEnd). */
function splitSegments(p: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === '/') {
      out.push(p.slice(from, i));
      from = i + 1;
    }
  }
  out.push(p.slice(from));
  return out;
}

function compileSegment(s: string): Segment {
  if (s === '**') return { kind: 'globstar' };
  const tokens: Token[] = [];
  for (let i = 0; i < s.length;) {
    const c = s[i] as string;
    if (c === '*') {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' }); // `**` inside a name is `*`
      i++;
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (c === '[' && classEnd(s, i) !== -1) {
      const end = classEnd(s, i);
      tokens.push(compileClass(s.slice(i + 1, end)));
      i = end + 1;
    } else {
      if (c === '\\' && i + 1 < s.length) i++;
      const cp = s.codePointAt(i) as number;
      tokens.push({ kind: 'char', cp });
      i += cp > 0xffff ? 2 : 1;
    }
  }
  if (tokens.every((t) => t.kind === 'char')) {
    return { kind: 'literal', name: String.fromCodePoint(...tokens.map((t) => (t as { cp: number }).cp)) };
  }
  return { kind: 'wild', tokens };
}

/** `body` is what is between `[` and `]`: members, `a-z` ranges, a leading `!`/`^` negates. */
function compileClass(body: string): Token {
  let i = 0;
  const negated = body[0] === '!' || body[0] === '^';
  if (negated) i++;
  const cps: number[] = [];
  for (; i < body.length;) {
    if (body[i] === '\\' && i + 1 < body.length) i++;
    const cp = body.codePointAt(i) as number;
    i += cp > 0xffff ? 2 : 1;
    cps.push(cp);
    // A `-` between two members makes a range; first or last it is a member itself.
    if (body[i] === '-' && i + 1 < body.length) {
      i++;
      if (body[i] === '\\' && i + 1 < body.length) i++;
      const hi = body.codePointAt(i) as number;
      i += hi > 0xffff ? 2 : 1;
      cps.push(hi);
    } else {
      cps.push(cp);
    }
  }
  return { kind: 'class', negated, ranges: cps };
}

function isEmpty(s: Segment): boolean {
  return s.kind === 'literal' && s.name === '';
}

function isLiteral(s: Segment, name: string): boolean {
  return s.kind === 'literal' && s.name === name;
}

/** The literal leading folders all alternatives share (never the last segment: that names the file). */
function commonLiteralBase(alternatives: Segment[][]): string {
  let common: string[] | undefined;
  for (const segs of alternatives) {
    const lits: string[] = [];
    for (const s of segs.slice(0, -1)) {
      if (s.kind !== 'literal' || s.name === '' || s.name === '.') break;
      lits.push(s.name);
    }
    if (common === undefined) common = lits;
    else {
      let n = 0;
      while (n < common.length && n < lits.length && common[n] === lits[n]) n++;
      common = common.slice(0, n);
    }
  }
  return (common ?? []).join('/');
}
