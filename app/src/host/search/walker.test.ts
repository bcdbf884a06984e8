import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitignoreChain } from './gitignore-chain.js';
import { compareNames, walk, type WalkOptions } from './walker.js';

let root: string;
function put(rel: string, content = ''): void {
  const abs = path.join(root, rel);
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, content);
}
beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(tmpdir(), 'tether-walk-')));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function list(start = '.', options: Partial<WalkOptions> = {}): Promise<string[]> {
  const out: string[] = [];
  const abs = start === '.' ? root : path.join(root, start);
  const opts: WalkOptions = { includeHidden: false, respectGitignore: true, maxDepth: Infinity, ...options };
  for await (const e of walk(root, abs, start, opts)) out.push(e.type === 'dir' ? `${e.rel}/` : e.rel);
  return out;
}

describe('compareNames', () => {
  it('orders by UTF-8 bytes (code points), like ripgrep --sort path', () => {
    const names = ['b', 'B', 'a-b', 'a.b', 'a_b', 'é', 'z', '\uffff', '😀', 'a'];
    expect([...names].sort(compareNames)).toEqual(['B', 'a', 'a-b', 'a.b', 'a_b', 'b', 'z', 'é', '\uffff', '😀']);
    const bytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...names].sort(compareNames)).toEqual(bytes);
  });
});

describe('walk', () => {
  it('walks depth first in name order, skipping .git, hidden names and ignored paths', async () => {
    put('.gitignore', '*.log\nbuild/\n!keep.log\n');
    put('b/x.txt');
    put('a.txt');
    put('a/deep/y.txt');
    put('debug.log');
    put('keep.log');
    put('build/out.js');
    put('.hidden/z.txt');
    put('.git/config');
    expect(await list()).toEqual(['a/', 'a/deep/', 'a/deep/y.txt', 'a.txt', 'b/', 'b/x.txt', 'keep.log']);
    expect(await list('.', { includeHidden: true, respectGitignore: false })).toEqual([
      '.gitignore',
      '.hidden/',
      '.hidden/z.txt',
      'a/',
      'a/deep/',
      'a/deep/y.txt',
      'a.txt',
      'b/',
      'b/x.txt',
      'build/',
      'build/out.js',
      'debug.log',
      'keep.log',
    ]);
  });

  it('applies nested .gitignore files relative to their folder, deeper ones winning', async () => {
    put('.gitignore', '*.tmp\n');
    put('src/.gitignore', '!keep.tmp\n/local.txt\n');
    put('src/keep.tmp');
    put('src/drop.tmp');
    put('src/local.txt');
    put('src/sub/local.txt');
    put('local.txt');
    expect(await list()).toEqual(['local.txt', 'src/', 'src/keep.tmp', 'src/sub/', 'src/sub/local.txt']);
    expect(await list('src')).toEqual(['src/keep.tmp', 'src/sub/', 'src/sub/local.txt']);
  });

  it('stops at maxDepth, reports links without following them, and lets an override decide first', async () => {
    put('a/b/c.txt');
    put('.dot.txt');
    symlinkSync('a', path.join(root, 'link'));
    expect(await list('.', { maxDepth: 1 })).toEqual(['a/', 'link']);
    const override = (rel: string, isDir: boolean): 'include' | 'exclude' | undefined =>
      isDir ? undefined : rel.endsWith('.txt') ? 'include' : 'exclude';
    expect(await list('.', { override })).toEqual(['.dot.txt', 'a/', 'a/b/', 'a/b/c.txt']);
  });
});

describe('GitignoreChain', () => {
  it('drops the ancestors’ rules for a folder they ignore (it was asked for by name)', async () => {
    put('.gitignore', 'vendor/\n*.log\n');
    put('vendor/lib/.gitignore', 'gen/\n');
    const chain = await GitignoreChain.forFolder(root, 'vendor/lib');
    expect(chain.ignores('vendor/lib/a.log', false)).toBe(false);
    expect(chain.ignores('vendor/lib/gen', true)).toBe(true);
  });

  it('rewrites nested rules relative to the root for ripgrep', async () => {
    put('.gitignore', '*.log\n# comment\n\n');
    put('a/.gitignore', 'x/y\n*.tmp\n!keep.tmp\nbuild/\n/top\n');
    const chain = await GitignoreChain.forFolder(root, 'a');
    expect(chain.toRipgrepRules()).toEqual([
      '*.log',
      '/a/x/y',
      '/a/**/*.tmp',
      '!/a/**/keep.tmp',
      '/a/**/build/',
      '/a/top',
    ]);
  });
});
