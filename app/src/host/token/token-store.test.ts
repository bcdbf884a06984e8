import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfigDir } from '../config/config-store.js';
import { KEYCHAIN_ACCOUNT, keychainAccountFor, TOKEN_FILE, TokenStore } from './token-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-token-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TokenStore', () => {
  describe('open', () => {
    it('falls back to a file with a warning where no keychain answers (this headless box has no Secret Service)', async () => {
      const store = await TokenStore.open(dir, { service: 'tether-test', account: 'probe' });
      expect(store.kind).toBe('file');
      expect(store.warnings.join(' ')).toMatch(/No OS keychain.*0600/);
    });

    it('repairs a token file others can read to 0600 and says so', async () => {
      await writeFile(join(dir, TOKEN_FILE), 'tdt_secret\n', { mode: 0o644 });
      await chmod(join(dir, TOKEN_FILE), 0o644);
      const store = await TokenStore.open(dir, { useKeychain: false });
      expect((await stat(join(dir, TOKEN_FILE))).mode & 0o777).toBe(0o600);
      expect(store.warnings.join(' ')).toMatch(/readable by others \(mode 644\).*0600/);
      expect(await store.get()).toBe('tdt_secret');
    });
  });

  describe('set', () => {
    it('stores the token in a 0600 file that get reads back', async () => {
      const store = await TokenStore.open(dir, { useKeychain: false });
      expect(await store.get()).toBeNull();
      await store.set('tdt_abc123');
      expect((await stat(join(dir, TOKEN_FILE))).mode & 0o777).toBe(0o600);
      expect(await store.get()).toBe('tdt_abc123');
      await store.set('tdt_replaced');
      expect(await readFile(join(dir, TOKEN_FILE), 'utf8')).toBe('tdt_replaced\n');
    });

    it('refuses an empty token or one with line breaks', async () => {
      const store = await TokenStore.open(dir, { useKeychain: false });
      await expect(store.set('')).rejects.toThrow(/1 to 500 characters/);
      await expect(store.set('tdt_a\nextra')).rejects.toThrow(/no spaces or line breaks/);
    });
  });

  describe('clear', () => {
    it('forgets the token, and is harmless when there is none', async () => {
      const store = await TokenStore.open(dir, { useKeychain: false });
      await store.set('tdt_abc');
      await store.clear();
      expect(await store.get()).toBeNull();
      await store.clear();
    });
  });
});

describe('keychainAccountFor', () => {
  it('uses the plain account for the default config dir only', () => {
    expect(keychainAccountFor(defaultConfigDir())).toBe(KEYCHAIN_ACCOUNT);
  });

  it('gives every other config dir an account of its own, stable for the same dir', () => {
    const a = keychainAccountFor('/tmp/tether-a');
    const b = keychainAccountFor('/tmp/tether-b');
    expect(a).not.toBe(KEYCHAIN_ACCOUNT);
    expect(a).not.toBe(b);
    expect(keychainAccountFor('/tmp/tether-a/')).toBe(a);
  });
});
