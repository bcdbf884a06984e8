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

  it('finds the exact text of each top-level object or array value', () => {
    const value = { content: 'a "quoted" {brace} [x]\n\\', nested: { a: [1, { b: '}' }] }, e: 'é\u2028' };
    const text = ` { "type":"result" , "id":"call_1","value" :  ${JSON.stringify(value, null, 1)} ,"ok":true, "list":[1,[2]] }`;
    const { spans } = scanJson(text);
    const slice = (key: string) => {
      const span = spans[key];
      return span ? text.slice(span[0], span[1]) : null;
    };
    expect(JSON.parse(slice('value')!)).toEqual(value);
    expect(slice('value')).toBe(JSON.stringify(value, null, 1));
    expect(slice('list')).toBe('[1,[2]]');
    expect(slice('type')).toBeNull();
    expect(Object.keys(spans).sort()).toEqual(['list', 'value']);
  });

  it('gives no span for a key that occurs twice, whichever occurrence JSON.parse keeps', () => {
    for (const text of [
      '{"value":{"a":1},"value":{"b":2}}',
      '{"value":{"a":1},"value":3}',
      '{"value":{"a":1},"value":"s"}',
    ])
      expect(scanJson(text).spans.value).toBeNull();
    // A primitive first and an object last: the object is what JSON.parse keeps, and its span is kept.
    const text = '{"value":3,"value":{"b":2}}';
    const span = scanJson(text).spans.value!;
    expect(JSON.parse(text.slice(span[0], span[1]))).toEqual(JSON.parse(text).value);
  });

  it('treats a key named __proto__ as any other key', () => {
    const text = '{"__proto__":{"polluted":true},"value":[1]}';
    const { spans } = scanJson(text);
    const start = text.indexOf('{"polluted"');
    expect(spans['__proto__']).toEqual([start, start + '{"polluted":true}'.length]);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(spans)).toBeNull();
  });
});
