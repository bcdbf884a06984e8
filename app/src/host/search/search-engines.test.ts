import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ToolArgsInput } from '@tether/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsSandbox, type FsSandbox } from '../fs/test-fixtures.js';
import { searchJs } from './js-search.js';
import type { SearchQuery } from './search-query.js';
import { disposeSearchWorkers, searchOnWorkers } from './search-worker-pool.js';
import { ripgrepAvailable } from './search-tool.js';
import { walk } from './walker.js';

const hasRg = await ripgrepAvailable();

let rg: FsSandbox;
let js: FsSandbox;

/** One fixture tree with the awkward cases: ignore rules at several levels, hidden and binary files, CRLF, unicode, links, a FIFO. */
function buildTree(root: string, outside: string): void {
  const put = (rel: string, content: string | Buffer): void => {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  };
  put('.gitignore', 'build/\n*.log\n/top-only.txt\n!keep.log\n');
  put('top-only.txt', 'needle top\n');
  put('sub/top-only.txt', 'needle sub top-only\n');
  put('build/x.txt', 'needle in build\n');
  put('a.log', 'needle log\n');
  put('keep.log', 'needle kept\n');
  put('.hidden/h.txt', 'needle hidden\n');
  put('.dotfile', 'needle dot\n');
  put('bin.dat', Buffer.concat([Buffer.from('needle '), Buffer.from([0, 1, 2]), Buffer.from(' needle\n')]));
  put('crlf.txt', 'one needle\r\ntwo\r\nNEEDLE three\r\n');
  put('uni.txt', 'ÄÖÜ 😀 needle here\nnö needle\n');
  put('long.txt', `${'x'.repeat(2000)}needle${'y'.repeat(100)}\n`);
  put('multi.txt', 'needle needle\nctx a\nneedle\nneedle\nctx b\nctx c\nctx d\nneedle\n');
  put('no-newline.txt', 'last needle');
  put('empty.txt', '');
  put('Upper.txt', 'needle upper\n');
  put('lower.txt', 'needle lower\n');
  put('a-b.txt', 'needle dash\n');
  put('a.b.txt', 'needle dot name\n');
  put('a_b.txt', 'needle underscore\n');
  put('é.txt', 'needle accent\n');
  put('src/.gitignore', 'gen/\n*.tmp\n/local.txt\n!important.tmp\n');
  put('src/main.ts', 'const needle = 1;\nfunction f() { return needle; }\n');
  put('src/gen/g.ts', 'needle generated\n');
  put('src/x.tmp', 'needle tmp\n');
  put('src/important.tmp', 'needle important\n');
  put('src/local.txt', 'needle local\n');
  put('src/deep/local.txt', 'needle deep local\n');
  put('src/deep/more/file.md', 'Needle in markdown\nneedle again\n');
  put('src/deep/more/min.js', 'var needle=1;var needle=2;\n');
  writeFileSync(path.join(outside, 'secret.txt'), 'needle outside\n');
  symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'escape.txt'));
  symlinkSync(outside, path.join(root, 'escape-dir'));
  symlinkSync('src', path.join(root, 'inner-link'));
  execFileSync('mkfifo', [path.join(root, 'src', 'fifo')]);
}

beforeAll(async () => {
  rg = await fsSandbox({ searchEngine: 'ripgrep' });
  js = await fsSandbox({ searchEngine: 'js' });
  buildTree(rg.root, rg.outside);
  buildTree(js.root, js.outside);
});
afterAll(async () => {
  await rg?.remove();
  await js?.remove();
  await disposeSearchWorkers();
});

const QUERIES: { name: string; args: ToolArgsInput<'search'> }[] = [
  { name: 'a literal over the whole tree', args: { pattern: 'needle' } },
  { name: 'case-insensitive', args: { pattern: 'NEEDLE', caseSensitive: false } },
  { name: 'a regex with anchors', args: { pattern: '^needle$', regex: true } },
  { name: 'a regex with a class and quantifier', args: { pattern: 'need[a-z]+\\s+(again|here)', regex: true } },
  { name: 'regex metacharacters taken literally', args: { pattern: 'needle=1;var' } },
  { name: 'context lines around adjacent matches', args: { pattern: 'needle', contextLines: 2 } },
  { name: 'one context line in one file', args: { pattern: 'needle', contextLines: 1, path: 'multi.txt' } },
  { name: 'a truncated result', args: { pattern: 'needle', maxResults: 5 } },
  {
    name: 'truncation inside a file with context',
    args: { pattern: 'needle', maxResults: 2, contextLines: 3, path: 'multi.txt' },
  },
  { name: 'a basename glob', args: { pattern: 'needle', glob: '*.txt' } },
  { name: 'an anchored glob', args: { pattern: 'needle', glob: 'src/**/*.md' } },
  { name: 'a negated glob', args: { pattern: 'needle', glob: '!*.txt' } },
  { name: 'a sub-folder, with the root and its own .gitignore', args: { pattern: 'needle', path: 'src/deep' } },
  { name: 'a sub-folder through an inside symlink', args: { pattern: 'needle', path: 'inner-link' } },
  { name: 'an ignored folder asked for explicitly', args: { pattern: 'needle', path: 'build' } },
  { name: 'no match at all', args: { pattern: 'zzzz-not-there' } },
  { name: 'unicode columns', args: { pattern: 'needle', path: 'uni.txt' } },
  { name: 'a binary file asked for explicitly', args: { pattern: 'needle', path: 'bin.dat' } },
  { name: 'a hidden folder asked for explicitly', args: { pattern: 'needle', path: '.hidden' } },
  { name: 'a file without a final newline', args: { pattern: 'needle', path: 'no-newline.txt', contextLines: 2 } },
];

describe.skipIf(!hasRg)('search engines (skipped: ripgrep is not installed)', () => {
  describe('ripgrep and JS', () => {
    it.each(QUERIES)('return identical results for $name', async ({ args }) => {
      const a = await rg.call('search', args);
      const b = await js.call('search', args);
      if (!a.ok || !b.ok) throw new Error(`failed: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
      expect(a.value.engine).toBe('ripgrep');
      expect(b.value.engine).toBe('js');
      expect(b.value.matches).toEqual(a.value.matches);
      expect(b.value.truncated).toBe(a.value.truncated);
    });

    it('find what a person would expect in the fixture', async () => {
      const r = await js.call('search', { pattern: 'needle' });
      if (!r.ok) throw new Error(r.error.message);
      const files = [...new Set(r.value.matches.map((m) => m.path))];
      expect(files).toEqual([
        'Upper.txt',
        'a-b.txt',
        'a.b.txt',
        'a_b.txt',
        'crlf.txt',
        'keep.log',
        'long.txt',
        'lower.txt',
        'multi.txt',
        'no-newline.txt',
        'src/deep/local.txt',
        'src/deep/more/file.md',
        'src/deep/more/min.js',
        'src/important.tmp',
        'src/main.ts',
        'sub/top-only.txt',
        'uni.txt',
        'é.txt',
      ]);
      const uni = r.value.matches.find((m) => m.path === 'uni.txt');
      expect(uni).toMatchObject({ line: 1, column: 7, text: 'ÄÖÜ 😀 needle here' });
      const long = r.value.matches.find((m) => m.path === 'long.txt');
      expect(long?.column).toBe(2001);
      expect(long?.text.length).toBe(500);
      expect(r.value.matches.find((m) => m.path === 'crlf.txt')?.text).toBe('one needle');
    });

    it("report adjacent matches as each other's context", async () => {
      const r = await rg.call('search', { pattern: 'needle', path: 'multi.txt', contextLines: 1 });
      expect(r.ok && r.value.matches.slice(1, 3)).toEqual([
        { path: 'multi.txt', line: 3, column: 1, text: 'needle', before: ['ctx a'], after: ['needle'] },
        { path: 'multi.txt', line: 4, column: 1, text: 'needle', before: ['needle'], after: ['ctx b'] },
      ]);
    });
  });
});

describe('search engines', () => {
  it.each([
    { pattern: 'needle', contextLines: 2, maxResults: 200 },
    { pattern: 'needle', contextLines: 0, maxResults: 3 },
    { pattern: 'NEEDLE', caseSensitive: false, contextLines: 1, maxResults: 200 },
  ])('JS on worker threads and in-thread agree (%o)', async (q) => {
    const query: SearchQuery = {
      regex: false,
      caseSensitive: true,
      ...q,
      rootAbs: js.root,
      startAbs: js.root,
      startRel: '.',
      startIsFile: false,
      signal: new AbortController().signal,
    };
    const files = walk(js.root, js.root, '.', { includeHidden: false, respectGitignore: true, maxDepth: Infinity });
    // Straight to the workers: a failure to start them would fail here instead of falling back.
    const onWorkers = await searchOnWorkers(query, files);
    const inThread = await searchJs(query, { workers: false });
    expect(onWorkers.matches.length).toBeGreaterThan(0);
    expect(onWorkers).toEqual(inThread);
  });

  it.each(['js', ...(hasRg ? ['ripgrep'] : [])])('%s stops promptly when the call is cancelled', async (engine) => {
    const sb = engine === 'js' ? js : rg;
    const controller = new AbortController();
    controller.abort();
    const r = await sb.call('search', { pattern: 'needle' }, controller.signal);
    expect(r).toMatchObject({ ok: false, error: { code: 'cancelled' } });
  });

  it.each(['js', ...(hasRg ? ['ripgrep'] : [])])(
    '%s stops with cancelled when the call is cancelled mid-search',
    async (engine) => {
      const sb = await fsSandbox({ searchEngine: engine as 'js' | 'ripgrep' });
      try {
        for (let d = 0; d < 30; d++) {
          mkdirSync(path.join(sb.root, `d${d}`));
          for (let f = 0; f < 100; f++)
            writeFileSync(path.join(sb.root, `d${d}`, `f${f}.txt`), 'nothing to see\n'.repeat(50));
        }
        const controller = new AbortController();
        const pending = sb.call('search', { pattern: 'needle' }, controller.signal);
        setImmediate(() => controller.abort());
        expect(await pending).toMatchObject({ ok: false, error: { code: 'cancelled' } });
      } finally {
        await sb.remove();
      }
    },
  );

  it('js ends a runaway regex when cancelled, and the next search still works', async () => {
    writeFileSync(path.join(js.root, 'redos.txt'), `${'a'.repeat(40)}b\n`);
    try {
      const controller = new AbortController();
      const pending = js.call('search', { pattern: '^(a+)+$', regex: true, path: 'redos.txt' }, controller.signal);
      setTimeout(() => controller.abort(), 300);
      expect(await pending).toMatchObject({ ok: false, error: { code: 'cancelled' } });
      const after = await js.call('search', { pattern: 'needle', path: 'multi.txt' });
      expect(after).toMatchObject({ ok: true, value: { engine: 'js', matches: expect.any(Array) } });
      expect(after.ok && after.value.matches.length).toBeGreaterThan(0);
    } finally {
      rmSync(path.join(js.root, 'redos.txt'));
    }
  });

  it('refuses a pattern spanning lines in both engines', async () => {
    for (const sb of hasRg ? [js, rg] : [js]) {
      expect(await sb.call('search', { pattern: 'a\nb' })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    }
  });
});
