import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's PostgreSQL server binaries (`.ci/run` installs the package postgresql when missing). */
async function findBinDir(): Promise<string | undefined> {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = (await readdir(base)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(base, v, 'bin')).find((d) => existsSync(join(d, 'postgres')));
}

/** Longest wait for initdb, or for the server to accept connections. */
const START_TIMEOUT_MS = 60_000;

/** A real PostgreSQL for tests: its own cluster in a temp dir, on a free loopback port. */
export interface TestPostgres {
  url: string;
  /** Stops the server fast (SIGINT: connections end at once), as an outage would; `start()` brings it back with its data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** True when a PostgreSQL server can be started here (installed, and a `postgres` user to run it: it refuses root). */
export async function postgresAvailable(): Promise<boolean> {
  return (await findBinDir()) !== undefined && (await postgresUser()) !== undefined;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function runUntil(child: ChildProcess, done: RegExp | 'exit', what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} timed out:\n${seen}`)), START_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (done !== 'exit' && done.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (done === 'exit' && code === 0) resolve();
      else reject(new Error(`${what} exited (${code}):\n${seen}`));
    });
  });
}

/** Makes a cluster (initdb, trust auth on loopback only) and starts it as the `postgres` user. */
export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = await findBinDir();
  const user = await postgresUser();
  if (!bin || !user) throw new Error('PostgreSQL is not installed (Debian package postgresql)');
  const dir = await mkdtemp(join(tmpdir(), 'tether-pg-'));
  await chown(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const as: SpawnOptions = { uid: user.uid, gid: user.gid, stdio: ['ignore', 'pipe', 'pipe'], env: { LANG: 'C' } };
  await runUntil(
    spawn(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], as),
    'exit',
    'initdb',
  );
  const port = await freePort();
  let server: ChildProcess | undefined;
  const start = async () => {
    const s = spawn(
      join(bin, 'postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
      as,
    );
    server = s;
    await runUntil(s, /ready to accept connections/, 'postgres');
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      if (!s || s.exitCode !== null || s.signalCode !== null) return resolve();
      s.once('exit', () => resolve());
      s.kill('SIGINT');
    });
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
