import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_READ_LINES,
  MAX_DIFF_RESULT_CHARS,
  MAX_FRAME_BYTES,
  MAX_READ_BYTES,
  utf8ByteLength,
} from '@tether/shared';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { disposeSearchWorkers } from '../search/search-worker-pool.js';
import { fsSandbox, type FsSandbox } from './test-fixtures.js';
import { boundDiff } from './write-tools.js';

let sb: FsSandbox;
beforeEach(async () => {
  sb = await fsSandbox({ searchEngine: 'js' });
});
afterEach(async () => {
  await sb.remove();
});
afterAll(disposeSearchWorkers);

function put(rel: string, content: string | Buffer): void {
  const abs = path.join(sb.root, rel);
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, content);
}
const read = (rel: string): string => readFileSync(path.join(sb.root, rel), 'utf8');

describe('createFsTools', () => {
  describe('read_file', () => {
    it('returns lines with totalLines, paged by offset and limit', async () => {
      put('a.txt', 'one\ntwo\nthree\nfour\n');
      const all = await sb.call('read_file', { path: 'a.txt' });
      expect(all).toEqual({
        ok: true,
        value: expect.objectContaining({
          content: 'one\ntwo\nthree\nfour\n',
          totalLines: 4,
          count: 4,
          offset: 0,
          truncated: false,
          encoding: 'utf8',
          path: 'a.txt',
        }),
      });
      const page = await sb.call('read_file', { path: 'a.txt', offset: 1, limit: 2 });
      expect(page.ok && page.value).toMatchObject({
        content: 'two\nthree\n',
        count: 2,
        offset: 1,
        truncated: true,
        totalLines: 4,
      });
      const past = await sb.call('read_file', { path: 'a.txt', offset: 10 });
      expect(past.ok && past.value).toMatchObject({ content: '', count: 0, truncated: false });
    });

    it('counts a last line without a newline and reads an empty file', async () => {
      put('b.txt', 'x\ny');
      put('empty.txt', '');
      expect(
        (await sb.call('read_file', { path: 'b.txt', offset: 1 })).ok &&
          (await sb.call('read_file', { path: 'b.txt', offset: 1 })),
      ).toMatchObject({ value: { content: 'y', totalLines: 2, count: 1 } });
      expect(await sb.call('read_file', { path: 'empty.txt' })).toMatchObject({
        ok: true,
        value: { content: '', totalLines: 0, count: 0, size: 0 },
      });
    });

    it('pages concatenate back to the whole file across checkpoints', async () => {
      const lines = Array.from({ length: 10_000 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}`);
      put('big.txt', `${lines.join('\n')}\n`);
      let text = '';
      for (let offset = 0; ; offset += 3000) {
        const r = await sb.call('read_file', { path: 'big.txt', offset, limit: 3000 });
        if (!r.ok) throw new Error(r.error.message);
        text += r.value.content;
        expect(r.value.totalLines).toBe(10_000);
        if (!r.value.truncated) break;
      }
      expect(text).toBe(read('big.txt'));
      const deep = await sb.call('read_file', { path: 'big.txt', offset: 8193, limit: 1 });
      expect(deep.ok && deep.value.content).toBe(`${lines[8193]}\n`);
      const dflt = await sb.call('read_file', { path: 'big.txt' });
      expect(dflt.ok && dflt.value.count).toBe(DEFAULT_READ_LINES);
    });

    it('cuts a page at MAX_READ_BYTES, and a single huge line at a UTF-8 boundary', async () => {
      put('huge.txt', `${'€'.repeat(MAX_READ_BYTES)}\nnext\n`);
      const r = await sb.call('read_file', { path: 'huge.txt' });
      expect(r.ok && r.value).toMatchObject({ count: 1, truncated: true, totalLines: 2 });
      expect(r.ok && Buffer.byteLength(r.value.content)).toBeLessThanOrEqual(MAX_READ_BYTES);
      expect(r.ok && r.value.content.includes('\uFFFD')).toBe(false);
    });

    it('refuses binary files in utf8 and returns them in base64 by bytes', async () => {
      const bin = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 4, 5]);
      put('img.png', bin);
      expect(await sb.call('read_file', { path: 'img.png' })).toMatchObject({
        ok: false,
        error: { code: 'binary_file' },
      });
      const b = await sb.call('read_file', { path: 'img.png', encoding: 'base64', offset: 2, limit: 4 });
      expect(b.ok && b.value).toMatchObject({
        content: bin.subarray(2, 6).toString('base64'),
        offset: 2,
        count: 4,
        size: 10,
        truncated: true,
      });
    });

    it('refuses folders, FIFOs and devices without opening them, and missing files', async () => {
      mkdirSync(path.join(sb.root, 'dir'));
      execFileSync('mkfifo', [path.join(sb.root, 'pipe')]);
      symlinkSync('/dev/zero', path.join(sb.root, 'dev'));
      expect(await sb.call('read_file', { path: 'dir' })).toMatchObject({ ok: false, error: { code: 'not_a_file' } });
      expect(await sb.call('read_file', { path: 'pipe' })).toMatchObject({ ok: false, error: { code: 'not_a_file' } });
      expect(await sb.call('read_file', { path: 'dev' })).toMatchObject({
        ok: false,
        error: { code: 'path_outside_workspace' },
      });
      expect(await sb.call('read_file', { path: 'nope.txt' })).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      expect(await sb.call('read_file', { path: 'a.txt', limit: 0 })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    });
  });

  describe('list_dir', () => {
    beforeEach(() => {
      put('.gitignore', 'build/\n*.log\n');
      put('src/a.ts', 'a');
      put('src/deep/b.ts', 'bb');
      put('build/out.js', 'x');
      put('debug.log', 'x');
      put('.env', 'SECRET=1');
      put('README.md', 'hi');
    });

    it('lists one level by default, hiding dotfiles and ignored paths', async () => {
      const r = await sb.call('list_dir', {});
      expect(r.ok && r.value.entries.map((e) => `${e.type}:${e.path}`)).toEqual(['file:README.md', 'dir:src']);
      expect(r.ok && r.value.entries[0]).toMatchObject({ size: 2, mtimeMs: expect.any(Number) });
    });

    it('goes deeper, includes hidden and ignored entries when asked, never .git', async () => {
      mkdirSync(path.join(sb.root, '.git'));
      const r = await sb.call('list_dir', { path: '.', depth: 3, includeHidden: true, respectGitignore: false });
      expect(r.ok && r.value.entries.map((e) => e.path)).toEqual([
        '.env',
        '.gitignore',
        'README.md',
        'build',
        'build/out.js',
        'debug.log',
        'src',
        'src/a.ts',
        'src/deep',
        'src/deep/b.ts',
      ]);
    });

    it('lists a sub-folder with workspace-relative paths and reports symlinks as links', async () => {
      symlinkSync('a.ts', path.join(sb.root, 'src/link.ts'));
      const r = await sb.call('list_dir', { path: 'src' });
      expect(r.ok && r.value).toMatchObject({
        path: 'src',
        entries: [{ path: 'src/a.ts' }, { path: 'src/deep', type: 'dir' }, { path: 'src/link.ts', type: 'symlink' }],
      });
    });

    it('refuses a file, a missing folder and a bad depth', async () => {
      expect(await sb.call('list_dir', { path: 'README.md' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_directory' },
      });
      expect(await sb.call('list_dir', { path: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
      expect(await sb.call('list_dir', { depth: 0 })).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
    });
  });

  describe('glob', () => {
    it('matches workspace-relative paths, respecting .gitignore and skipping .git', async () => {
      put('.gitignore', 'dist/\n');
      put('src/a.ts', '');
      put('src/sub/b.ts', '');
      put('src/c.js', '');
      put('dist/d.ts', '');
      put('.git/e.ts', '');
      put('.github/f.ts', '');
      expect(await sb.call('glob', { pattern: '**/*.ts' })).toEqual({
        ok: true,
        value: { matches: ['.github/f.ts', 'src/a.ts', 'src/sub/b.ts'], truncated: false },
      });
      expect(await sb.call('glob', { pattern: 'src/*.ts' })).toEqual({
        ok: true,
        value: { matches: ['src/a.ts'], truncated: false },
      });
      expect(await sb.call('glob', { pattern: '*.ts', path: 'src' })).toEqual({
        ok: true,
        value: { matches: ['src/a.ts'], truncated: false },
      });
      expect(await sb.call('glob', { pattern: '{src/sub,dist}/*.ts' })).toEqual({
        ok: true,
        value: { matches: ['src/sub/b.ts'], truncated: false },
      });
      expect(await sb.call('glob', { pattern: 'nothing/**' })).toEqual({
        ok: true,
        value: { matches: [], truncated: false },
      });
      expect(await sb.call('glob', { pattern: '../**' })).toEqual({
        ok: true,
        value: { matches: [], truncated: false },
      });
    });

    it('answers patterns that made the regex matcher backtrack for minutes, for glob and search', async () => {
      put('a'.repeat(255), 'needle\n');
      put(`d/${'a'.repeat(40)}`, 'needle\n');
      put(`${Array.from({ length: 60 }, () => 'x').join('/')}/f`, 'needle\n');
      const patterns = ['*a'.repeat(10) + '*c', '*a'.repeat(4) + '*c', '**/x/'.repeat(5) + '**/y'];
      for (const pattern of patterns) {
        expect(await sb.call('glob', { pattern })).toEqual({ ok: true, value: { matches: [], truncated: false } });
        const found = await sb.call('search', { pattern: 'needle', glob: pattern });
        expect(found).toMatchObject({ ok: true, value: { matches: [], engine: 'js' } });
      }
      expect(await sb.call('glob', { pattern: `${'*a'.repeat(4)}*` })).toMatchObject({
        ok: true,
        value: { matches: ['a'.repeat(255)] }, // `*` never crosses `/`: not d/aaa…
      });
    }, 30_000);

    it('refuses a glob whose braces expand too far, with invalid_args naming the argument', async () => {
      const pattern = '{a,b}'.repeat(12);
      expect(await sb.call('glob', { pattern })).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
      expect(await sb.call('search', { pattern: 'x', glob: pattern })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args', details: { field: 'glob' } },
      });
    });
  });

  describe('stat', () => {
    it('describes files, folders and links without following the final link', async () => {
      put('f.txt', 'abc');
      chmodSync(path.join(sb.root, 'f.txt'), 0o640);
      symlinkSync('f.txt', path.join(sb.root, 'l'));
      expect(await sb.call('stat', { path: 'f.txt' })).toMatchObject({
        ok: true,
        value: { path: 'f.txt', type: 'file', size: 3, mode: 0o640 },
      });
      expect(await sb.call('stat', { path: '.' })).toMatchObject({ ok: true, value: { path: '.', type: 'dir' } });
      expect(await sb.call('stat', { path: 'l' })).toMatchObject({ ok: true, value: { type: 'symlink' } });
      expect(await sb.call('stat', { path: 'x' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    });
  });

  describe('write_file', () => {
    it('creates a file and its folders, then replaces it keeping its mode', async () => {
      expect(await sb.call('write_file', { path: 'a/b/c.txt', content: 'hi\n' })).toEqual({
        ok: true,
        value: { path: 'a/b/c.txt', bytesWritten: 3, created: true },
      });
      chmodSync(path.join(sb.root, 'a/b/c.txt'), 0o751);
      expect(await sb.call('write_file', { path: 'a/b/c.txt', content: 'bye' })).toMatchObject({
        ok: true,
        value: { created: false },
      });
      expect(read('a/b/c.txt')).toBe('bye');
      expect(statSync(path.join(sb.root, 'a/b/c.txt')).mode & 0o777).toBe(0o751);
      expect(readdirSync(path.join(sb.root, 'a/b'))).toEqual(['c.txt']); // no temp file left
    });

    it('writes base64, and refuses bad base64, missing folders without createDirs, folders and the root', async () => {
      expect(
        await sb.call('write_file', {
          path: 'x.bin',
          content: Buffer.from([0, 1, 2]).toString('base64'),
          encoding: 'base64',
        }),
      ).toMatchObject({ ok: true, value: { bytesWritten: 3 } });
      expect(readFileSync(path.join(sb.root, 'x.bin'))).toEqual(Buffer.from([0, 1, 2]));
      expect(await sb.call('write_file', { path: 'y.bin', content: 'not base64!', encoding: 'base64' })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
      expect(await sb.call('write_file', { path: 'no/dir.txt', content: '', createDirs: false })).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      mkdirSync(path.join(sb.root, 'd'));
      expect(await sb.call('write_file', { path: 'd', content: '' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_file' },
      });
      expect(await sb.call('write_file', { path: 'x.bin/inner', content: '' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_directory' },
      });
      expect(await sb.call('write_file', { path: '.', content: '' })).toMatchObject({
        ok: false,
        error: { code: 'path_outside_workspace' },
      });
    });

    it('replaces a hard link instead of writing through it, and writes a 255-byte name', async () => {
      const other = path.join(sb.root, 'other.txt');
      writeFileSync(other, 'original');
      linkSync(other, path.join(sb.root, 'hard.txt'));
      expect((await sb.call('write_file', { path: 'hard.txt', content: 'new' })).ok).toBe(true);
      expect(readFileSync(other, 'utf8')).toBe('original');
      const long = `${'n'.repeat(251)}.txt`;
      expect(await sb.call('write_file', { path: long, content: 'ok' })).toMatchObject({
        ok: true,
        value: { path: long },
      });
      expect(await sb.call('write_file', { path: `${long}x`, content: 'ok' })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    });

    it('writes through a symlink that stays inside to its target', async () => {
      put('real.txt', 'old');
      symlinkSync('real.txt', path.join(sb.root, 'alias.txt'));
      expect((await sb.call('write_file', { path: 'alias.txt', content: 'new' })).ok).toBe(true);
      expect(read('real.txt')).toBe('new');
      expect(lstatSync(path.join(sb.root, 'alias.txt')).isSymbolicLink()).toBe(true);
    });
  });

  describe('edit_file', () => {
    beforeEach(() => put('e.ts', 'const a = 1;\nconst b = 2;\nconst a2 = 1;\n'));

    it('applies every edit in memory, then writes once, with a unified diff', async () => {
      const r = await sb.call('edit_file', {
        path: 'e.ts',
        edits: [
          { oldText: 'const b = 2;', newText: 'const b = 3;' },
          { oldText: '= 1;', newText: '= 9;', replaceAll: true },
        ],
      });
      expect(r).toMatchObject({ ok: true, value: { path: 'e.ts', replacements: 3, applied: true } });
      expect(r.ok && r.value.diff).toContain('-const b = 2;\n');
      expect(r.ok && r.value.diff).toContain('+const b = 3;\n');
      expect(r.ok && r.value.diff.startsWith('--- a/e.ts\n+++ b/e.ts\n@@ -1,3 +1,3 @@')).toBe(true);
      expect(read('e.ts')).toBe('const a = 9;\nconst b = 3;\nconst a2 = 9;\n');
    });

    it('applies an edit of a large file whole, and answers with a diff cut to fit one result frame', async () => {
      const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(80)}`);
      put('big.txt', `${lines.join('\n')}\n`);
      const r = await sb.call('edit_file', {
        path: 'big.txt',
        edits: [{ oldText: 'x', newText: 'y', replaceAll: true }],
      });
      expect(r).toMatchObject({ ok: true, value: { applied: true, diffTruncated: true, replacements: 40_000 * 80 } });
      const diff = r.ok ? r.value.diff : '';
      expect(diff.length).toBeLessThanOrEqual(MAX_DIFF_RESULT_CHARS + 100);
      expect(utf8ByteLength(JSON.stringify(r))).toBeLessThan(MAX_FRAME_BYTES);
      expect(diff.startsWith('--- a/big.txt\n+++ b/big.txt\n')).toBe(true);
      expect(diff).toMatch(/\n… \d+ lines of the diff not shown …\n/);
      expect(diff.endsWith(`+line 39999 ${'y'.repeat(80)}\n`)).toBe(true);
      expect(read('big.txt')).toBe(`${lines.map((l) => l.replace(/x/g, 'y')).join('\n')}\n`);
      const small = await sb.call('edit_file', { path: 'e.ts', edits: [{ oldText: 'const b', newText: 'let b' }] });
      expect(small).toMatchObject({ ok: true, value: { diffTruncated: false } });
    });

    it('changes nothing on dryRun or when a later edit fails', async () => {
      const dry = await sb.call('edit_file', {
        path: 'e.ts',
        dryRun: true,
        edits: [{ oldText: 'const b', newText: 'let b' }],
      });
      expect(dry).toMatchObject({ ok: true, value: { applied: false, replacements: 1 } });
      const bad = await sb.call('edit_file', {
        path: 'e.ts',
        edits: [
          { oldText: 'const b', newText: 'let b' },
          { oldText: 'absent', newText: '' },
        ],
      });
      expect(bad).toMatchObject({ ok: false, error: { code: 'no_match' } });
      expect(read('e.ts')).toBe('const a = 1;\nconst b = 2;\nconst a2 = 1;\n');
    });

    it('names the nearest line when the text is not found, and counts ambiguous matches', async () => {
      const miss = await sb.call('edit_file', { path: 'e.ts', edits: [{ oldText: 'const b = 5;', newText: '' }] });
      expect(miss).toMatchObject({
        ok: false,
        error: { code: 'no_match', details: { nearestLine: 2, nearestText: 'const b = 2;' } },
      });
      const many = await sb.call('edit_file', { path: 'e.ts', edits: [{ oldText: '= 1;', newText: '' }] });
      expect(many).toMatchObject({ ok: false, error: { code: 'ambiguous_match', details: { count: 2 } } });
      expect(await sb.call('edit_file', { path: 'nope.ts', edits: [{ oldText: 'a', newText: 'b' }] })).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      expect(await sb.call('edit_file', { path: 'e.ts', edits: [] })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    });

    it('matches LF-written edits in a CRLF file', async () => {
      put('w.txt', 'a\r\nb\r\nc\r\n');
      expect((await sb.call('edit_file', { path: 'w.txt', edits: [{ oldText: 'a\nb', newText: 'x\ny' }] })).ok).toBe(
        true,
      );
      expect(read('w.txt')).toBe('x\r\ny\r\nc\r\n');
    });
  });

  describe('move', () => {
    it('renames, refuses to overwrite unless asked, and creates the target folder', async () => {
      put('a.txt', 'A');
      put('b.txt', 'B');
      expect(await sb.call('move', { from: 'a.txt', to: 'b.txt' })).toMatchObject({
        ok: false,
        error: { code: 'already_exists' },
      });
      expect(await sb.call('move', { from: 'a.txt', to: 'b.txt', overwrite: true })).toEqual({
        ok: true,
        value: { from: 'a.txt', to: 'b.txt' },
      });
      expect(read('b.txt')).toBe('A');
      expect(await sb.call('move', { from: 'b.txt', to: 'new/dir/c.txt' })).toMatchObject({ ok: true });
      expect(read('new/dir/c.txt')).toBe('A');
      expect(await sb.call('move', { from: 'gone', to: 'x' })).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      expect(await sb.call('move', { from: 'new', to: 'new/dir/inner' })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
      expect(await sb.call('move', { from: '.', to: 'x' })).toMatchObject({
        ok: false,
        error: { code: 'path_outside_workspace' },
      });
    });

    it('moves a symlink as a link', async () => {
      put('t.txt', 'T');
      symlinkSync('t.txt', path.join(sb.root, 'l'));
      expect((await sb.call('move', { from: 'l', to: 'l2' })).ok).toBe(true);
      expect(lstatSync(path.join(sb.root, 'l2')).isSymbolicLink()).toBe(true);
      expect(read('t.txt')).toBe('T');
    });
  });

  describe('delete', () => {
    it('deletes files, empty folders, and non-empty ones only when recursive', async () => {
      put('f.txt', '');
      put('d/x.txt', '');
      mkdirSync(path.join(sb.root, 'empty'));
      expect(await sb.call('delete', { path: 'f.txt' })).toEqual({ ok: true, value: { path: 'f.txt', deleted: true } });
      expect(await sb.call('delete', { path: 'empty' })).toMatchObject({ ok: true });
      expect(await sb.call('delete', { path: 'd' })).toMatchObject({ ok: false, error: { code: 'not_empty' } });
      expect(await sb.call('delete', { path: 'd', recursive: true })).toMatchObject({ ok: true });
      expect(readdirSync(sb.root)).toEqual([]);
      expect(await sb.call('delete', { path: 'f.txt' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    });

    it('never deletes the root, and deletes a link rather than its target', async () => {
      put('keep/k.txt', 'k');
      symlinkSync('keep', path.join(sb.root, 'l'));
      expect(await sb.call('delete', { path: 'l', recursive: true })).toMatchObject({ ok: true });
      expect(read('keep/k.txt')).toBe('k');
      for (const p of ['.', './', 'keep/..', sb.root]) {
        expect(await sb.call('delete', { path: p, recursive: true })).toMatchObject({
          ok: false,
          error: { code: 'path_outside_workspace' },
        });
      }
      expect(existsSync(path.join(sb.root, 'keep/k.txt'))).toBe(true);
    });
  });

  describe('mkdir', () => {
    it('creates folders recursively and says when they existed', async () => {
      expect(await sb.call('mkdir', { path: 'a/b/c' })).toEqual({ ok: true, value: { path: 'a/b/c', created: true } });
      expect(await sb.call('mkdir', { path: 'a/b' })).toEqual({ ok: true, value: { path: 'a/b', created: false } });
      put('file', '');
      expect(await sb.call('mkdir', { path: 'file' })).toMatchObject({ ok: false, error: { code: 'already_exists' } });
      expect(await sb.call('mkdir', { path: 'file/sub' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_directory' },
      });
    });
  });

  describe('search', () => {
    it('finds literal text with 1-based line and column, and refuses bad input', async () => {
      put('s.txt', 'alpha\n  beta gamma\nbeta\n');
      const r = await sb.call('search', { pattern: 'beta' });
      expect(r).toEqual({
        ok: true,
        value: {
          engine: 'js',
          truncated: false,
          matches: [
            { path: 's.txt', line: 2, column: 3, text: '  beta gamma' },
            { path: 's.txt', line: 3, column: 1, text: 'beta' },
          ],
        },
      });
      expect(await sb.call('search', { pattern: '(', regex: true })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
      expect(await sb.call('search', { pattern: 'x', path: 'nope' })).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      expect(await sb.call('search', { pattern: 'x', maxResults: 0 })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    });
  });
});

describe('boundDiff', () => {
  it('keeps a diff under the limit as it is, and cuts a longer one at line ends, even one long line', () => {
    expect(boundDiff('a\nb\n', 10)).toEqual({ text: 'a\nb\n', truncated: false });
    const diff = Array.from({ length: 10 }, (_, i) => `+${i}`).join('\n') + '\n';
    expect(boundDiff(diff, 12)).toEqual({
      text: '+0\n+1\n… 6 lines of the diff not shown …\n+8\n+9\n',
      truncated: true,
    });
    const oneLine = boundDiff(`+${'z'.repeat(100)}\n`, 20);
    expect(oneLine.truncated).toBe(true);
    expect(oneLine.text.length).toBeLessThan(80);
  });
});
