import { randomBytes } from 'node:crypto';
import { TetherError, type ToolResult } from '@tether/shared';
import type { IPty } from 'node-pty';
import { utf8Tail } from './output-capture.js';
import { killProcessTree } from './process-tree.js';
import { attachPtyOutput } from './pty-output.js';
import { signalName } from './run-command.js';

/**
 * After output starts arriving, a read waits until the session has been quiet this long (or
 * its waitMs is up), so a prompt and the answer before it come back together rather than
 * cut at whatever byte the first chunk ended.
 */
export const SHELL_OUTPUT_SETTLE_MS = 100;

/** How long an exited session stays listed after its final output was read. */
export const EXITED_SESSION_LINGER_MS = 60_000;

/** Longest wait for a killed session's pty to report its exit. */
const KILL_EXIT_WAIT_MS = 5000;

/** What a session needs from its owner. */
export interface ShellSessionOptions {
  workspaceId: string;
  command: string;
  cwd: string;
  idleMs: number;
  bufferBytes: number;
  killGraceMs: number;
  exitedLingerMs: number;
  /** Called once when the session should be forgotten (idle, killed, or exited and read). */
  onRemove(session: ShellSession): void;
  /** Sees every output text as it arrives (the UI's live view); the buffer for reads is apart. */
  onOutput?: (text: string) => void;
  /** Called once when the program exits (exit code null: by a signal). */
  onExit?: (exitCode: number | null) => void;
}

/** An unguessable session id: the id is all a caller needs to type into the session. */
export function newSessionId(): string {
  return `sh_${randomBytes(18).toString('base64url')}`;
}

/**
 * One long-lived pty (a REPL, a dev server, a login shell). Output is buffered until read,
 * up to a cap beyond which the oldest output is dropped and counted. The session is reaped
 * when nobody reads or writes it for `idleMs`.
 */
export class ShellSession {
  readonly id = newSessionId();
  readonly startedAt = new Date().toISOString();
  private chunks: { text: string; bytes: number }[] = [];
  private bufferedBytes = 0;
  private dropped = 0;
  private exited = false;
  private exitCode: number | null = null;
  private readonly exitPromise: Promise<void>;
  private readonly waiters = new Set<() => void>();
  private lastOutputAt = 0;
  private idleTimer: NodeJS.Timeout;
  private lingerTimer: NodeJS.Timeout | undefined;
  private killing: Promise<void> | undefined;
  private removed = false;
  private readonly output: { dispose(): void };

  constructor(
    private readonly pty: IPty,
    private readonly options: ShellSessionOptions,
  ) {
    this.output = attachPtyOutput(pty, (text) => {
      this.append(text);
      options.onOutput?.(text);
    });
    this.exitPromise = new Promise((resolve) => {
      pty.onExit(({ exitCode, signal }) => {
        this.exited = true;
        this.exitCode = signalName(signal) === null ? exitCode : null;
        options.onExit?.(this.exitCode);
        this.wake();
        resolve();
      });
    });
    this.idleTimer = setTimeout(() => void this.reap(), options.idleMs);
    this.idleTimer.unref();
  }

  /** The workspace this session belongs to. */
  get workspaceId(): string {
    return this.options.workspaceId;
  }

  /** Whether the program has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** The session as shell_list and shell_start show it. */
  info(): ToolResult<'shell_list'>['sessions'][number] {
    return {
      sessionId: this.id,
      command: this.options.command,
      cwd: this.options.cwd,
      startedAt: this.startedAt,
      exited: this.exited,
      exitCode: this.exitCode,
    };
  }

  /** Types `input` into the session, then returns the output that follows within `waitMs`. */
  async write(input: string, waitMs: number, signal: AbortSignal): Promise<ToolResult<'shell_write'>> {
    this.touch();
    if (this.exited)
      throw new TetherError('conflict', 'The session has exited; read its final output or start a new one.');
    const since = Date.now();
    this.pty.write(input);
    await this.waitForOutput(waitMs, signal, since);
    return this.take();
  }

  /** Returns the output since the last read, waiting up to `waitMs` for some when there is none. */
  async read(waitMs: number, signal: AbortSignal): Promise<ToolResult<'shell_read'>> {
    this.touch();
    if (this.chunks.length === 0) await this.waitForOutput(waitMs, signal, Date.now());
    return this.take();
  }

  /** Kills the session's process tree and forgets the session. True if it was still running. */
  async kill(): Promise<boolean> {
    const wasRunning = !this.exited;
    await this.stop();
    this.remove();
    return wasRunning;
  }

  /** Kills the process tree (once) and waits for the pty to report its exit. */
  private stop(): Promise<void> {
    this.killing ??= (async () => {
      if (!this.exited) await killProcessTree(this.pty.pid, this.options.killGraceMs);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exitPromise, new Promise<void>((r) => (timer = setTimeout(r, KILL_EXIT_WAIT_MS)))]);
      clearTimeout(timer);
      this.output.dispose();
    })();
    return this.killing;
  }

  /** Kills and forgets the session without answering anyone (idle reaping, dispose). */
  async dispose(): Promise<void> {
    this.remove();
    await this.stop();
  }

  private async reap(): Promise<void> {
    await this.dispose();
  }

  private remove(): void {
    clearTimeout(this.idleTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.wake();
    if (this.removed) return;
    this.removed = true;
    this.options.onRemove(this);
  }

  private touch(): void {
    if (this.removed) throw new TetherError('session_not_found');
    this.idleTimer.refresh();
  }

  private append(text: string): void {
    const bytes = Buffer.byteLength(text, 'utf8');
    this.chunks.push({ text, bytes });
    this.bufferedBytes += bytes;
    this.lastOutputAt = Date.now();
    // Over the cap: drop the oldest output, counting it, so a chatty server cannot grow memory.
    while (this.bufferedBytes > this.options.bufferBytes) {
      const oldest = this.chunks[0]!;
      const excess = this.bufferedBytes - this.options.bufferBytes;
      if (oldest.bytes <= excess) {
        this.chunks.shift();
        this.dropped += oldest.bytes;
        this.bufferedBytes -= oldest.bytes;
        continue;
      }
      // Cut the front of the oldest chunk, on a character boundary (so possibly a byte or three more).
      const keep = utf8Tail(oldest.text, oldest.bytes - excess);
      const keepBytes = Buffer.byteLength(keep, 'utf8');
      this.dropped += oldest.bytes - keepBytes;
      this.bufferedBytes -= oldest.bytes - keepBytes;
      this.chunks[0] = { text: keep, bytes: keepBytes };
    }
    this.wake();
  }

  /** Waits for output newer than `since` (or the exit), then for the output to settle; never past `waitMs`. */
  private async waitForOutput(waitMs: number, signal: AbortSignal, since: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    const hasNews = (): boolean => this.exited || this.removed || this.lastOutputAt >= since;
    while (!hasNews() && Date.now() < deadline) {
      await this.sleepUntilWoken(deadline - Date.now(), signal);
    }
    // Settle: keep collecting while output is still flowing.
    while (!this.exited && !this.removed && this.lastOutputAt >= since && Date.now() < deadline) {
      const quietFor = Date.now() - this.lastOutputAt;
      if (quietFor >= SHELL_OUTPUT_SETTLE_MS) break;
      await this.sleepUntilWoken(Math.min(SHELL_OUTPUT_SETTLE_MS - quietFor, deadline - Date.now()), signal);
    }
    if (this.removed) throw new TetherError('session_not_found', 'The session was closed while waiting for output.');
  }

  private sleepUntilWoken(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      return Promise.reject(signal.reason instanceof TetherError ? signal.reason : new TetherError('cancelled'));
    }
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
      };
      const done = (): void => {
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason instanceof TetherError ? signal.reason : new TetherError('cancelled'));
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Hands out and clears the buffer; an exited session whose last output was read lingers briefly, then goes. */
  private take(): ToolResult<'shell_read'> {
    const output = this.chunks.map((c) => c.text).join('');
    const dropped = this.dropped;
    this.chunks = [];
    this.bufferedBytes = 0;
    this.dropped = 0;
    if (this.exited && !this.lingerTimer && !this.removed) {
      this.lingerTimer = setTimeout(() => this.remove(), this.options.exitedLingerMs);
      this.lingerTimer.unref();
    }
    return { sessionId: this.id, output, dropped, exited: this.exited, exitCode: this.exitCode };
  }
}
