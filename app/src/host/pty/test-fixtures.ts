import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PathGuard } from '../fs/path-guard.js';
import type { ToolContext } from '../tools/tool-context.js';
import { collectProcessTree } from './process-tree.js';

/** A real temporary workspace folder for tests; `remove()` deletes it. */
export interface TempWorkspace {
  id: string;
  root: string;
  guard: PathGuard;
  remove(): Promise<void>;
}

/** Creates a temporary folder and opens a real PathGuard on it. */
export async function tempWorkspace(id = 'ws-test'): Promise<TempWorkspace> {
  const root = await realpath(await mkdtemp(path.join(tmpdir(), 'tether-pty-')));
  const guard = await PathGuard.open(root);
  return { id, root, guard, remove: () => rm(root, { recursive: true, force: true }) };
}

/** A ToolContext on a temp workspace that records every output chunk; parts may be overridden. */
export function toolContext(
  ws: TempWorkspace,
  overrides: Partial<Omit<ToolContext, 'workspace' | 'guard'>> = {},
): ToolContext & { chunks: string[] } {
  const chunks: string[] = [];
  return {
    workspace: { id: ws.id, name: ws.id, root: ws.root },
    guard: ws.guard,
    signal: new AbortController().signal,
    callId: `call-${Math.random().toString(36).slice(2)}`,
    onOutput: (chunk) => {
      chunks.push(chunk);
      return true;
    },
    whenDrained: () => Promise.resolve(),
    ...overrides,
    chunks,
  };
}

/** Polls `check` until it is true (or throws after `timeoutMs`): no fixed sleeps in tests. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Waits until this test process has no child processes left (ptys, shells, sandboxes): the leak check. */
export async function expectNoProcessesLeft(timeoutMs = 5000): Promise<void> {
  let left: number[] = [];
  await waitFor(
    async () => {
      left = await collectProcessTree(process.pid);
      return left.length === 0;
    },
    timeoutMs,
    'every child process to be gone',
  ).catch(() => {
    throw new Error(`processes left running: ${left.join(', ')}`);
  });
}
