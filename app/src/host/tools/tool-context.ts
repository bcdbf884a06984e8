import type { ToolArgs, ToolName, ToolResult } from '@tether/shared';
import type { PathGuard } from '../fs/path-guard.js';

/**
 * What a tool handler gets besides its (already validated) arguments. Handlers throw
 * `TetherError` (from @tether/shared) for expected failures; anything else becomes `internal`.
 */
export interface ToolContext {
  /** The workspace the call runs in; `root` is the real path pinned when the workspace was opened. */
  readonly workspace: { readonly id: string; readonly name: string; readonly root: string };
  /** Resolves and checks every path argument against the workspace root. */
  readonly guard: PathGuard;
  /** Aborted on cancel, deadline or dispose; long work must stop promptly when it fires. */
  readonly signal: AbortSignal;
  /** The call id (also the idempotency key of the call). */
  readonly callId: string;
  /**
   * Streams output text (UTF-8 safe chunks) to the caller as `progress` frames. Returns false
   * when the far side is behind (more than FLOW_HIGH_WATERMARK_BYTES unsent): the producer
   * should pause (e.g. `pty.pause()`) until `whenDrained()` resolves.
   */
  onOutput(chunk: string): boolean;
  /** Resolves once unsent output is below FLOW_LOW_WATERMARK_BYTES (at once if it already is). */
  whenDrained(): Promise<void>;
}

/** A tool implementation. */
export type ToolHandler<T extends ToolName> = (args: ToolArgs<T>, ctx: ToolContext) => Promise<ToolResult<T>>;

/** A set of tool implementations, by name. */
export type ToolHandlers = { [T in ToolName]?: ToolHandler<T> };
