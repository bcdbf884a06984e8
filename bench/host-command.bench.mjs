// run_command overhead: `true` through createShellTools().handlers.run_command (path guard, cwd
// check, cleaned env, node-pty spawn, output capture and batching, exit, leftover-tree sweep)
// beside the same `<shell> -c true` spawned directly, in the same process and the same run:
//   - reference `childProcess`: node:child_process spawn, no pty (the floor of starting a shell);
//   - reference `nodePty`: a bare node-pty spawn, awaiting its exit (the floor with a pty).
// Runs are interleaved (tool, child_process, node-pty, tool, …) so machine load hits all three alike.
// Target (issue 3): median overhead over child_process ≤ 15 ms.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as nodePty from 'node-pty';
import { PathGuard } from '../app/dist/host/fs/path-guard.js';
import { defaultShell } from '../app/dist/host/pty/pty-launcher.js';
import { createShellTools } from '../app/dist/host/pty/shell-tools.js';
import { runCommandArgs } from '../shared/dist/index.js';
import { hardDeadline, printResult, quantile, round, tempDir } from './lib/bench-util.mjs';

/** Measured runs of each kind, after WARMUP unmeasured ones (JIT, page cache of the shell binary). */
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20);
/** Median overhead allowed over spawning the shell directly (issue 3). */
const TARGET_OVERHEAD_MS = 15;
const BUDGET_MS = 5 * 60_000;

const cancelDeadline = hardDeadline(BUDGET_MS);
const shell = defaultShell(process.env);
const ws = await tempDir('tether-bench-command-');
const tools = createShellTools();

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
    },
    reference: {
      childProcessP50Ms: round(stats.childProcess.p50),
      childProcessP95Ms: round(stats.childProcess.p95),
      nodePtyP50Ms: round(stats.nodePty.p50),
      nodePtyP95Ms: round(stats.nodePty.p95),
    },
    targets: { overheadP50Ms: `≤ ${TARGET_OVERHEAD_MS}` },
    met: { overheadP50Ms: overhead <= TARGET_OVERHEAD_MS },
    setup: { runs: RUNS, warmup: WARMUP, shell, command: 'true' },
  });
} finally {
  cancelDeadline();
  await tools.dispose();
  await ws.dispose();
}
