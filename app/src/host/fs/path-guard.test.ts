import { mkdirSync, renameSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TetherError } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PathGuard } from './path-guard.js';
import { fsSandbox, type FsSandbox } from './test-fixtures.js';

let sb: FsSandbox;
beforeEach(async () => {
  sb = await fsSandbox();
  mkdirSync(path.join(sb.root, 'src'));
  writeFileSync(path.join(sb.root, 'src', 'a.ts'), 'a');
  symlinkSync('src', path.join(sb.root, 'alias'));
  symlinkSync('src/a.ts', path.join(sb.root, 'a-link.ts'));
});
afterEach(async () => {
  await sb.remove();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof TetherError ? err.code : String(err);
  }
}

describe('PathGuard', () => {
  describe('open', () => {
    it('pins the real path of the root, through a symlink to it', async () => {
      symlinkSync(sb.root, path.join(sb.base, 'ws-link'));
      const guard = await PathGuard.open(path.join(sb.base, 'ws-link'));
      expect(guard.root).toBe(sb.root);
      expect(guard.caseInsensitive).toBe(false);
      // The root as the person gave it is accepted in absolute arguments too.
      expect((await guard.resolve(path.join(sb.base, 'ws-link', 'src'))).rel).toBe('src');
    });

    it('takes lstats synchronously only on a local file system (statfs), with the same answers', async () => {
      const guard = await PathGuard.open(sb.root);
      const local = [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630].includes(statfsSync(sb.root).type);
      expect(guard.localMetadata).toBe(process.platform === 'linux' && local);
      expect((await guard.resolve('src/a.ts')).stats?.isFile()).toBe(true);
      expect((await guard.resolve('src/missing')).exists).toBe(false);
      expect(await codeOf(guard.resolve('src/a.ts/below'))).toBe('ok');
      renameSync(sb.root, `${sb.root}-moved`);
      mkdirSync(sb.root);
      expect(await codeOf(guard.resolve('src'))).toBe('path_outside_workspace');
    });

    it('refuses a missing root and a file as root', async () => {
      expect(await codeOf(PathGuard.open(path.join(sb.base, 'nope')))).toBe('not_found');
      writeFileSync(path.join(sb.base, 'file'), '');
      expect(await codeOf(PathGuard.open(path.join(sb.base, 'file')))).toBe('not_a_directory');
    });
  });

  describe('resolve', () => {
    it('resolves relative and absolute paths to real paths with posix rel', async () => {
      expect(await sb.guard.resolve('src/a.ts')).toMatchObject({
        abs: path.join(sb.root, 'src/a.ts'),
        rel: 'src/a.ts',
        exists: true,
        entry: path.join(sb.root, 'src/a.ts'),
        isSymlink: false,
      });
      expect(await sb.guard.resolve('.')).toMatchObject({ abs: sb.root, rel: '.', exists: true });
      expect(await sb.guard.resolve(`${sb.root}/src`)).toMatchObject({ rel: 'src' });
    });

    it('follows inside symlinks: abs is the target, entry the link itself', async () => {
      expect(await sb.guard.resolve('alias/a.ts')).toMatchObject({
        abs: path.join(sb.root, 'src/a.ts'),
        rel: 'alias/a.ts',
        isSymlink: false,
      });
      expect(await sb.guard.resolve('a-link.ts')).toMatchObject({
        abs: path.join(sb.root, 'src/a.ts'),
        entry: path.join(sb.root, 'a-link.ts'),
        isSymlink: true,
      });
    });

    it('follows a chain of links that stays inside, and refuses one that passes outside', async () => {
      symlinkSync('a-link.ts', path.join(sb.root, 'chain.ts'));
      symlinkSync(path.join(sb.root, 'alias'), path.join(sb.root, 'abs-alias'));
      expect(await sb.guard.resolve('chain.ts')).toMatchObject({
        abs: path.join(sb.root, 'src/a.ts'),
        isSymlink: true,
      });
      expect(await sb.guard.resolve('abs-alias/a.ts')).toMatchObject({ abs: path.join(sb.root, 'src/a.ts') });
      symlinkSync(path.join(sb.root, 'src'), path.join(sb.outside, 'back'));
      symlinkSync(path.join(sb.outside, 'back'), path.join(sb.root, 'via-outside'));
      expect(await codeOf(sb.guard.resolve('via-outside/a.ts'))).toBe('path_outside_workspace');
    });

    it('resolves a path that does not exist yet against its nearest real ancestor', async () => {
      expect(await sb.guard.resolve('alias/new/deeper.txt')).toMatchObject({
        abs: path.join(sb.root, 'src/new/deeper.txt'),
        exists: false,
      });
    });

    it('refuses the root only when asked to', async () => {
      expect(await codeOf(sb.guard.resolve('.', { allowRoot: false }))).toBe('path_outside_workspace');
      expect(await codeOf(sb.guard.resolve('src/..', { allowRoot: false }))).toBe('path_outside_workspace');
      expect(await codeOf(sb.guard.resolve('src', { allowRoot: false }))).toBe('ok');
    });

    it('refuses a root replaced by another folder at the same path', async () => {
      renameSync(sb.root, `${sb.root}-old`);
      mkdirSync(sb.root);
      expect(await codeOf(sb.guard.resolve('src'))).toBe('path_outside_workspace');
      renameSync(sb.root, `${sb.root}-new`);
      expect(await codeOf(sb.guard.resolve('src'))).toBe('not_found');
    });
  });

  describe('relative', () => {
    it('maps real paths inside to posix rel and refuses others', () => {
      expect(sb.guard.relative(path.join(sb.root, 'src', 'a.ts'))).toBe('src/a.ts');
      expect(sb.guard.relative(sb.root)).toBe('.');
      expect(() => sb.guard.relative(sb.evil)).toThrow(TetherError);
    });
  });
});
