import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TOOLS, TetherError, confirmationDetailSchema, type ToolArgsInput, type ToolName } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fsSandbox, type FsSandbox } from './test-fixtures.js';
import { previewWrite } from './write-preview.js';

let sb: FsSandbox;
beforeEach(async () => {
  sb = await fsSandbox();
  writeFileSync(path.join(sb.root, 'a.ts'), 'one\ntwo\nthree\n');
  writeFileSync(path.join(sb.outside, 'secret.txt'), 'secret\n');
  symlinkSync(sb.outside, path.join(sb.root, 'out'));
});
afterEach(async () => {
  await sb.remove();
});

/** Parses like the host, previews, and checks the detail against the shared schema. */
async function preview<T extends ToolName>(tool: T, args: ToolArgsInput<T>) {
  const detail = await previewWrite(tool, TOOLS[tool].args.parse(args), { guard: sb.guard });
  return confirmationDetailSchema.parse(detail);
}

function tree(): string {
  return JSON.stringify(readdirSync(sb.base, { recursive: true }).sort());
}

describe('previewWrite', () => {
  it('shows a new file as an addition diff with a one-line summary', async () => {
    const d = await preview('write_file', { path: 'src/new.ts', content: 'x\ny\n' });
    expect(d).toMatchObject({ kind: 'write', path: 'src/new.ts', isNew: true, summary: 'create src/new.ts: 2 lines' });
    expect(d.kind === 'write' && d.diff).toContain('+x\n+y\n');
  });

  it('shows a replacement as a diff against the current content', async () => {
    const d = await preview('write_file', { path: 'a.ts', content: 'one\nTWO\nthree\n' });
    expect(d).toMatchObject({ kind: 'write', isNew: false, summary: 'write a.ts: 3 lines' });
    expect(d.kind === 'write' && d.diff).toContain('-two\n+TWO\n');
  });

  it('summarises binary content instead of diffing it', async () => {
    const d = await preview('write_file', {
      path: 'b.bin',
      content: Buffer.from([0, 1, 2]).toString('base64'),
      encoding: 'base64',
    });
    expect(d).toMatchObject({ kind: 'write', diff: '', summary: 'create b.bin with 3 bytes of binary content' });
  });

  it('shows the diff an edit would make', async () => {
    const d = await preview('edit_file', { path: 'a.ts', edits: [{ oldText: 'two', newText: '2' }] });
    expect(d).toMatchObject({ kind: 'write', path: 'a.ts', summary: 'edit a.ts: 1 replacement' });
    expect(d.kind === 'write' && d.diff).toContain('-two\n+2\n');
  });

  it('summarises move, delete and mkdir', async () => {
    mkdirSync(path.join(sb.root, 'd'));
    writeFileSync(path.join(sb.root, 'd', 'x'), '');
    expect(await preview('move', { from: 'a.ts', to: 'b.ts' })).toEqual({
      kind: 'other',
      summary: 'move a.ts to b.ts',
    });
    mkdirSync(path.join(sb.root, 'd', 'sub'));
    writeFileSync(path.join(sb.root, 'd', 'sub', 'y'), 'hello');
    expect(await preview('delete', { path: 'd', recursive: true })).toEqual({
      kind: 'delete',
      path: 'd',
      what: 'folder',
      files: 2,
      folders: 1,
      bytes: 5,
      capped: false,
      permanent: true,
    });
    expect(await preview('delete', { path: 'a.ts' })).toMatchObject({
      kind: 'delete',
      what: 'file',
      bytes: 14,
      permanent: true,
    });
    expect(await preview('mkdir', { path: 'n/m' })).toEqual({ kind: 'other', summary: 'create folder n/m' });
  });

  it('counts what a delete removes up to a cap, then says it stopped counting', async () => {
    const { countTree } = await import('./write-preview.js');
    mkdirSync(path.join(sb.root, 'many'));
    for (let i = 0; i < 12; i++) writeFileSync(path.join(sb.root, 'many', `f${i}`), 'x');
    expect(await countTree(path.join(sb.root, 'many'), 5)).toMatchObject({ capped: true, files: 5 });
    expect(await countTree(path.join(sb.root, 'many'), 100)).toEqual({
      files: 12,
      folders: 0,
      bytes: 12,
      capped: false,
    });
  });

  it('never writes anything', async () => {
    const before = tree();
    await preview('write_file', { path: 'deep/er/new.ts', content: 'x' });
    await preview('edit_file', { path: 'a.ts', edits: [{ oldText: 'one', newText: '1' }] });
    await preview('delete', { path: 'a.ts' });
    await preview('mkdir', { path: 'q' });
    await preview('move', { from: 'a.ts', to: 'z/b.ts' });
    expect(tree()).toBe(before);
    expect(readFileSync(path.join(sb.root, 'a.ts'), 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('throws the same errors as the tools would', async () => {
    const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
      p.then(
        () => undefined,
        (e: unknown) => (e instanceof TetherError ? e.code : String(e)),
      );
    expect(await codeOf(preview('write_file', { path: 'out/secret.txt', content: 'x' }))).toBe(
      'path_outside_workspace',
    );
    expect(
      await codeOf(
        preview('edit_file', { path: '../outside/secret.txt', edits: [{ oldText: 'secret', newText: 'x' }] }),
      ),
    ).toBe('path_outside_workspace');
    expect(await codeOf(preview('delete', { path: '.' }))).toBe('path_outside_workspace');
    expect(await codeOf(preview('move', { from: 'a.ts', to: 'out/a.ts' }))).toBe('path_outside_workspace');
    expect(await codeOf(preview('edit_file', { path: 'a.ts', edits: [{ oldText: 'four', newText: 'x' }] }))).toBe(
      'no_match',
    );
    expect(await codeOf(preview('delete', { path: 'missing' }))).toBe('not_found');
  });
});
