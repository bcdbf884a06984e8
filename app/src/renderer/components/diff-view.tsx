import { memo, useMemo, useRef, useState } from 'react';
import { Revealed } from './revealed.js';

/**
 * Lines shown before the rest is folded behind "Show all": enough for most changes, and a
 * long diff stays quick to open; the counts above it always cover the whole diff.
 */
const MAX_DIFF_LINES = 400;

/**
 * A unified diff with added lines green and removed lines red, headed by how many lines it
 * adds and removes in all (so a change hidden past the fold is never a surprise). Nothing in a
 * line is hidden: long lines wrap, and invisible characters, tabs, trailing whitespace and long
 * runs of spaces are marked (Revealed). A change of whitespace alone says so.
 */
// Memoized: the dialog around it re-renders four times a second for its countdown, and a
// diff shown whole can be thousands of lines.
export const DiffView = memo(function DiffView({ diff }: { diff: string }) {
  const [showAll, setShowAll] = useState(false);
  const preRef = useRef<HTMLPreElement>(null);
  const { lines, classes, whitespaceOnly } = useMemo(() => {
    // The `Index:` and `====` header lines of jsdiff's patches say nothing a person needs.
    const lines = diff
      .replace(/\n$/, '')
      .split('\n')
      .filter((line) => !line.startsWith('Index: ') && !/^=+$/.test(line));
    const classes = classify(lines);
    return { lines, classes, whitespaceOnly: onlyWhitespaceChanges(lines, classes) };
  }, [diff]);
  if (diff.trim() === '') return <p className="small muted">No changes to the content.</p>;
  const shown = showAll ? lines : lines.slice(0, MAX_DIFF_LINES);
  const hidden = classes.slice(shown.length);
  return (
    <>
      <p className="small diff-stat">
        <span className="add-count">+{count(classes, 'add')}</span>{' '}
        <span className="del-count">−{count(classes, 'del')}</span> <span className="muted">lines</span>
      </p>
      {whitespaceOnly && (
        <p className="note small" role="note">
          Only whitespace changes: the marked spaces (·, ␣), tabs (→) and line breaks are all that differ.
        </p>
      )}
      <pre ref={preRef} className="diff" aria-label="Changes" tabIndex={0}>
        {shown.map((line, i) => {
          const marker = classes[i] === 'add' || classes[i] === 'del' || classes[i] === '' ? line.slice(0, 1) : '';
          return (
            <span key={i} className={`diff-line ${classes[i]}`}>
              {/* The +/−/space marker apart, so the line's own indentation reads as indentation. */}
              {marker}
              {line.length > marker.length ? <Revealed text={line.slice(marker.length)} /> : marker ? '' : ' '}
              {'\n'}
            </span>
          );
        })}
      </pre>
      {hidden.length > 0 && (
        <p className="small diff-more">
          <span>
            {hidden.length} more lines not shown (<span className="add-count">+{count(hidden, 'add')}</span>{' '}
            <span className="del-count">−{count(hidden, 'del')}</span>)
          </span>
          <button
            type="button"
            className="secondary small-btn"
            onClick={() => {
              setShowAll(true);
              // The button goes away: keep focus inside the dialog, whose keys work only there.
              preRef.current?.focus();
            }}
          >
            Show all
          </button>
        </p>
      )}
    </>
  );
});

/** True when the diff changes lines and, whitespace aside, removes exactly what it adds. */
export function onlyWhitespaceChanges(lines: string[], classes: string[]): boolean {
  const removed: string[] = [];
  const added: string[] = [];
  lines.forEach((line, i) => {
    if (classes[i] === 'del') removed.push(line.slice(1));
    else if (classes[i] === 'add') added.push(line.slice(1));
  });
  if (removed.length + added.length === 0) return false;
  const squash = (l: string[]) => l.join('').replace(/\s+/g, '');
  return squash(removed) === squash(added);
}

function count(classes: string[], which: 'add' | 'del'): number {
  return classes.reduce((n, c) => (c === which ? n + 1 : n), 0);
}

/**
 * The class of each line. `---` / `+++` are file headers only before the first hunk: inside
 * one, a removed line that itself starts with `--` (a SQL comment, say) reads `---` too.
 */
export function classify(lines: string[]): string[] {
  let inHunk = false;
  return lines.map((line) => {
    if (line.startsWith('@@')) {
      inHunk = true;
      return 'hunk';
    }
    if (!inHunk || line.startsWith('\\')) return 'meta';
    if (line.startsWith('+')) return 'add';
    if (line.startsWith('-')) return 'del';
    return '';
  });
}
