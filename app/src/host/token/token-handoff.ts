import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
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
