import { describe, expect, it } from 'vitest';
import { TetherError } from '@tether/shared';
import { compileGlob, GLOB_STEPS_PER_YIELD, MAX_GLOB_ALTERNATIVES, MAX_GLOB_STEPS_PER_PATH } from './glob-matcher.js';

/** [pattern, path, matches?] */
const CASES: Array<[string, string, boolean]> = [
  // literal names and `*` / `?`, never across `/`
  ['a.ts', 'a.ts', true],
  ['a.ts', 'b/a.ts', false],
  ['*.ts', 'a.ts', true],
  ['*.ts', 'src/a.ts', false],
  ['src/*.ts', 'src/a.ts', true],
  ['src/*.ts', 'src/sub/b.ts', false],
  ['*', 'x', true],
  ['a*b*c', 'abc', true],
  ['a*b*c', 'axxbyyc', true],
  ['a*b*c', 'axxbyy', false],
  ['f?o', 'foo', true],
  ['f?o', 'fo', false],
  ['f?o', 'f/o', false],
  ['f?o', 'f😀o', true], // one code point
  ['f??o', 'f😀o', false],
  // dotfiles: wildcards take a leading dot (what the glob tool and ripgrep always did)
  ['*', '.env', true],
  ['**/*.ts', '.github/f.ts', true],
  ['.*', '.env', true],
  ['a/*/c', 'a/.b/c', true],
  // `**` as a whole segment: zero or more segments
  ['**', 'x/y/z', true],
  ['**/*.ts', 'a.ts', true],
  ['**/*.ts', 'a/b/c.ts', true],
  ['a/**', 'a/b/c', true],
  ['a/**', 'a', true],
  ['a/**', 'b/c', false],
  ['a/**/b', 'a/b', true],
  ['a/**/b', 'a/x/y/b', true],
  ['a/**/b', 'a/x/y/c', false],
  ['**/x/**/y', 'q/x/r/s/y', true],
  ['a**b', 'axyb', true], // `**` inside a name is `*`
  ['a**b', 'ax/yb', false],
  // classes
  ['[abc].md', 'b.md', true],
  ['[abc].md', 'd.md', false],
  ['[a-c]?.md', 'b1.md', true],
  ['[!a-c]?.md', 'b1.md', false],
  ['[!a-c]?.md', 'd1.md', true],
  ['[^a]x', 'bx', true],
  ['[^a]x', 'ax', false],
  ['[]]', ']', true],
  ['[a-]', '-', true],
  ['[\\]]', ']', true],
  ['[a', '[a', true], // unclosed: literal
  // escapes
  ['\\*x', '*x', true],
  ['\\*x', 'ax', false],
  ['a\\?', 'a?', true],
  ['a\\?', 'ab', false],
  // braces (nested, with `/` inside)
  ['*.{js,ts}', 'q.ts', true],
  ['*.{js,ts}', 'q.md', false],
  ['{src/sub,dist}/*.ts', 'src/sub/b.ts', true],
  ['{src/sub,dist}/*.ts', 'dist/b.ts', true],
  ['{src/sub,dist}/*.ts', 'src/b.ts', false],
  ['a{b,c{d,e}}f', 'acef', true],
  ['a{b,c{d,e}}f', 'acf', false],
  ['{a,b', '{a,b', true], // no closing brace: literal
  ['a{b}c', 'a{b}c', true], // no comma: literal
  ['a\\{b,c}', 'a{b,c}', true],
  // other forms
  ['./src/*', 'src/a', true],
  ['+(a|b)', '+(a|b)', true], // extglobs are literal text, as in ripgrep
  ['+(a|b)', 'a', false],
  ['/abs/*', 'abs/x', false], // an absolute pattern never matches a relative path
  ['../*', 'x', false],
  ['x/', 'x', false], // a trailing `/` names folders; a file path never matches
];

describe('compileGlob', () => {
  describe('matches', () => {
    it.each(CASES)('%s against %s is %s', (pattern, p, expected) => {
      expect(compileGlob(pattern).matches(p)).toBe(expected);
    });

    it('negates the whole pattern with a leading `!` only when asked', () => {
      expect(compileGlob('!*.ts', { negation: true }).matches('a.js')).toBe(true);
      expect(compileGlob('!*.ts', { negation: true }).matches('a.ts')).toBe(false);
      expect(compileGlob('!*.ts').matches('!a.ts')).toBe(true);
    });

    it('matches the last segment only for a basename glob', () => {
      const g = compileGlob('*.md', { basename: true });
      expect(g.matches('a/b/c.md')).toBe(true);
      expect(g.matches('a/b.md/c')).toBe(false);
    });
  });

  describe('base and maxSegments', () => {
    it('says where a walk may start and how deep it must go', () => {
      expect(compileGlob('src/*.ts')).toMatchObject({ base: 'src', maxSegments: 2, never: false });
      expect(compileGlob('src/a/**/x')).toMatchObject({ base: 'src/a', maxSegments: Infinity });
      expect(compileGlob('{src/sub,src/dist}/*.ts')).toMatchObject({ base: 'src', maxSegments: 3 });
      expect(compileGlob('{src/sub,dist}/*.ts')).toMatchObject({ base: '', maxSegments: 3 });
      expect(compileGlob('a\\*b/c')).toMatchObject({ base: 'a*b', maxSegments: 2 });
      expect(compileGlob('*.ts')).toMatchObject({ base: '', maxSegments: 1 });
      expect(compileGlob('!src/*.ts', { negation: true })).toMatchObject({ base: '', maxSegments: Infinity });
      expect(compileGlob('../**').never).toBe(true);
      expect(compileGlob('{../x,y}').never).toBe(false);
    });
  });

  describe('pathological patterns', () => {
    // Each of these froze the host's event loop through picomatch's regex (26 s, 56 s, 1.7 s).
    const PATHOLOGICAL: Array<[string, string]> = [
      ['*a'.repeat(10) + '*c', 'a'.repeat(40)],
      ['*a'.repeat(4) + '*c', 'a'.repeat(255)],
      ['**/x/'.repeat(5) + '**/y', Array.from({ length: 60 }, () => 'x').join('/')],
      ['*a'.repeat(120) + '*c', 'a'.repeat(255)],
      [`${'**/'.repeat(300)}z`, Array.from({ length: 200 }, () => 'q').join('/')],
    ];

    it.each(PATHOLOGICAL)('bounds the work of %s (no backtracking blow-up)', (pattern, p) => {
      const g = compileGlob(pattern);
      const started = performance.now();
      expect(g.matches(p)).toBe(false);
      // The work is at most (pattern length × path length) steps: far from exponential.
      expect(g.lastSteps).toBeLessThanOrEqual(pattern.length * p.length + p.length + pattern.length);
      expect(performance.now() - started, 'a sanity cap, not a benchmark').toBeLessThan(2000);
    });

    it('still finds the match a pathological-looking pattern has', () => {
      const g = compileGlob('*a'.repeat(10) + '*c');
      expect(g.matches(`${'a'.repeat(40)}c`)).toBe(true);
      expect(compileGlob('**/x/'.repeat(5) + '**/y').matches([...Array(60).fill('x'), 'y'].join('/'))).toBe(true);
    });

    it('refuses a pattern whose matching would cost more than the per-path bound', () => {
      // `*aaa…ab` against `aaa…a` costs (name × pattern) steps; 140 alternatives of it exceed the
      // bound while staying within the alternatives and characters limits.
      const star = `{${Array.from({ length: 140 }, (_, i) => `*${'a'.repeat(127)}b${i}`).join(',')}}`;
      const g = compileGlob(star);
      expect(() => g.matches('a'.repeat(255))).toThrow(TetherError);
      expect(g.lastSteps).toBeLessThanOrEqual(MAX_GLOB_STEPS_PER_PATH + 4096);
    });

    it('asks the caller to let the event loop run once per GLOB_STEPS_PER_YIELD steps', () => {
      const g = compileGlob(`*${'a'.repeat(127)}b`);
      let yields = 0;
      let steps = 0;
      for (let i = 0; i < 200; i++) {
        g.matches('a'.repeat(255));
        steps += g.lastSteps;
        if (g.shouldYield()) yields++;
      }
      expect(yields).toBe(Math.floor(steps / GLOB_STEPS_PER_YIELD));
      expect(yields).toBeGreaterThan(0);
    });

    it('refuses braces expanding past the bound with invalid_args', () => {
      const many = '{a,b}'.repeat(11); // 2^11 alternatives
      expect(MAX_GLOB_ALTERNATIVES).toBeLessThan(2 ** 11);
      try {
        compileGlob(many, { field: 'glob' });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(TetherError);
        expect((err as TetherError).code).toBe('invalid_args');
        expect((err as TetherError).details).toEqual({ field: 'glob' });
      }
      expect(() => compileGlob('{a,b}'.repeat(9))).not.toThrow(); // 512 is fine
      expect(() => compileGlob(`{${'{'.repeat(400)}a,b${'}'.repeat(400)}}`)).not.toThrow();
    });
  });
});
