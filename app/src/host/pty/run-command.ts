import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  COMMAND_OUTPUT_HEAD_BYTES,
  COMMAND_OUTPUT_TAIL_BYTES,
  PTY_BATCH_BYTES,
  PTY_BATCH_MS,
  TetherError,
  type ToolArgs,
  type ToolResult,
} from '@tether/shared';
import type { IPty } from 'node-pty';
import type { ToolContext } from '../tools/tool-context.js';
import { HeadTailCapture, OutputBatcher } from './output-capture.js';
import { isProcessAlive, killProcessTree, processGroupAlive } from './process-tree.js';
import { attachPtyOutput } from './pty-output.js';
import { resolveCwd, type PtyLauncher } from './pty-launcher.js';

/** Columns of a run_command pty: wide enough that tools do not wrap their tables. */
export const RUN_COMMAND_COLS = 120;
const RUN_COMMAND_ROWS = 30;

/**
 * While the pty is paused for flow control, how often we check whether the command has
 * exited. node-pty destroys a pty's socket 200 ms after the child exits if it has not
 * closed by itself, which (paused) it cannot: unread output would be lost. So a paused
 * pty whose child is gone is resumed at once.
 */
const PAUSED_EXIT_POLL_MS = 20;

/** A run_command in flight, as the shell tools see it: something they can stop. */
export interface RunningCommand {
  readonly workspaceId: string;
  /** Kills the command's tree; the call then fails with `error`. */
  stop(error: TetherError): Promise<void>;
}

/** Hooks through which the shell tools track commands in flight. */
export interface RunCommandHooks {
  killGraceMs: number;
  started(run: RunningCommand): void;
  finished(run: RunningCommand): void;
}

/** The name of signal number `n` (`SIGTERM`), or null for 0. */
export function signalName(n: number | undefined): string | null {
  if (!n) return null;
  const entry = Object.entries(osConstants.signals).find(([, value]) => value === n);
  return entry ? entry[0] : `SIG${n}`;
}

/**
 * run_command: runs `args.command` through the shell in a pty in the workspace, streams its
 * output in batches through `ctx.onOutput` (pausing the pty while the far side is behind),
 * and returns exit status and head+tail of the output. On timeout the whole tree is killed
 * and the result says `timedOut`; on cancel it is killed and the call fails `cancelled`.
 */
export async function runCommand(
  launcher: PtyLauncher,
  args: ToolArgs<'run_command'>,
  ctx: ToolContext,
  hooks: RunCommandHooks,
): Promise<ToolResult<'run_command'>> {
  const cwd = await resolveCwd(ctx, args.cwd);
  throwIfAborted(ctx.signal);
  const pty = await launcher.launch({
    workspaceId: ctx.workspace.id,
    root: ctx.workspace.root,
    cwd: cwd.abs,
    command: args.command,
    env: args.env,
    cols: RUN_COMMAND_COLS,
    rows: RUN_COMMAND_ROWS,
  });
  const startedAt = performance.now();
  const capture = new HeadTailCapture(COMMAND_OUTPUT_HEAD_BYTES, COMMAND_OUTPUT_TAIL_BYTES);
  const flow = new FlowControl(pty, ctx);
  const batcher = new OutputBatcher(PTY_BATCH_MS, PTY_BATCH_BYTES, (batch) => flow.emit(batch));
  const output = attachPtyOutput(pty, (text) => {
    capture.push(text);
    batcher.push(text);
  });
  const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) => pty.onExit(resolve));

  let timedOut = false;
  let failure: TetherError | undefined;
  let killing: Promise<void> | undefined;
  const killTree = (): Promise<void> => (killing ??= killProcessTree(pty.pid, hooks.killGraceMs));
  const run: RunningCommand = {
    workspaceId: ctx.workspace.id,
    stop: (error) => {
      failure ??= error;
      return killTree();
    },
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void killTree();
  }, args.timeoutMs);
  const onAbort = (): void => {
    failure ??= abortError(ctx.signal);
    void killTree();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort(); // aborted while the pty was being spawned: no event will come
  hooks.started(run);
  try {
    const exit = await exited;
    const durationMs = Math.round(performance.now() - startedAt);
    clearTimeout(timer);
    batcher.flush();
    // Whatever the shell left running in its process group (background jobs) goes too:
    // run_command leaves nothing behind; long-lived programs belong in shell sessions.
    if (killing) await killTree();
    else if (launcher.inPidNamespace(pty)) {
      // bubblewrap reports the command's exit while its pid namespace is still being torn down:
      // everything left in there is ours and is ending anyway, so one SIGKILL to the group, no sweep.
      try {
        process.kill(-pty.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    } else if (processGroupAlive(pty.pid)) await killTree();
    if (failure) throw failure;
    const { output, truncated } = capture.result();
    const signal = signalName(exit.signal);
    return {
      exitCode: signal === null ? exit.exitCode : null,
      signal,
      output,
      truncated,
      durationMs,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
    batcher.dispose();
    flow.dispose();
    output.dispose();
    hooks.finished(run);
  }
}

function abortError(signal: AbortSignal): TetherError {
  return signal.reason instanceof TetherError ? signal.reason : new TetherError('cancelled');
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** Pauses the pty while `ctx.onOutput` says the far side is behind; resumes on `whenDrained()`. */
class FlowControl {
  private paused = false;
  private childGone = false;
  private poll: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly pty: IPty,
    private readonly ctx: ToolContext,
  ) {}

  emit(batch: string): void {
    if (this.ctx.onOutput(batch) || this.paused || this.childGone || this.disposed) return;
    this.paused = true;
    this.pty.pause();
    this.poll = setInterval(() => void this.checkChild(), PAUSED_EXIT_POLL_MS);
    this.ctx.whenDrained().then(
      () => this.resume(),
      () => this.resume(),
    );
  }

  private async checkChild(): Promise<void> {
    if (!this.paused || (await isProcessAlive(this.pty.pid))) return;
    // The child is gone: read the rest now (a few KB at most in the kernel's pty buffer), or node-pty drops it.
    this.childGone = true;
    this.resume();
  }

  private resume(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
    if (!this.paused) return;
    this.paused = false;
    if (!this.disposed) this.pty.resume();
  }

  dispose(): void {
    this.resume();
    this.disposed = true;
  }
}
