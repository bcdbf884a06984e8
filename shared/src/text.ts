/** C0/C1 control characters (tab excepted) and the Unicode bidi controls (LRM/RLM/ALM, embeddings, overrides, isolates). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_CHARS_BUT_NEWLINE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text that came from the relay or a file safe to show a person who must judge it:
 * control characters (ANSI escapes could redraw a terminal prompt, hide a line or fake an
 * answer) and bidi controls (a right-to-left override shows `rm -rf ~` as something else, the
 * "Trojan Source" trick) are shown as visible `\xNN` / `\uNNNN` escapes instead.
 * `keepNewlines` leaves `\n` alone, for multi-line commands shown in a block.
 */
export function printable(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(options.keepNewlines ? CONTROL_CHARS_BUT_NEWLINE : CONTROL_CHARS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
