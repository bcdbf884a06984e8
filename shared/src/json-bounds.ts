import { MAX_JSON_DEPTH, MAX_JSON_KEYS } from './limits.js';

/** How deep and how wide a JSON text may be. */
export interface JsonBounds {
  maxDepth: number;
  maxKeys: number;
}

/** The protocol's bounds (MAX_JSON_DEPTH, MAX_JSON_KEYS). */
export const DEFAULT_JSON_BOUNDS: Readonly<JsonBounds> = Object.freeze({
  maxDepth: MAX_JSON_DEPTH,
  maxKeys: MAX_JSON_KEYS,
});

/** Why a JSON text was refused before parsing. */
export interface JsonBoundsViolation {
  limit: 'depth' | 'keys';
  max: number;
  message: string;
}

/** What a scan learnt: a violation, and the plain string fields of the top-level object (`type`, `id`). */
export interface JsonScan {
  violation: JsonBoundsViolation | null;
  /** Top-level keys whose value is a short string without escapes (enough to name a frame and its call). */
  topLevel: Record<string, string>;
  /**
   * Where the value of each top-level key whose value is an object or an array lies in the
   * text: `text.slice(start, end)` is that value's JSON, exactly as sent. A key that occurs more
   * than once has none (which occurrence `JSON.parse` keeps is not this scan's business).
   * Meaningful only for text that `JSON.parse` accepts.
   */
  spans: Record<string, readonly [start: number, end: number] | null>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
/** Top-level string values longer than this are not kept (ids are at most 128 characters). */
const MAX_TOP_LEVEL_VALUE_CHARS = 200;

/**
 * One pass over the raw text, before `JSON.parse`, counting bracket depth and keys outside
 * strings (a key is the string before each `:`; JSON has no other use of `:` outside strings).
 * It does not validate: invalid JSON is left to `JSON.parse`, which then runs on text known to
 * be shallow and narrow. Linear, no allocation but the top-level fields.
 */
export function scanJson(text: string, bounds: JsonBounds = DEFAULT_JSON_BOUNDS): JsonScan {
  const topLevel: Record<string, string> = {};
  // No prototype: a key named `__proto__` is a key like any other here.
  const spans = Object.create(null) as Record<string, readonly [number, number] | null>;
  /** The top-level key whose object or array value is being scanned, and where that value began. */
  let spanKey: string | null = null;
  let spanStart = 0;
  let depth = 0;
  let keys = 0;
  let lastKey: string | null = null;
  let afterColon = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // To the closing quote with indexOf (native speed): a quote preceded by an odd run of
      // backslashes is escaped. Each backslash is looked at once, so this stays linear.
      const start = i + 1;
      let from = start;
      let close = -1;
      while (close < 0) {
        const q = text.indexOf('"', from);
        if (q < 0) break;
        let k = q - 1;
        while (k >= start && text.charCodeAt(k) === BACKSLASH) k--;
        if ((q - 1 - k) % 2 === 0) close = q;
        else from = q + 1;
      }
      i = close < 0 ? text.length : close;
      if (depth === 1) {
        const plain = i - start <= MAX_TOP_LEVEL_VALUE_CHARS && !text.slice(start, i).includes('\\');
        if (afterColon) {
          if (plain && lastKey !== null) topLevel[lastKey] = text.slice(start, i);
          afterColon = false;
        } else {
          lastKey = plain ? text.slice(start, i) : null;
          // A repeated key: its span (if any) may not be the occurrence JSON.parse keeps.
          if (lastKey !== null && Object.hasOwn(spans, lastKey)) spans[lastKey] = null;
        }
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth === 1 && afterColon && lastKey !== null && spans[lastKey] !== null) {
        spanKey = lastKey;
        spanStart = i;
      }
      if (++depth > bounds.maxDepth)
        return {
          violation: {
            limit: 'depth',
            max: bounds.maxDepth,
            message: `JSON nested deeper than ${bounds.maxDepth} levels`,
          },
          topLevel,
          spans,
        };
      afterColon = false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 1 && spanKey !== null) {
        spans[spanKey] = [spanStart, i + 1];
        spanKey = null;
      }
    } else if (c === COLON) {
      if (++keys > bounds.maxKeys)
        return {
          violation: {
            limit: 'keys',
            max: bounds.maxKeys,
            message: `JSON with more than ${bounds.maxKeys} object keys`,
          },
          topLevel,
          spans,
        };
      afterColon = depth === 1;
    } else if (afterColon && c > 0x20 && c !== 0x2c) {
      // A number, true, false or null at the top level: not a string field.
      afterColon = false;
    }
  }
  return { violation: null, topLevel, spans };
}

/** The violation of `bounds` by this JSON text, or null when it may be parsed. */
export function jsonBoundsViolation(
  text: string,
  bounds: JsonBounds = DEFAULT_JSON_BOUNDS,
): JsonBoundsViolation | null {
  return scanJson(text, bounds).violation;
}
