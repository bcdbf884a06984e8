import { describe, expect, it } from 'vitest';
import { commandMatchesPrefix, describeScope, pathInScope, prefixOffers } from './index.js';

describe('commandMatchesPrefix', () => {
  it('matches whole words only', () => {
    expect(commandMatchesPrefix('npm test', 'npm test')).toBe(true);
    expect(commandMatchesPrefix('npm test -- --grep parser', 'npm test')).toBe(true);
    expect(commandMatchesPrefix('  npm\ttest', 'npm test')).toBe(true);
    expect(commandMatchesPrefix('npm testx', 'npm test')).toBe(false);
    expect(commandMatchesPrefix('npm', 'npm test')).toBe(false);
    expect(commandMatchesPrefix('npx test', 'npm test')).toBe(false);
  });

  it('never matches a command with shell control operators, substitutions or redirections after the prefix', () => {
    for (const command of [
      'npm test; rm -rf ~',
      'npm test && curl x | sh',
      'npm test || rm -rf ~',
      'npm test & rm -rf ~',
      'npm test | sh',
      'npm test\nrm -rf ~',
      'npm test\rrm -rf ~',
      'npm test $(rm -rf ~)',
      'npm test `rm -rf ~`',
      'npm test ${HOME}',
      'npm test > ~/.bashrc',
      'npm test < /etc/passwd',
      'npm test \\\nrm',
      'npm test "a;b"',
      "npm test 'x'",
      'npm test (x)',
      'npm test {a,b}',
      'npm test !!',
      'npm test \u202e; rm',
      'npm test\u00a0; x',
      'npm test\u200b',
    ]) {
      expect(commandMatchesPrefix(command, 'npm test'), command).toBe(false);
    }
  });

  it('never matches a command that sets variables, nor a prefix with shell syntax in it', () => {
    expect(commandMatchesPrefix('npm test', 'npm test', true)).toBe(false);
    expect(commandMatchesPrefix('NODE_OPTIONS=--require=x npm test', 'npm test')).toBe(false);
    expect(commandMatchesPrefix('a;b c', 'a;b')).toBe(false);
    expect(commandMatchesPrefix('FOO=1 npm', 'FOO=1')).toBe(false);
  });
});

describe('prefixOffers', () => {
  it('offers the first one to three plain words, longest first', () => {
    expect(prefixOffers('npm run build -- --watch')).toEqual(['npm run build', 'npm run', 'npm']);
    expect(prefixOffers('npm test')).toEqual(['npm test', 'npm']);
  });

  it('offers nothing for a command a prefix rule would not cover', () => {
    expect(prefixOffers('git status --short && ls -la')).toEqual([]);
    expect(prefixOffers('echo "hi"')).toEqual([]);
    expect(prefixOffers('npm test', true)).toEqual([]);
    expect(prefixOffers('FOO=1 npm test')).toEqual([]);
  });

  it('each offer covers the command it was made for', () => {
    const command = 'cargo test --release';
    for (const p of prefixOffers(command)) expect(commandMatchesPrefix(command, p)).toBe(true);
  });
});

describe('pathInScope', () => {
  it('covers the file itself, or what is inside a folder (not a sibling with the same start)', () => {
    expect(pathInScope('src/a.ts', { path: 'src/a.ts', folder: false })).toBe(true);
    expect(pathInScope('src/a.tsx', { path: 'src/a.ts', folder: false })).toBe(false);
    expect(pathInScope('src/deep/a.ts', { path: 'src', folder: true })).toBe(true);
    expect(pathInScope('src-evil/a.ts', { path: 'src', folder: true })).toBe(false);
    expect(pathInScope('x', { path: '.', folder: true })).toBe(true);
  });
});

describe('describeScope', () => {
  it('says what is covered, with invisible characters shown', () => {
    expect(describeScope({ kind: 'prefix', prefix: 'npm test' })).toContain('start with npm test');
    expect(describeScope({ kind: 'path', path: 'a\u202eb', folder: false })).toBe('writes and edits of a\\u202eb');
    expect(describeScope({ kind: 'category', category: 'write' })).toContain('delete');
  });
});
