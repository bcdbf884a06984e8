import { chmod, lstat, readFile, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { AsyncEntry, type EntryOptions } from '@napi-rs/keyring';
import { defaultConfigDir, writeFileAtomic } from '../config/config-store.js';

/** File the token is kept in when there is no OS keychain (mode 0600). */
export const TOKEN_FILE = 'desktop-token';

/** Keychain service and account of the desktop token. */
export const KEYCHAIN_SERVICE = 'Tether Desktop';
export const KEYCHAIN_ACCOUNT = 'desktop-token';

/**
 * The keychain account of a config dir: the plain account for the person's default config
 * dir, and one of its own for any other (`--config-dir`), so that a second install, a test
 * run or a demo never reads or overwrites the person's real token.
 */
export function keychainAccountFor(configDir: string, base: string = KEYCHAIN_ACCOUNT): string {
  const dir = resolve(configDir);
  if (dir === resolve(defaultConfigDir())) return base;
  return `${base}:${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
}

/** How long the keychain probe may take: a D-Bus call that never answers must not hold up start-up. */
export const KEYCHAIN_PROBE_TIMEOUT_MS = 5000;

/** Longest token accepted: far above any real token, small enough to refuse garbage. */
export const MAX_TOKEN_CHARS = 500;

/** Options of `TokenStore.open`. */
export interface TokenStoreOptions {
  service?: string;
  account?: string;
  /** False skips the keychain (tests, or a person who prefers the file). Default true. */
  useKeychain?: boolean;
  /** The file in the config dir used without a keychain; default TOKEN_FILE. */
  file?: string;
  /** What is kept, in the person's warnings; default "desktop token". */
  what?: string;
}

/**
 * Where a secret of the desktop lives (the desktop token; the device key, see device-key.ts): the OS keychain (macOS Keychain, Windows Credential Manager,
 * Secret Service on Linux) through @napi-rs/keyring when one works here, otherwise a 0600
 * file in the config directory, with a warning. The token is never logged.
 */
export class TokenStore {
  /** Problems and notices for the person (e.g. "no keychain: the token is in a file"). */
  readonly warnings: string[] = [];
  readonly kind: 'keychain' | 'file';
  private readonly filePath: string;
  private readonly entry: AsyncEntry | null;

  private constructor(
    configDir: string,
    entry: AsyncEntry | null,
    file: string,
    private readonly what: string,
  ) {
    this.filePath = join(configDir, file);
    this.entry = entry;
    this.kind = entry ? 'keychain' : 'file';
  }

  /** Probes the keychain and opens the store that works. */
  static async open(configDir: string, options: TokenStoreOptions = {}): Promise<TokenStore> {
    const entry =
      options.useKeychain === false
        ? null
        : await probeKeychain(options.service ?? KEYCHAIN_SERVICE, options.account ?? keychainAccountFor(configDir));
    const store = new TokenStore(configDir, entry, options.file ?? TOKEN_FILE, options.what ?? 'desktop token');
    if (store.entry) {
      await store.migrateFileToKeychain();
    } else {
      store.warnings.push(
        `No OS keychain is available here, so the ${store.what} is kept in ${store.filePath} (readable only by you, mode 0600).`,
      );
      await store.checkFileMode();
    }
    return store;
  }

  /** The stored token, or null when there is none. */
  async get(): Promise<string | null> {
    if (this.entry) return (await this.entry.getPassword()) ?? null;
    await this.checkFileMode();
    try {
      const token = (await readFile(this.filePath, 'utf8')).trim();
      return token.length > 0 ? token : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Stores the token, replacing any previous one. */
  async set(token: string): Promise<void> {
    const value = token.trim();
    if (value.length === 0 || value.length > MAX_TOKEN_CHARS || /\s/.test(value)) {
      throw new Error('The token must be 1 to 500 characters with no spaces or line breaks.');
    }
    if (this.entry) await this.entry.setPassword(value);
    else await writeFileAtomic(this.filePath, `${value}\n`, 0o600);
  }

  /** Forgets the token. */
  async clear(): Promise<void> {
    if (this.entry) await this.entry.deletePassword();
    await unlink(this.filePath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** A token file others can read is repaired to 0600 (and the person told). */
  private async checkFileMode(): Promise<void> {
    if (process.platform === 'win32') return; // POSIX modes do not apply; the profile folder's ACL protects it.
    let mode: number;
    try {
      const info = await lstat(this.filePath);
      if (!info.isFile())
        throw new Error(`${this.filePath} is not a regular file; refusing to use it for the ${this.what}.`);
      mode = info.mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if ((mode & 0o077) !== 0) {
      await chmod(this.filePath, 0o600);
      this.warnings.push(
        `The ${this.what} file ${this.filePath} was readable by others (mode ${mode.toString(8)}); it was changed to 0600.`,
      );
    }
  }

  /** A token left in the file from a time without keychain moves into the keychain. */
  private async migrateFileToKeychain(): Promise<void> {
    let token: string;
    try {
      token = (await readFile(this.filePath, 'utf8')).trim();
    } catch {
      return;
    }
    if (token && this.entry && (await this.entry.getPassword()) === null) await this.entry.setPassword(token);
    await unlink(this.filePath).catch(() => undefined);
    this.warnings.push(`The ${this.what} was moved from its file into the OS keychain.`);
  }
}

/**
 * Returns a keychain entry when the OS keychain answers here. On Linux the entry is pinned to
 * the Secret Service: the library's fallback, the kernel keyring, forgets everything at logout
 * or reboot, which for a token is worse than an honest 0600 file.
 */
async function probeKeychain(service: string, account: string): Promise<AsyncEntry | null> {
  const options: EntryOptions | undefined =
    process.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined;
  try {
    const entry = new AsyncEntry(service, account, options);
    await entry.getPassword(AbortSignal.timeout(KEYCHAIN_PROBE_TIMEOUT_MS));
    return entry;
  } catch {
    return null;
  }
}
