// The whole path as a user runs it: `tether-relay serve` and `tether-desktop --headless`
// started from their command lines (as the README does) with their default settings and one
// workspace, and `read_file` of a 4 KB file through HTTP → relay → desktop → back. Beside it, in
// the same run and interleaved (ABBA), the bare two-hop reference: plain node:http + ws
// (bench/lib/bare-relay.mjs) and a stand-in desktop that reads the file and replies
// (bench/lib/latency-desktop.mjs). Every check of the real path stays on: path guard, policy,
// audit log, call journal, the relay's call log and its default log level (info).
//
// Figures: sequential p50/p99 (one caller), throughput with 64 callers on the one runtime, and
// the CPU time each process spent per call (from /proc/<pid>/stat), beside the bare processes'.
// The relay's in-flight cap per runtime (32 by default) is raised to 128 for the run
// (--max-in-flight-per-runtime) so 64 callers on one runtime are not refused with `busy`; the
// desktop's own per-workspace concurrency stays at its default.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hardDeadline, printResult, round, tempDir } from './lib/bench-util.mjs';
import { children, loadPhase, startBareSide, startTetherSide } from './lib/real-programs.mjs';

/** Callers of the throughput phase, all on the one runtime. */
const CONCURRENCY = 64;
const SEQUENTIAL_CALLS = Number(process.env.BENCH_SEQUENTIAL_CALLS ?? 2_000);
const THROUGHPUT_CALLS = Number(process.env.BENCH_CALLS ?? 10_000);
/** Unmeasured calls before each phase (JIT, SQLite cache, connection pool). */
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP_CALLS ?? 500);
/** Raised for the run (see the header): 64 callers on one runtime. */
const RELAY_IN_FLIGHT_PER_RUNTIME = 128;
/** ABBA: each side as often first as second, so drift in the shared machine's load hits both. */
const ROUND_ORDER = ['bare', 'tether', 'tether', 'bare'];
const BUDGET_MS = 8 * 60_000;
const FILE = 'file-4k.txt';

const cleanups = [];
const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const dispose of cleanups) await dispose();
});

const fixture = await tempDir('tether-bench-path-ws-');
cleanups.push(fixture.dispose);
await writeFile(
  join(fixture.dir, FILE),
  Array.from({ length: 64 }, (_, i) => `${String(i).padStart(4, '0')} `.padEnd(63, 'x') + '\n').join(''),
);

/** One load phase; latencies, throughput and CPU ms per call of both processes. */
async function phase(side, concurrency, calls) {
  const r = await loadPhase({ ...side, concurrency, warmup: WARMUP_CALLS, calls, path: FILE });
  return { ...r, serverCpuMsPerCall: r.cpuMsPerCall.server, desktopCpuMsPerCall: r.cpuMsPerCall.desktop };
}

async function measure(kind) {
  const side =
    kind === 'bare'
      ? await startBareSide(fixture.dir)
      : await startTetherSide(fixture.dir, {
          serveArgs: ['--max-in-flight-per-runtime', String(RELAY_IN_FLIGHT_PER_RUNTIME)],
        });
  try {
    const sequential = await phase(side, 1, SEQUENTIAL_CALLS);
    const parallel = await phase(side, CONCURRENCY, THROUGHPUT_CALLS);
    console.error(
      `${kind}: sequential p50 ${sequential.p50.toFixed(2)} ms p99 ${sequential.p99.toFixed(2)} ms; ` +
        `${parallel.throughput.toFixed(0)} calls/s at ${CONCURRENCY}; CPU per call: server ` +
        `${parallel.serverCpuMsPerCall.toFixed(3)} ms, desktop ${parallel.desktopCpuMsPerCall.toFixed(3)} ms`,
    );
    return { sequential, parallel };
  } finally {
    await side.dispose();
  }
}

try {
  const rounds = { bare: [], tether: [] };
  for (const kind of ROUND_ORDER) rounds[kind].push(await measure(kind));
  // Each side keeps its best round (lowest sequential p50, highest throughput, lowest CPU),
  // the usual way to take other processes' interference out of a figure.
  const best = (rs, pick, better) => rs.map(pick).reduce((a, b) => (better(b, a) ? b : a));
  const lower = (a, b) => a < b;
  const higher = (a, b) => a > b;
  const figure = (rs) => ({
    p50: best(rs, (r) => r.sequential.p50, lower),
    p99: best(rs, (r) => r.sequential.p99, lower),
    throughput: best(rs, (r) => r.parallel.throughput, higher),
    serverCpu: best(rs, (r) => r.parallel.serverCpuMsPerCall, lower),
    desktopCpu: best(rs, (r) => r.parallel.desktopCpuMsPerCall, lower),
  });
  const bare = figure(rounds.bare);
  const tether = figure(rounds.tether);
  const ratios = {
    p50Ratio: tether.p50 / bare.p50,
    throughputRatio: tether.throughput / bare.throughput,
    relayCpuRatio: tether.serverCpu / bare.serverCpu,
    desktopCpuRatio: tether.desktopCpu / bare.desktopCpu,
  };
  printResult({
    name: 'user-path',
    figures: {
      p50Ms: round(tether.p50),
      p99Ms: round(tether.p99),
      throughputPerSec: round(tether.throughput),
      relayCpuMsPerCall: round(tether.serverCpu),
      desktopCpuMsPerCall: round(tether.desktopCpu),
      p50Ratio: round(ratios.p50Ratio),
      throughputRatio: round(ratios.throughputRatio),
      relayCpuRatio: round(ratios.relayCpuRatio),
      desktopCpuRatio: round(ratios.desktopCpuRatio),
    },
    reference: {
      p50Ms: round(bare.p50),
      p99Ms: round(bare.p99),
      throughputPerSec: round(bare.throughput),
      serverCpuMsPerCall: round(bare.serverCpu),
      desktopCpuMsPerCall: round(bare.desktopCpu),
    },
    targets: { p50Ratio: '≤ 2', throughputRatio: '≥ 0.5', relayCpuRatio: '≤ 2', desktopCpuRatio: '≤ 3' },
    met: {
      p50Ratio: ratios.p50Ratio <= 2,
      throughputRatio: ratios.throughputRatio >= 0.5,
      relayCpuRatio: ratios.relayCpuRatio <= 2,
      desktopCpuRatio: ratios.desktopCpuRatio <= 3,
    },
    setup: {
      programs: 'tether-relay serve + tether-desktop --headless, default settings, one workspace',
      relayInFlightPerRuntime: RELAY_IN_FLIGHT_PER_RUNTIME,
      concurrency: CONCURRENCY,
      sequentialCalls: SEQUENTIAL_CALLS,
      throughputCalls: THROUGHPUT_CALLS,
      warmupCalls: WARMUP_CALLS,
      fileBytes: 4096,
      rounds: ROUND_ORDER.join(','),
    },
  });
} finally {
  cancelDeadline();
  for (const c of children) c.kill('SIGKILL');
  for (const dispose of cleanups) await dispose();
}
