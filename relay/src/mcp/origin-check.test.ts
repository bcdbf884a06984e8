import { describe, expect, it } from 'vitest';
import { originAllowed, parseAllowedOrigins } from './origin-check.js';

describe('originAllowed', () => {
  it('allows requests without an Origin (not a browser) and loopback pages', () => {
    expect(originAllowed(undefined, [])).toBe(true);
    expect(originAllowed('http://localhost:6274', [])).toBe(true);
    expect(originAllowed('http://127.0.0.1:3000', [])).toBe(true);
    expect(originAllowed('http://[::1]:3000', [])).toBe(true);
  });

  it('refuses any other site unless listed, and null or garbage origins', () => {
    expect(originAllowed('http://evil.example.com', [])).toBe(false);
    expect(originAllowed('https://localhost.evil.example', [])).toBe(false);
    expect(originAllowed('null', [])).toBe(false);
    expect(originAllowed('file:///etc', [])).toBe(false);
    expect(originAllowed('https://app.example', ['https://app.example'])).toBe(true);
    expect(originAllowed('https://app.example:444', ['https://app.example'])).toBe(false);
    expect(originAllowed('https://anything.example', ['*'])).toBe(true);
  });
});

describe('parseAllowedOrigins', () => {
  it('takes origins and *, and names a bad entry', () => {
    expect(parseAllowedOrigins('https://a.example, https://b.example:8443/')).toEqual([
      'https://a.example',
      'https://b.example:8443',
    ]);
    expect(parseAllowedOrigins('*')).toEqual(['*']);
    expect(() => parseAllowedOrigins('https://a.example/path')).toThrow(/a.example\/path/);
    expect(() => parseAllowedOrigins('not a url')).toThrow(/not a url/);
  });
});
