import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  TOOLS,
  TetherError,
  type ToolArgsInput,
  type ToolErrorValue,
  type ToolName,
  type ToolResult,
} from '@tether/shared';
import type { ToolContext, ToolHandler } from '../tools/tool-context.js';
import { createFsTools, type FsToolsOptions } from './fs-tools.js';
import { PathGuard } from './path-guard.js';

/** Outcome of one tool call in tests: the value, or the error value the host would send. */
export type CallOutcome<T extends ToolName> = { ok: true; value: ToolResult<T> } | { ok: false; error: ToolErrorValue };

/**
 * A sandbox for the file tools: `base/ws` is the workspace, `base/outside` and `base/ws-evil`
 * (a sibling whose name shares the prefix) are places nothing may reach.
 */
export interface FsSandbox {
  base: string;
  root: string;
  outside: string;
  evil: string;
  guard: PathGuard;
  /** Parses raw args like the host does, runs the tool, and checks the result against its schema. */
  call<T extends ToolName>(tool: T, args: ToolArgsInput<T>, signal?: AbortSignal): Promise<CallOutcome<T>>;
  remove(): Promise<void>;
}

/** Creates a fresh sandbox in the OS temp folder. */
export async function fsSandbox(options: FsToolsOptions = {}): Promise<FsSandbox> {
  const base = await realpath(await mkdtemp(path.join(tmpdir(), 'tether-fs-')));
  const root = path.join(base, 'ws');
  const outside = path.join(base, 'outside');
  const evil = path.join(base, 'ws-evil');
  await Promise.all([mkdir(root), mkdir(outside), mkdir(evil)]);
  const guard = await PathGuard.open(root);
  const tools = createFsTools(options);
  return {
    base,
    root,
    outside,
    evil,
    guard,
    async call<T extends ToolName>(
      tool: T,
      raw: ToolArgsInput<T>,
      signal = new AbortController().signal,
    ): Promise<CallOutcome<T>> {
      const parsed = TOOLS[tool].args.safeParse(raw);
      if (!parsed.success) return { ok: false, error: { code: 'invalid_args', message: parsed.error.message } };
      const handler = tools[tool] as ToolHandler<T> | undefined;
      if (!handler) throw new Error(`no handler for ${tool}`);
      const ctx: ToolContext = {
        workspace: { id: 'ws', name: 'ws', root: guard.root },
        guard,
        signal,
        callId: 'call-1',
        onOutput: () => true,
        whenDrained: () => Promise.resolve(),
      };
      try {
        const value = await handler(parsed.data as never, ctx);
        return { ok: true, value: TOOLS[tool].result.parse(value) as ToolResult<T> };
      } catch (err) {
        if (err instanceof TetherError) return { ok: false, error: err.toValue() };
        throw err;
      }
    },
    remove: () => rm(base, { recursive: true, force: true }),
  };
}
