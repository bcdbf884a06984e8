import { describe, expect, it } from 'vitest';
import { jsonBoundsViolation, MAX_JSON_DEPTH, MAX_JSON_KEYS, scanJson } from './index.js';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('scanJson', () => {
  it('passes JSON up to the depth limit and refuses one level more', () => {
    expect(jsonBoundsViolation(nested(MAX_JSON_DEPTH))).toBeNull();
    expect(jsonBoundsViolation(nested(MAX_JSON_DEPTH + 1))).toMatchObject({ limit: 'depth', max: MAX_JSON_DEPTH });
    expect(
      jsonBoundsViolation('{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)),
    ).toMatchObject({ limit: 'depth' });
  });

  it('stops at the first level past the limit, without reading the rest', () => {
    // 8 Mi brackets: refused (and fast enough that no test timeout is near).
    expect(jsonBoundsViolation('['.repeat(8 * 1024 * 1024))).toMatchObject({ limit: 'depth' });
  });

  it('does not count brackets and colons inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: '[[[[{{{{:::: \\" [[[['.repeat(1000), t: ['"[', ':'] });
    expect(jsonBoundsViolation(text, { maxDepth: 2, maxKeys: 2 })).toBeNull();
  });

  it('counts keys over the whole text', () => {
    const many = JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, { x: i }])));
    expect(jsonBoundsViolation(many, { maxDepth: 5, maxKeys: 22 })).toBeNull();
    expect(jsonBoundsViolation(many, { maxDepth: 5, maxKeys: 21 })).toMatchObject({ limit: 'keys', max: 21 });
    expect(MAX_JSON_KEYS).toBeGreaterThan(5000 * 5);
  });

  it('reads the plain top-level string fields (to name a refused frame and its call)', () => {
    const text = `{ "type" : "result", "n": 3, "id":"call_1", "ok":true, "value": {"id":"inner","type":"x"}, "e":"a\\"b" }`;
    expect(scanJson(text).topLevel).toEqual({ type: 'result', id: 'call_1' });
    const deep = `{"type":"result","id":"call_2","ok":true,"value":${nested(100)}}`;
    const scan = scanJson(deep);
    expect(scan.violation).toMatchObject({ limit: 'depth' });
    expect(scan.topLevel).toEqual({ type: 'result', id: 'call_2' });
  });
});
