import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { IPty } from 'node-pty';

/** Wait between reads of the pty's last bytes when the kernel says "not yet" (EAGAIN). */
const DRAIN_RETRY_MS = 2;

/** Longest time spent reading a pty's last bytes after a premature end. */
const DRAIN_MAX_MS = 2000;

/** What node-pty keeps privately on Unix: the master's socket and file descriptor. */
interface UnixPtyInternals {
  _socket?: Socket;
  _fd?: number;
}

/**
 * Delivers everything a pty prints as UTF-8-safe text, the last bytes included.
 *
 * Ptys are spawned with `encoding: null`, so node-pty hands over raw Buffers and one
 * StringDecoder per pty decides where characters end (a chunk may stop mid-character).
 *
 * Why the drain: on Linux, libuv takes POLLHUP after a short read as end-of-file
 * (uv__stream_io), but a pty master may still hold output the kernel has not yet moved to
 * the line discipline; node-pty then closes the fd and that output is lost (node-pty #85,
 * #726; seen here in about a third of `seq 1 200000` runs). So the socket is made
 * half-open (its fd stays open at 'end') and, on 'end', the remaining bytes are read
 * straight from the non-blocking fd until the kernel reports EIO (really empty), and only
 * then is the socket destroyed, which lets node-pty report the exit.
 */
export function attachPtyOutput(pty: IPty, onText: (text: string) => void): { dispose(): void } {
  const decoder = new StringDecoder('utf8');
  let disposed = false;
  const emit = (data: string | Buffer): void => {
    if (disposed) return;
    const text = typeof data === 'string' ? data : decoder.write(data);
    if (text.length > 0) onText(text);
  };
  const dataListener = pty.onData(emit as (data: string) => void);

  const internals = pty as unknown as UnixPtyInternals;
  const socket = internals._socket;
  const fd = internals._fd;
  let retry: NodeJS.Timeout | undefined;
  const onEnd = (): void => {
    if (!socket || fd === undefined) return;
    const deadline = Date.now() + DRAIN_MAX_MS;
    const buf = Buffer.alloc(64 * 1024);
    const drain = (): void => {
      retry = undefined;
      for (;;) {
        // node-pty may destroy the socket (closing the fd) on its own; never read a closed fd number.
        if (socket.destroyed) return;
        let n: number;
        try {
          // A synchronous read is right here: the fd is non-blocking, so it returns at once,
          // and nothing can close the fd between the `destroyed` check and the read.
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && Date.now() < deadline) {
            retry = setTimeout(drain, DRAIN_RETRY_MS);
            return;
          }
          break; // EIO: the slave side is closed and nothing is left
        }
        if (n === 0) break;
        emit(Buffer.from(buf.subarray(0, n)));
      }
      flushDecoder();
      socket.destroy();
    };
    drain();
  };
  let flushed = false;
  const flushDecoder = (): void => {
    if (flushed) return;
    flushed = true;
    const rest = decoder.end(); // an incomplete character at the very end, as U+FFFD
    if (rest.length > 0 && !disposed) onText(rest);
  };
  if (socket && fd !== undefined) {
    socket.allowHalfOpen = true;
    socket.on('end', onEnd);
    socket.on('close', flushDecoder);
  }
  return {
    dispose: () => {
      disposed = true;
      if (retry) {
        clearTimeout(retry);
        socket?.destroy(); // a drain was under way: finish the socket so node-pty reports the exit
      }
      socket?.off('end', onEnd);
      socket?.off('close', flushDecoder);
      dataListener.dispose();
    },
  };
}
