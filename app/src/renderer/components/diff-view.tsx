import { printable } from '@tether/shared';
/** Lines shown before the rest is folded: a preview, not a review tool. */
const MAX_DIFF_LINES = 400;

/** A unified diff with added lines green and removed lines red. */
export function DiffView({ diff }: { diff: string }) {
  // The `Index:` and `====` header lines of jsdiff's patches say nothing a person needs.
  const lines = diff
    .replace(/\n$/, '')
    .split('\n')
    .filter((line) => !line.startsWith('Index: ') && !/^=+$/.test(line));
  const shown = lines.slice(0, MAX_DIFF_LINES);
  if (diff.trim() === '') return <p className="small muted">No changes to the content.</p>;
  return (
    <pre className="diff" aria-label="Changes" tabIndex={0}>
      {shown.map((line, i) => (
        <span key={i} className={`diff-line ${classOf(line)}`}>
          {printable(line) || ' '}
          {'\n'}
        </span>
      ))}
      {lines.length > shown.length && (
        <span className="diff-line meta">… {lines.length - shown.length} more lines</span>
      )}
    </pre>
  );
}

function classOf(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('Index:') || line.startsWith('===='))
    return 'meta';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  if (line.startsWith('\\')) return 'meta';
  return '';
}
