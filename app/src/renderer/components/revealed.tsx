import { memo } from 'react';
import { revealText } from '@tether/shared';

/**
 * Text a person must judge, with nothing hidden: control, bidi and zero-width characters as
 * escapes, tabs as →, trailing whitespace as ·, a long run of spaces inside a line as ␣×N,
 * each marked (and titled with what it is) so it cannot pass for ordinary text.
 */
export const Revealed = memo(function Revealed({ text }: { text: string }) {
  const parts = revealText(text);
  if (parts.length === 1 && parts[0]!.kind === 'text') return <>{parts[0]!.text}</>;
  return (
    <>
      {parts.map((p, i) =>
        p.kind === 'text' ? (
          p.text
        ) : (
          <mark key={i} className="hidden-char" title={p.title}>
            {p.text}
          </mark>
        ),
      )}
    </>
  );
});

/** Whether text holds anything Revealed would mark. */
export function hasHidden(text: string): boolean {
  return revealText(text).some((p) => p.kind === 'mark');
}
