// run_command overhead: `true` through createShellTools().handlers.run_command (path guard, cwd
// check, cleaned env, node-pty spawn, output capture and batching, exit, leftover-tree sweep)
// beside the same `<shell> -c true` spawned directly, in the same process and the same run:
//   - reference `childProcess`: node:child_process spawn, no pty (the floor of starting a shell);
//   - reference `nodePty`: a bare node-pty spawn, awaiting its exit (the floor with a pty).
//   - `sandboxed`: the same tool with the default OS sandbox (bubblewrap on Linux, filtered
//     internet through the host proxy), and `sandboxedNoNet` with the workspace's network off;
//     the sandbox's own cost is their median minus the unsandboxed tool's.
// Runs are interleaved (tool, child_process, node-pty, sandboxed, …) so machine load hits all alike.
// Targets: median overhead of the unsandboxed tool over child_process ≤ 15 ms (issue 3); median
// added by the default sandbox ≤ 30 ms.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as nodePty from 'node-pty';
import { PathGuard } from '../app/dist/host/fs/path-guard.js';
import { defaultShell } from '../app/dist/host/pty/pty-launcher.js';
import { DEFAULT_SANDBOX_SPEC } from '../app/dist/host/pty/sandbox-rules.js';
import { createShellTools } from '../app/dist/host/pty/shell-tools.js';
import { runCommandArgs } from '../shared/dist/index.js';
import { hardDeadline, printResult, quantile, round, tempDir } from './lib/bench-util.mjs';

/** Measured runs of each kind, after WARMUP unmeasured ones (JIT, page cache of the shell binary). */
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20);
/** Median overhead allowed over spawning the shell directly (issue 3). */
const TARGET_OVERHEAD_MS = 15;
/** Median the default sandbox may add to a command. */
const TARGET_SANDBOX_MS = 30;
const BUDGET_MS = 5 * 60_000;

const cancelDeadline = hardDeadline(BUDGET_MS);
const shell = defaultShell(process.env);
const ws = await tempDir('tether-bench-command-');
const unsandboxed = { ...DEFAULT_SANDBOX_SPEC, mode: 'off' };
const tools = createShellTools({ sandbox: unsandboxed });
const sandboxedTools = createShellTools();
const noNetTools = createShellTools({ sandbox: { ...DEFAULT_SANDBOX_SPEC, network: { mode: 'none' } } });
const status = await sandboxedTools.confinement('bench', ws.dir);

const guard = await PathGuard.open(ws.dir);
const context = () => ({
  workspace: { id: 'bench', name: 'bench', root: guard.root },
  guard,
  signal: new AbortController().signal,
  callId: 'bench',
  onOutput: () => true,
  whenDrained: () => Promise.resolve(),
});
const args = runCommandArgs.parse({ command: 'true' });

const kinds = {
  async tool() {
    const result = await tools.handlers.run_command(args, context());
    if (result.exitCode !== 0) throw new Error(`run_command true exited ${result.exitCode}`);
  },
  ...(status.sandboxed
    ? {
        async sandboxed() {
          const result = await sandboxedTools.handlers.run_command(args, context());
          if (result.exitCode !== 0) throw new Error(`sandboxed run_command true exited ${result.exitCode}`);
        },
        async sandboxedNoNet() {
          const result = await noNetTools.handlers.run_command(args, context());
          if (result.exitCode !== 0) throw new Error(`sandboxed run_command true exited ${result.exitCode}`);
        },
      }
    : {}),
  childProcess() {
    return new Promise((resolve, reject) => {
      const child = spawn(shell, ['-c', 'true'], { cwd: ws.dir, stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });
  },
  nodePty() {
    return new Promise((resolve) => {
      const pty = nodePty.spawn(shell, ['-c', 'true'], {
        name: 'xterm-256color',
        cols: 120,
        rows: 30,
        cwd: ws.dir,
        env: { PATH: process.env.PATH },
      });
      pty.onData(() => undefined);
      pty.onExit(() => resolve());
    });
  },
};

const samples = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
try {
  for (let i = 0; i < WARMUP + RUNS; i++) {
    // Rotate the order so no kind always runs right after another.
    const order = Object.keys(kinds);
    for (let r = 0; r < i % order.length; r++) order.push(order.shift());
    for (const kind of order) {
      const started = performance.now();
      await kinds[kind]();
      if (i >= WARMUP) samples[kind].push(performance.now() - started);
    }
  }
  const stats = Object.fromEntries(
    Object.entries(samples).map(([kind, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return [kind, { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) }];
    }),
  );
  const overhead = stats.tool.p50 - stats.childProcess.p50;
  const sandbox = stats.sandboxed ? stats.sandboxed.p50 - stats.tool.p50 : null;
  const sandboxNoNet = stats.sandboxedNoNet ? stats.sandboxedNoNet.p50 - stats.tool.p50 : null;
  if (sandbox !== null) {
    console.error(
      `sandboxed p50 ${stats.sandboxed.p50.toFixed(2)} ms (${status.engine}, filtered internet), ` +
        `without network ${stats.sandboxedNoNet.p50.toFixed(2)} ms`,
    );
  } else console.error(`no sandbox here (${status.reason}): only the unsandboxed figures`);
  const overheadPty = stats.tool.p50 - stats.nodePty.p50;
  console.error(
    `run_command p50 ${stats.tool.p50.toFixed(2)} ms (p95 ${stats.tool.p95.toFixed(2)}); ` +
      `child_process p50 ${stats.childProcess.p50.toFixed(2)} ms; node-pty p50 ${stats.nodePty.p50.toFixed(2)} ms`,
  );
  printResult({
    name: 'host-command',
    figures: {
      p50Ms: round(stats.tool.p50),
      p95Ms: round(stats.tool.p95),
      overheadP50Ms: round(overhead),
      overheadP95Ms: round(stats.tool.p95 - stats.childProcess.p95),
      overheadOverNodePtyP50Ms: round(overheadPty),
      ...(sandbox !== null
        ? {
            sandboxP50Ms: round(stats.sandboxed.p50),
            sandboxAddedP50Ms: round(sandbox),
            sandboxAddedP95Ms: round(stats.sandboxed.p95 - stats.tool.p95),
            sandboxNoNetAddedP50Ms: round(sandboxNoNet),
          }
        : {}),
    },
    reference: {
      childProcessP50Ms: round(stats.childProcess.p50),
      childProcessP95Ms: round(stats.childProcess.p95),
      nodePtyP50Ms: round(stats.nodePty.p50),
      nodePtyP95Ms: round(stats.nodePty.p95),
    },
    targets: {
      overheadP50Ms: `≤ ${TARGET_OVERHEAD_MS}`,
      ...(sandbox !== null ? { sandboxAddedP50Ms: `≤ ${TARGET_SANDBOX_MS}` } : {}),
    },
    met: {
      overheadP50Ms: overhead <= TARGET_OVERHEAD_MS,
      ...(sandbox !== null ? { sandboxAddedP50Ms: sandbox <= TARGET_SANDBOX_MS } : {}),
    },
    setup: { runs: RUNS, warmup: WARMUP, shell, command: 'true', sandbox: status.engine, sandboxed: status.sandboxed },
  });
} finally {
  cancelDeadline();
  await tools.dispose();
  await sandboxedTools.dispose();
  await noNetTools.dispose();
  await ws.dispose();
}
