/**
 * The JSON text a desktop sent for a result's value, kept beside the parsed value: the HTTP
 * answer to `POST …/calls` passes that text on instead of serialising the value again (for a
 * 4 KB file, JSON.stringify of the answer cost ~10 µs of the relay's CPU per call, as much as
 * parsing the frame). The text is the exact part of a frame `JSON.parse` accepted, the value
 * it parsed to is what every other consumer (MCP, SSE, logs) reads, and the relay never
 * changes a result's value, so both say the same. A value that crossed nodes over Redis was
 * parsed again there and has no entry: it is serialised as before.
 */
const texts = new WeakMap<object, string>();

/** Records `json` as the text `value` was parsed from. */
export function rememberResultJson(value: unknown, json: string): void {
  if (typeof value === 'object' && value !== null) texts.set(value, json);
}

/** The text `value` was parsed from, when the relay has it. */
export function resultJsonOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined;
}
