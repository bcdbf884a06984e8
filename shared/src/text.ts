/**
 * Characters a person cannot see or that change how the text around them reads: C0/C1 controls
 * (tab excepted), the Unicode bidi controls (LRM/RLM/ALM, embeddings, overrides, isolates),
 * zero-width and invisible format characters (ZWSP/ZWNJ/ZWJ, word joiner and the invisible
 * operators, BOM, soft hyphen, Mongolian vowel separator, combining grapheme joiner, Hangul
 * fillers) and the line and paragraph separators.
 */
const HIDDEN =
  '\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u206a-\\u206f\\u2066-\\u2069\\u3164\\ufeff\\uffa0';
// The class lists lone combining and joiner characters on purpose: each is to be found alone.
// eslint-disable-next-line no-misleading-character-class
const CONTROL_CHARS = new RegExp(`[${HIDDEN}\\n]`, 'g');
// eslint-disable-next-line no-misleading-character-class
const CONTROL_CHARS_BUT_NEWLINE = new RegExp(`[${HIDDEN}]`, 'g');
/** Spaces that look like an ordinary space (or like nothing) but are other characters. */
const ODD_SPACES = '\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000';

/** The visible escape of one character: `\xNN` up to U+00FF, `\uNNNN` above. */
export function escapeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Makes text that came from the relay or a file safe to show a person who must judge it:
 * control characters (ANSI escapes could redraw a terminal prompt, hide a line or fake an
 * answer), bidi controls (a right-to-left override shows `rm -rf ~` as something else, the
 * "Trojan Source" trick) and zero-width characters are shown as visible `\xNN` / `\uNNNN`
 * escapes instead. `keepNewlines` leaves `\n` alone, for multi-line commands shown in a block.
 */
export function printable(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(options.keepNewlines ? CONTROL_CHARS_BUT_NEWLINE : CONTROL_CHARS, escapeChar);
}

/** One piece of text as the confirmation dialog shows it: as is, or a visible mark for something invisible. */
export type RevealedPart =
  | { kind: 'text'; text: string }
  /** `text` is what is shown in place of the hidden characters; `title` says what they are. */
  | { kind: 'mark'; text: string; title: string };

/** Runs of this many spaces or more inside a line are shown as one counted mark (a tail pushed out of sight). */
export const SPACE_RUN_MARK_MIN = 8;

const REVEAL = new RegExp(
  // eslint-disable-next-line no-misleading-character-class -- lone combining characters, as above
  `([${HIDDEN}])|([${ODD_SPACES}])|(\\t)|( {${SPACE_RUN_MARK_MIN},})(?=[^ \\n])|([ \\t${ODD_SPACES}]+)(?=\\n|$)`,
  'g',
);

/**
 * Splits text into what is shown as is and what is marked, so what a person reads is all that
 * is there: hidden characters as escapes, odd spaces as escapes, tabs as `→`, a long run of
 * spaces inside a line as `␣×N`, and trailing whitespace as `·` (spaces) and `→` (tabs).
 * Newlines stay (for blocks); leading indentation stays as it is.
 */
export function revealText(text: string): RevealedPart[] {
  const parts: RevealedPart[] = [];
  let last = 0;
  const push = (part: RevealedPart): void => {
    const prev = parts[parts.length - 1];
    if (part.kind === 'text' && prev?.kind === 'text') prev.text += part.text;
    else parts.push(part);
  };
  for (const m of text.matchAll(REVEAL)) {
    const at = m.index;
    if (at > last) push({ kind: 'text', text: text.slice(last, at) });
    last = at + m[0].length;
    const [, hidden, odd, tab, run, trailing] = m;
    if (hidden !== undefined)
      push({ kind: 'mark', text: escapeChar(hidden), title: `invisible character U+${hex(hidden)}` });
    else if (odd !== undefined) push({ kind: 'mark', text: escapeChar(odd), title: `unusual space U+${hex(odd)}` });
    else if (tab !== undefined) push({ kind: 'mark', text: '→\t', title: 'tab' });
    else if (run !== undefined) {
      // Indentation at the start of a line reads as indentation; anywhere else a long run hides what follows.
      const lineStart = at === 0 || text[at - 1] === '\n';
      if (lineStart) push({ kind: 'text', text: run });
      else push({ kind: 'mark', text: `␣×${run.length}`, title: `${run.length} spaces` });
    } else if (trailing !== undefined) {
      const shown = [...trailing].map((c) => (c === ' ' ? '·' : c === '\t' ? '→' : escapeChar(c))).join('');
      push({ kind: 'mark', text: shown, title: `trailing whitespace (${trailing.length} characters)` });
    }
  }
  if (last < text.length) push({ kind: 'text', text: text.slice(last) });
  return parts;
}

function hex(c: string): string {
  return (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
}

/** Longest caller label shown: the relay passes on what the platform says, up to MAX_LABEL_CHARS. */
export const MAX_SHOWN_CALLER_CHARS = 80;

/**
 * A caller label as a person is shown it: printable, one line, cut at MAX_SHOWN_CALLER_CHARS
 * with an ellipsis. The label is whatever the platform put in its token's name: never proof.
 */
export function callerLabel(caller: string): string {
  // Escaped first: a carriage return or line break from the relay shows as such, not as a space.
  const flat = printable(caller).replace(/\s+/g, ' ').trim();
  if (flat === '') return '(no name)';
  const chars = [...flat];
  return chars.length > MAX_SHOWN_CALLER_CHARS ? `${chars.slice(0, MAX_SHOWN_CALLER_CHARS).join('')}…` : flat;
}
