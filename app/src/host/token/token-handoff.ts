import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { MAX_TOKEN_FD_BYTES } from '@tether/shared';

/** The fd a relaunched host reads its token from. */
export const HANDOFF_TOKEN_FD = 3;
/** The fd the launcher holds open for the host's life: EOF there means the launcher is gone. */
export const LIFELINE_FD = 4;

/**
 * Ends this process as soon as `fd` reaches EOF: the launcher that holds its other end died
 * (even by SIGKILL, which it cannot forward), so the host goes too, as it would have had it
 * been that process. Sandboxed commands then die with the host.
 */
export function exitWithLauncher(fd: number, onGone: () => void = () => process.exit(1)): void {
  // A socket, not an fs stream: an fs read of a pipe blocks a libuv pool thread, and process
  // exit waits for those threads (the host could then never exit).
  const stream = new net.Socket({ fd, readable: true, writable: false });
  stream.on('data', () => undefined);
  stream.once('end', onGone);
  stream.once('error', onGone);
  stream.unref(); // it must not keep a host that is done alive
}

/** A readable stream on an inherited fd: a socket for pipes and sockets, an fs stream for anything else (a file). */
function openPipe(fd: number): NodeJS.ReadableStream & { setEncoding(e: BufferEncoding): unknown; destroy(): void } {
  try {
    return new net.Socket({ fd, readable: true, writable: false });
  } catch {
    return createReadStream('', { fd, autoClose: true });
  }
}

/**
 * Reads a desktop token handed over on an inherited file descriptor (a pipe), up to EOF. The
 * token then never sits in an environment, where /proc/<pid>/environ would show it to any
 * program of the same user for the life of the process.
 */
export function readTokenFd(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    // A pipe read through a socket (epoll), not an fs stream (a blocked pool thread holds up exit).
    const stream = openPipe(fd);
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      text += chunk as string;
      if (text.length > MAX_TOKEN_FD_BYTES) {
        stream.destroy();
        reject(new Error(`--token-fd ${fd}: more than ${MAX_TOKEN_FD_BYTES} bytes; expected one token`));
      }
    });
    stream.on('error', (err) => reject(new Error(`--token-fd ${fd}: ${err.message}`)));
    stream.on('end', () => {
      const token = text.trim();
      if (token === '') reject(new Error(`--token-fd ${fd}: nothing was written before it closed`));
      else resolve(token);
    });
  });
}

/**
 * Runs this same program again without TETHER_TOKEN in its environment, handing the token over
 * on fd 3 (`--token-fd 3`), and stays as a thin supervisor: it forwards SIGINT, SIGTERM and
 * SIGHUP, and resolves with the host's exit code. The environment a process was started with
 * cannot be changed from inside it (deleting process.env.TETHER_TOKEN leaves
 * /proc/<pid>/environ as it was), so the host, which starts every command, must be a process
 * that never had it. This launcher starts nothing else.
 */
export function relaunchWithoutTokenEnv(argv: readonly string[], token: string): Promise<number> {
  const env = { ...process.env };
  delete env.TETHER_TOKEN;
  const script = process.argv[1];
  if (!script) return Promise.reject(new Error('cannot relaunch: no script path'));
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      script,
      ...argv,
      '--token-fd',
      String(HANDOFF_TOKEN_FD),
      '--lifeline-fd',
      String(LIFELINE_FD),
    ],
    { env, stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'] },
  );
  const pipe = child.stdio[HANDOFF_TOKEN_FD] as NodeJS.WritableStream;
  pipe.on('error', () => undefined); // a host that failed at once: its exit code says so
  pipe.end(`${token}\n`);
  // Never written and never closed by us: the kernel closes it when this process dies.
  (child.stdio[LIFELINE_FD] as NodeJS.WritableStream).on('error', () => undefined);
  const forward = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}

/**
 * Wipes `name=…` from this process's starting environment, the bytes /proc/<pid>/environ
 * shows for the whole life of the process (removing it from process.env does not touch them):
 * the strings are this process's own writable memory, between the env_start and env_end
 * addresses of /proc/self/stat, so it writes zeros over them through /proc/self/mem. Linux
 * only; true when the variable is no longer there (or never was). Remove it from process.env
 * first: libc's environ points into these bytes.
 */
export function wipeStartingEnvironment(name: string, procSelf = '/proc/self'): boolean {
  if (process.platform !== 'linux') return false;
  const prefix = Buffer.from(`${name}=`);
  const find = (environ: Buffer): Array<{ at: number; length: number }> => {
    const found: Array<{ at: number; length: number }> = [];
    for (let at = 0; at < environ.length;) {
      let end = environ.indexOf(0, at);
      if (end < 0) end = environ.length;
      if (environ.subarray(at, at + prefix.length).equals(prefix)) found.push({ at, length: end - at });
      at = end + 1;
    }
    return found;
  };
  try {
    const entries = find(readFileSync(`${procSelf}/environ`));
    if (entries.length === 0) return true;
    // Fields after the command name in parentheses (which may hold spaces): env_start is field 50.
    const stat = readFileSync(`${procSelf}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const envStart = Number(fields[50 - 3]);
    const envEnd = Number(fields[51 - 3]);
    if (!Number.isSafeInteger(envStart) || !Number.isSafeInteger(envEnd) || envEnd <= envStart) return false;
    const mem = openSync(`${procSelf}/mem`, 'r+');
    try {
      for (const { at, length } of entries) {
        if (envStart + at + length > envEnd) return false;
        writeSync(mem, Buffer.alloc(length), 0, length, envStart + at);
      }
    } finally {
      closeSync(mem);
    }
    return find(readFileSync(`${procSelf}/environ`)).length === 0;
  } catch {
    return false; // no /proc, or a kernel that refuses writes to /proc/self/mem
  }
}
