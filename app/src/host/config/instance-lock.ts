import { createHash } from 'node:crypto';
import { lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { TetherError } from '@tether/shared';

/** How long a probe of a lock holder may take; one that does not answer in time counts as alive (never two hosts). */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * One host per config dir. Two hosts on one config would share a device id (the relay replaces
 * one with the other, close 4409), interleave the call journal and the audit log, and race on
 * config writes; the second start is refused instead, with a message naming the cause.
 *
 * The lock is a listening local socket, not a pid file: the OS drops it when the process dies
 * however it dies, so a crash never leaves a lock that a reused pid would seem to hold. On Linux
 * it is an abstract socket (no file: binding is the whole check, nothing is ever left behind),
 * on Windows a named pipe; elsewhere a socket file, which a crash leaves behind refusing
 * connections: it is replaced then.
 */
export class InstanceLock {
  private constructor(
    private readonly server: Server,
    private readonly address: string,
  ) {}

  /** Takes the lock of `configDir` (an absolute path), or fails with `conflict` if another host holds it. */
  static async acquire(configDir: string): Promise<InstanceLock> {
    const address = lockAddress(configDir);
    for (let attempt = 0; attempt < 2; attempt++) {
      const server = createServer((socket) => {
        socket.on('error', () => undefined); // a prober that hangs up first is not a problem
        socket.end(`tether-desktop ${process.pid}\n`);
      });
      const listening = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        server.once('error', resolve);
        server.listen(address, () => resolve(null));
      });
      if (listening === null) {
        server.unref(); // the lock alone never keeps the process alive
        return new InstanceLock(server, address);
      }
      if (listening.code !== 'EADDRINUSE') {
        throw new TetherError('internal', `Cannot take the lock of the config dir: ${listening.message}`);
      }
      const found = SOCKET_FILES ? await lstat(address).catch(() => null) : null;
      if (await answers(address)) {
        throw new TetherError(
          'conflict',
          `Tether Desktop is already running with the config dir ${configDir}; quit it first, or use another --config-dir.`,
        );
      }
      // A socket file left by a process that died: nobody listens any more. Removed only while it
      // is still the file found dead: another start may have replaced it with its live one since.
      const now = found ? await lstat(address).catch(() => null) : null;
      if (found && now && now.ino === found.ino && now.dev === found.dev) await unlink(address).catch(() => undefined);
    }
    throw new TetherError('conflict', `Another Tether Desktop is starting with the config dir ${configDir}.`);
  }

  /** Releases the lock (the socket file goes with it). */
  async dispose(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Where the lock listens, for tests and diagnostics. */
  get where(): string {
    return this.address;
  }
}

/**
 * Whether the lock is a socket file that a dead holder leaves behind (not Linux's abstract
 * sockets, not Windows' named pipes).
 */
const SOCKET_FILES = process.platform !== 'linux' && process.platform !== 'win32';

/**
 * A short, per-user address derived from the config dir: socket paths are limited to about 100
 * bytes, and a config dir can be longer than that.
 */
export function lockAddress(configDir: string): string {
  const user = process.getuid ? String(process.getuid()) : userInfo().username;
  const id = createHash('sha256').update(`${user}\u0000${configDir}`).digest('hex').slice(0, 24);
  if (process.platform === 'win32') return `\\\\.\\pipe\\tether-desktop-${id}`;
  // Abstract (a leading NUL): two starts racing to replace a dead holder's file could otherwise
  // both win, one removing the socket the other had just made.
  if (process.platform === 'linux') return `\u0000tether-desktop-${id}`;
  return join(tmpdir(), `tether-desktop-${id}.sock`);
}

/** True when a process listens at `address` (a dead holder's socket file refuses at once). */
function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(address);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
