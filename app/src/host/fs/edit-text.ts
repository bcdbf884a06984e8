import { MAX_WRITE_BYTES, printable, TetherError, type ToolArgs } from '@tether/shared';
import { createTwoFilesPatch } from 'diff';

type Edit = ToolArgs<'edit_file'>['edits'][number];

/** Lines compared when looking for the nearest match of a missing oldText (a big file costs no more). */
const MAX_NEAREST_SCAN_LINES = 50_000;

/** Characters of the nearest line quoted back in a `no_match` error. */
const NEAREST_QUOTE_CHARS = 200;

/** Occurrences of `needle` in `text`, not overlapping, left to right. */
export function countOccurrences(text: string, needle: string): number {
  let count = 0;
  let pos = text.indexOf(needle);
  while (pos !== -1) {
    count++;
    pos = text.indexOf(needle, pos + needle.length);
  }
  return count;
}

/**
 * Applies `edits` in order to `text`, all in memory. Each oldText must occur exactly once,
 * or at least once with replaceAll: `no_match` (naming the most similar line) or
 * `ambiguous_match` (with the count) otherwise. A file with CRLF line ends also accepts
 * edits written with LF. Returns the new text and how many replacements were made.
 */
export function applyEdits(text: string, edits: readonly Edit[]): { text: string; replacements: number } {
  let current = text;
  let replacements = 0;
  edits.forEach((edit, index) => {
    let { oldText, newText } = edit;
    let count = countOccurrences(current, oldText);
    if (count === 0 && current.includes('\r\n') && oldText.includes('\n') && !oldText.includes('\r')) {
      const crlfOld = oldText.replace(/\n/g, '\r\n');
      const crlfCount = countOccurrences(current, crlfOld);
      if (crlfCount > 0) {
        oldText = crlfOld;
        newText = newText.replace(/\r?\n/g, '\r\n');
        count = crlfCount;
      }
    }
    if (count === 0) {
      const nearest = nearestLine(current, oldText);
      const where = nearest ? ` The most similar text is on line ${nearest.line}.` : '';
      throw new TetherError('no_match', `Edit ${index + 1}: the text to replace was not found.${where}`, {
        edit: index,
        ...(nearest ? { nearestLine: nearest.line, nearestText: nearest.text } : {}),
      });
    }
    if (count > 1 && !edit.replaceAll) {
      throw new TetherError(
        'ambiguous_match',
        `Edit ${index + 1}: the text to replace occurs ${count} times; add context to make it unique or set replaceAll.`,
        { edit: index, count },
      );
    }
    // Refused before it is built: 4 MB of `a` with every `a` replaced by 4 KB would be a string
    // of gigabytes (the host runs out of memory or throws), long before the final size check.
    const grown = current.length + (edit.replaceAll ? count : 1) * (newText.length - oldText.length);
    if (grown > MAX_WRITE_BYTES) {
      throw new TetherError('too_large', `The edited file would be larger than ${MAX_WRITE_BYTES} bytes.`, {
        edit: index,
      });
    }
    if (edit.replaceAll) {
      current = current.split(oldText).join(newText);
    } else {
      const at = current.indexOf(oldText);
      current = current.slice(0, at) + newText + current.slice(at + oldText.length);
    }
    replacements += count;
  });
  return { text: current, replacements };
}

/**
 * The file line most similar to oldText's first non-blank line (Dice coefficient of character
 * bigrams, whitespace-insensitive): where the caller probably meant.
 */
export function nearestLine(text: string, oldText: string): { line: number; text: string } | undefined {
  const probe = oldText
    .split('\n')
    .find((l) => l.trim() !== '')
    ?.trim();
  if (probe === undefined) return undefined;
  const want = bigrams(probe);
  const wantTotal = total(want);
  let best: { line: number; text: string; score: number } | undefined;
  const lines = text.split('\n', MAX_NEAREST_SCAN_LINES);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const score = dice(want, wantTotal, bigrams(line));
    if (score > 0 && (!best || score > best.score)) best = { line: i + 1, text: raw.replace(/\r$/, ''), score };
  });
  if (!best) return undefined;
  return { line: best.line, text: best.text.slice(0, NEAREST_QUOTE_CHARS) };
}

function bigrams(s: string): Map<string, number> {
  const compact = s.replace(/\s+/g, ' ').toLowerCase();
  const map = new Map<string, number>();
  for (let i = 0; i < compact.length - 1; i++) {
    const g = compact.slice(i, i + 2);
    map.set(g, (map.get(g) ?? 0) + 1);
  }
  if (compact.length === 1) map.set(compact, 1);
  return map;
}

function total(m: Map<string, number>): number {
  let sum = 0;
  for (const n of m.values()) sum += n;
  return sum;
}

/**
 * Dice coefficient of two bigram counts. Work is in the size of the smaller one: the probe may
 * be megabytes of distinct bigrams (an oldText of one long line), compared with every line of
 * the file; iterating the probe for each line held the event loop for minutes.
 */
function dice(a: Map<string, number>, aTotal: number, b: Map<string, number>): number {
  const sum = aTotal + total(b);
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let common = 0;
  for (const [g, n] of small) common += Math.min(n, large.get(g) ?? 0);
  return sum === 0 ? 0 : (2 * common) / sum;
}

/**
 * Edit distance (lines added plus removed) the minimal diff is searched to, at most: Myers'
 * algorithm costs (lines × distance), so two unrelated 4 MB files (hundreds of thousands of
 * lines) held the host's event loop for minutes, heartbeats included, while a write was only
 * being previewed for the person. Beyond it the diff shows the whole file replaced.
 */
export const MAX_DIFF_EDIT_LENGTH = 2_000;

/** Time the minimal diff may take at most (a backstop for long files with many changes), then the same fallback. */
export const MAX_DIFF_MS = 500;

/** A unified diff of one file's change, named by its workspace-relative path (empty when nothing changed). */
export function unifiedDiff(rel: string, before: string, after: string, isNew = false): string {
  if (before === after && !isNew) return '';
  // A name may hold line breaks (Linux allows them): written raw into the headers it would add
  // lines of its own, e.g. a fake hunk in the person's confirmation. Control characters are escaped.
  const name = printable(rel);
  const oldName = isNew ? '/dev/null' : `a/${name}`;
  const newName = `b/${name}`;
  const patch = createTwoFilesPatch(oldName, newName, before, after, undefined, undefined, {
    context: 3,
    maxEditLength: MAX_DIFF_EDIT_LENGTH,
    timeout: MAX_DIFF_MS,
  });
  if (patch === undefined) return wholeFileDiff(oldName, newName, before, after);
  // The library starts with a `====` separator line that `patch` and `git apply` do not need.
  return patch.replace(/^=+\n/, '');
}

/** A valid, not minimal, unified diff: every old line removed, every new line added (linear work). */
function wholeFileDiff(oldName: string, newName: string, before: string, after: string): string {
  const side = (text: string, sign: '-' | '+'): { count: number; body: string } => {
    if (text === '') return { count: 0, body: '' };
    const lines = text.split('\n');
    const endsWithNewline = lines[lines.length - 1] === '';
    if (endsWithNewline) lines.pop();
    const body = lines.map((l) => `${sign}${l}\n`).join('') + (endsWithNewline ? '' : '\\ No newline at end of file\n');
    return { count: lines.length, body };
  };
  const range = (count: number): string => (count === 0 ? '0,0' : `1,${count}`);
  const a = side(before, '-');
  const b = side(after, '+');
  return `--- ${oldName}\n+++ ${newName}\n@@ -${range(a.count)} +${range(b.count)} @@\n${a.body}${b.body}`;
}
