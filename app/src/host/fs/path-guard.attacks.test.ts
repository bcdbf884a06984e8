import { execFileSync } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  lstatSync,
  renameSync,
  symlinkSync,
  writeFileSync,
  readlinkSync,
} from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, type ToolArgsInput, type ToolName } from '@tether/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeSearchWorkers } from '../search/search-worker-pool.js';
import { fsSandbox, type CallOutcome, type FsSandbox } from './test-fixtures.js';

/** Content of every file outside the workspace: it must never show up in any answer. */
const SECRET = 'TOP-SECRET-7f3a';

let sb: FsSandbox;
let before: string;

/** Everything under `base` except the workspace: names, types, contents, link targets, mtimes. */
function snapshotOutside(base: string, root: string): string {
  const lines: string[] = [];
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      if (abs === root) continue;
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) lines.push(`L ${abs} -> ${readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        lines.push(`D ${abs} ${st.mtimeMs}`);
        visit(abs);
      } else lines.push(`F ${abs} ${st.mtimeMs} ${st.ino} ${readFileSync(abs, 'utf8')}`);
    }
  };
  visit(base);
  return lines.join('\n');
}

beforeAll(async () => {
  sb = await fsSandbox({ searchEngine: 'auto' });
  const { root, outside, evil, base } = sb;
  writeFileSync(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  mkdirSync(path.join(outside, 'dir'));
  writeFileSync(path.join(outside, 'dir', 'inner.txt'), `${SECRET} inner\n`);
  writeFileSync(path.join(evil, 'secret.txt'), `${SECRET} evil\n`);
  writeFileSync(path.join(root, 'inside.txt'), 'inside\n');
  mkdirSync(path.join(root, 'inner'));
  const link = (target: string, at: string): void => symlinkSync(target, path.join(root, at));
  link(outside, 'link-out');
  link(path.join(outside, 'secret.txt'), 'file-link');
  link('../outside', 'rel-link');
  link('../outside/secret.txt', 'rel-file-link');
  link('chain2', 'chain1');
  link(path.join(outside, 'secret.txt'), 'chain2');
  link(outside, 'inner/deep-link');
  link('../outside/not-yet.txt', 'dangling-out');
  link('nothing-here', 'dangling-in');
  link('loop-b', 'loop-a');
  link('loop-a', 'loop-b');
  link('self-loop', 'self-loop');
  link(outside, 'evil-parent');
  link(base, 'link-base');
  link('/', 'link-fs-root');
  link(evil, 'link-evil');
  link('/proc/self/cwd', 'link-proc');
  link('..', 'link-dotdot');
  // Out and back in: the outside owner could re-aim it at any time.
  symlinkSync(path.join(root, 'inside.txt'), path.join(outside, 'back-file'));
  symlinkSync(path.join(root, 'inner'), path.join(outside, 'back-dir'));
  link(path.join(outside, 'back-file'), 'out-and-back');
  link('../outside/back-dir', 'out-and-back-dir');
  before = snapshotOutside(base, root);
});
afterAll(async () => {
  await sb?.remove();
  await disposeSearchWorkers();
});

/** The attack corpus: every path must be refused by every tool. */
function attacks(): string[] {
  const { base, root, outside } = sb;
  return [
    '..',
    '../',
    '../outside/secret.txt',
    '../../etc/passwd',
    'a/../../outside/secret.txt',
    './../outside',
    'inner/./../../outside/secret.txt',
    'inner/../..',
    '/etc/passwd',
    '/',
    base,
    path.join(outside, 'secret.txt'),
    `${root}-evil/secret.txt`,
    `${root}/../ws-evil/secret.txt`,
    `${root}/../outside`,
    `${root}/inner/../../outside/secret.txt`,
    '/proc/self/root/etc/passwd',
    'link-out',
    'link-out/secret.txt',
    'link-out/dir/inner.txt',
    'link-out/new-file.txt',
    'file-link',
    'rel-link/secret.txt',
    'rel-file-link',
    'chain1',
    'inner/deep-link/secret.txt',
    'dangling-out',
    'dangling-in',
    'loop-a',
    'loop-a/x',
    'self-loop',
    'evil-parent/new.txt',
    'evil-parent/deeper/new.txt',
    'link-base/outside/secret.txt',
    'link-base/ws/inside.txt',
    'link-fs-root/etc/passwd',
    'link-evil/secret.txt',
    'link-proc',
    'link-dotdot/outside/secret.txt',
    'out-and-back',
    'out-and-back-dir',
    'out-and-back-dir/new.txt',
    'a\0b',
    '\0',
    'inside.txt\0.png',
    '..\\outside\\secret.txt',
    'inner\\..\\..\\outside',
    'C:\\Windows\\win.ini',
    'C:/outside',
    'c:..\\outside',
    '\\\\server\\share\\secret.txt',
    '//server/share/secret.txt',
    '\\\\?\\C:\\secret.txt',
    '\\\\.\\pipe\\x',
    '//?/C:/x',
    'file:///etc/passwd',
    `file://${path.join(outside, 'secret.txt')}`,
  ];
}

type Probe = { tool: ToolName; args: (p: string) => ToolArgsInput<ToolName> };
const PROBES: Probe[] = [
  { tool: 'read_file', args: (p) => ({ path: p }) },
  { tool: 'read_file', args: (p) => ({ path: p, encoding: 'base64' }) },
  { tool: 'stat', args: (p) => ({ path: p }) },
  { tool: 'list_dir', args: (p) => ({ path: p, depth: 2 }) },
  { tool: 'glob', args: (p) => ({ pattern: '**', path: p }) },
  { tool: 'search', args: (p) => ({ pattern: SECRET, path: p }) },
  { tool: 'write_file', args: (p) => ({ path: p, content: 'pwned' }) },
  { tool: 'write_file', args: (p) => ({ path: `${p}/child.txt`, content: 'pwned' }) },
  { tool: 'edit_file', args: (p) => ({ path: p, edits: [{ oldText: SECRET, newText: 'pwned' }] }) },
  { tool: 'delete', args: (p) => ({ path: p, recursive: true }) },
  { tool: 'move', args: (p) => ({ from: p, to: 'stolen.txt', overwrite: true }) },
  { tool: 'move', args: (p) => ({ from: 'inside.txt', to: p, overwrite: true }) },
  { tool: 'mkdir', args: (p) => ({ path: p }) },
];

function expectRefused(outcome: CallOutcome<ToolName>, what: string): void {
  expect(outcome, what).toMatchObject({ ok: false, error: { code: 'path_outside_workspace' } });
  const text = JSON.stringify(outcome);
  expect(text, what).not.toContain(SECRET);
  expect(text, what).not.toContain(sb.base);
  if (!outcome.ok) expect(outcome.error.message, what).toBe(ERROR_CODES.path_outside_workspace.message);
}

describe('PathGuard', () => {
  describe('attack corpus through the real tools', () => {
    it.each(PROBES.map((p, i) => ({ ...p, name: `${p.tool}#${i}` })))(
      '$name refuses every attack and changes nothing',
      async (probe) => {
        for (const attack of attacks()) {
          const outcome = await sb.call(probe.tool, probe.args(attack) as never);
          expectRefused(outcome, `${probe.tool} ${JSON.stringify(attack)}`);
        }
        expect(snapshotOutside(sb.base, sb.root)).toBe(before);
        expect(readFileSync(path.join(sb.root, 'inside.txt'), 'utf8')).toBe('inside\n');
      },
    );

    it('search and list of the whole workspace never follow a link out', async () => {
      const found = await sb.call('search', { pattern: SECRET });
      expect(found).toMatchObject({ ok: true, value: { matches: [] } });
      const listed = await sb.call('list_dir', { depth: 10, includeHidden: true });
      expect(JSON.stringify(listed)).not.toContain(SECRET);
      expect(listed.ok && listed.value.entries.find((e) => e.path === 'link-out')?.type).toBe('symlink');
      expect(listed.ok && listed.value.entries.some((e) => e.path.startsWith('link-out/'))).toBe(false);
      const globbed = await sb.call('glob', { pattern: '**/*.txt' });
      expect(globbed).toEqual({ ok: true, value: { matches: ['inside.txt'], truncated: false } });
    });
  });

  describe('hard links and special files', () => {
    it('replaces a hard link to an outside file instead of modifying it in place', async () => {
      const outsideFile = path.join(sb.outside, 'hard-target.txt');
      writeFileSync(outsideFile, 'outside original\n');
      linkSync(outsideFile, path.join(sb.root, 'hard.txt'));
      linkSync(outsideFile, path.join(sb.root, 'hard2.txt'));
      expect((await sb.call('write_file', { path: 'hard.txt', content: 'changed\n' })).ok).toBe(true);
      expect(
        (await sb.call('edit_file', { path: 'hard2.txt', edits: [{ oldText: 'original', newText: 'edited' }] })).ok,
      ).toBe(true);
      expect(readFileSync(outsideFile, 'utf8')).toBe('outside original\n');
      expect(readFileSync(path.join(sb.root, 'hard2.txt'), 'utf8')).toBe('outside edited\n');
    });

    it('never opens a FIFO (a read would hang) and never writes into one', async () => {
      execFileSync('mkfifo', [path.join(sb.root, 'fifo')]);
      expect(await sb.call('read_file', { path: 'fifo' })).toMatchObject({ ok: false, error: { code: 'not_a_file' } });
      expect(await sb.call('edit_file', { path: 'fifo', edits: [{ oldText: 'a', newText: 'b' }] })).toMatchObject({
        ok: false,
        error: { code: 'not_a_file' },
      });
      expect(await sb.call('write_file', { path: 'fifo', content: 'x' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_file' },
      });
      expect(await sb.call('search', { pattern: 'x', path: 'fifo' })).toMatchObject({
        ok: false,
        error: { code: 'not_a_file' },
      });
      expect(lstatSync(path.join(sb.root, 'fifo')).isFIFO()).toBe(true);
    });
  });

  describe('benign paths', () => {
    it.each([
      ['a name with spaces', 'with space.txt'],
      ['unicode', 'ünï cødé 😀.txt'],
      ['a 255-byte name', `${'é'.repeat(125)}.txt`.slice(0, 127)],
      ['a literal ~ (never expanded)', '~/notes.txt'],
      ['three dots', '...'],
      ['dots inside names', '..foo..'],
      ['a backslash path (a separator everywhere)', 'sub\\file.txt'],
      ['an absolute path inside', '<root>/abs.txt'],
      ['a Windows device name on Linux', 'CON'],
    ])('accepts %s', async (_name, raw) => {
      const p = raw.replace('<root>', sb.root);
      const w = await sb.call('write_file', { path: p, content: 'ok' });
      expect(w).toMatchObject({ ok: true });
      const r = await sb.call('read_file', { path: p });
      expect(r).toMatchObject({ ok: true, value: { content: 'ok' } });
      expect(await sb.call('delete', { path: p })).toMatchObject({ ok: true });
      if (p.startsWith('~')) expect(readdirSync(path.join(sb.root, '~'))).toEqual([]);
    });

    it('accepts exactly 255 bytes in one name and refuses 256', async () => {
      const name = `${'a'.repeat(251)}.txt`;
      expect(Buffer.byteLength(name)).toBe(255);
      expect(await sb.call('write_file', { path: name, content: '' })).toMatchObject({ ok: true });
      expect(await sb.call('write_file', { path: `b${name}`, content: '' })).toMatchObject({
        ok: false,
        error: { code: 'invalid_args' },
      });
    });
  });

  describe('a root replaced after open', () => {
    it('refuses every call once the root is swapped for a symlink, and reports a vanished root as not_found', async () => {
      const other = await fsSandbox();
      try {
        writeFileSync(path.join(other.outside, 'secret.txt'), SECRET);
        writeFileSync(path.join(other.root, 'a.txt'), 'a');
        renameSync(other.root, `${other.root}-moved`);
        expect(await other.call('read_file', { path: 'a.txt' })).toMatchObject({
          ok: false,
          error: { code: 'not_found', details: { reason: 'root_gone' } },
        });
        symlinkSync(other.outside, other.root);
        for (const p of ['secret.txt', '.', 'a.txt']) {
          expectRefusedFor(await other.call('read_file', { path: p }), other, p);
          expectRefusedFor(await other.call('write_file', { path: p === '.' ? 'x' : p, content: 'pwned' }), other, p);
          expectRefusedFor(await other.call('list_dir', { path: p }), other, p);
        }
        expect(readFileSync(path.join(other.outside, 'secret.txt'), 'utf8')).toBe(SECRET);
      } finally {
        await other.remove();
      }
    });
  });
});

function expectRefusedFor(outcome: CallOutcome<ToolName>, box: FsSandbox, what: string): void {
  expect(outcome, what).toMatchObject({ ok: false, error: { code: 'path_outside_workspace' } });
  expect(JSON.stringify(outcome), what).not.toContain(SECRET);
  expect(JSON.stringify(outcome), what).not.toContain(box.base);
}
