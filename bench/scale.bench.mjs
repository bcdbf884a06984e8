// Does the cost of a call grow with the work around it? `read_file` of a 4 KB file, 64 callers,
// through the real `tether-relay serve`:
// - one real `tether-desktop --headless` with 1, 8 and 64 workspaces (calls spread over all of
//   them): throughput and the CPU each process spent per call;
// - the relay with 1 and with 100 connected desktops (stand-in desktops, bench/lib/
//   latency-desktop.mjs, one workspace each, calls spread over all of them): the relay's CPU
//   per call, which should not grow with the number of desktops.
// The relay's in-flight cap per runtime is raised to 128 for the run (--max-in-flight-per-runtime),
// so 64 callers on a single runtime are not refused with `busy`.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../shared/dist/index.js';
import { hardDeadline, printResult, round, startWorker, tempDir } from './lib/bench-util.mjs';
import { children, loadPhase, startRealDesktop, startRealRelay, waitForRuntimes } from './lib/real-programs.mjs';

const CONCURRENCY = 64;
const CALLS = Number(process.env.BENCH_CALLS ?? 6_000);
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP_CALLS ?? 500);
const WORKSPACE_COUNTS = [1, 8, 64];
const DESKTOP_COUNTS = [1, 100];
const RELAY_IN_FLIGHT_PER_RUNTIME = 128;
const BUDGET_MS = 10 * 60_000;
const FILE = 'file-4k.txt';
const serveArgs = ['--max-in-flight-per-runtime', String(RELAY_IN_FLIGHT_PER_RUNTIME)];

const cleanups = [];
const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const dispose of cleanups) await dispose();
});

const fixture = await tempDir('tether-bench-scale-');
cleanups.push(fixture.dispose);
const content = Array.from({ length: 64 }, (_, i) => `${String(i).padStart(4, '0')} `.padEnd(63, 'x') + '\n').join('');
const folders = [];
for (let i = 0; i < Math.max(...WORKSPACE_COUNTS); i++) {
  const folder = join(fixture.dir, `ws${i}`);
  await mkdir(folder);
  await writeFile(join(folder, FILE), content);
  folders.push(folder);
}

async function withWorkspaces(count) {
  const relay = await startRealRelay({ serveArgs });
  let desktop;
  try {
    desktop = await startRealDesktop(relay, folders.slice(0, count));
    const runtimeIds = await waitForRuntimes(relay.url, relay.key, count);
    const r = await loadPhase({
      url: relay.url,
      key: relay.key,
      runtimeIds,
      concurrency: CONCURRENCY,
      warmup: WARMUP_CALLS,
      calls: CALLS,
      path: FILE,
      pids: { relay: relay.pid, desktop: desktop.pid },
    });
    console.error(
      `${count} workspace(s): ${r.throughput.toFixed(0)} calls/s, p50 ${r.p50.toFixed(2)} ms; CPU per call: relay ` +
        `${r.cpuMsPerCall.relay.toFixed(3)} ms, desktop ${r.cpuMsPerCall.desktop.toFixed(3)} ms`,
    );
    return r;
  } finally {
    await desktop?.dispose();
    await relay.dispose();
  }
}

async function withDesktops(count) {
  const relay = await startRealRelay({ serveArgs });
  const desktops = startWorker(fileURLToPath(new URL('./lib/latency-desktop.mjs', import.meta.url)), {
    args: [
      JSON.stringify({
        wsUrl: relay.wsUrl,
        token: relay.desktopToken,
        dir: folders[0],
        workspaces: 1,
        devices: count,
        protocolVersion: PROTOCOL_VERSION,
      }),
    ],
  });
  try {
    const { runtimeIds } = await desktops.next('ready');
    const r = await loadPhase({
      url: relay.url,
      key: relay.key,
      runtimeIds,
      concurrency: CONCURRENCY,
      warmup: WARMUP_CALLS,
      calls: CALLS,
      path: FILE,
      pids: { relay: relay.pid },
    });
    console.error(
      `${count} desktop(s): ${r.throughput.toFixed(0)} calls/s; relay CPU per call ${r.cpuMsPerCall.relay.toFixed(3)} ms`,
    );
    return r;
  } finally {
    await desktops.dispose();
    await relay.dispose();
  }
}

try {
  const byWorkspaces = {};
  for (const n of WORKSPACE_COUNTS) byWorkspaces[n] = await withWorkspaces(n);
  const byDesktops = {};
  for (const n of DESKTOP_COUNTS) byDesktops[n] = await withDesktops(n);
  const relayCpuGrowth = byDesktops[100].cpuMsPerCall.relay / byDesktops[1].cpuMsPerCall.relay;
  const desktopCpuGrowth = byWorkspaces[64].cpuMsPerCall.desktop / byWorkspaces[1].cpuMsPerCall.desktop;
  const figures = {};
  for (const n of WORKSPACE_COUNTS) {
    figures[`throughputPerSec_${n}ws`] = round(byWorkspaces[n].throughput);
    figures[`desktopCpuMsPerCall_${n}ws`] = round(byWorkspaces[n].cpuMsPerCall.desktop);
    figures[`relayCpuMsPerCall_${n}ws`] = round(byWorkspaces[n].cpuMsPerCall.relay);
  }
  for (const n of DESKTOP_COUNTS) {
    figures[`throughputPerSec_${n}desktops`] = round(byDesktops[n].throughput);
    figures[`relayCpuMsPerCall_${n}desktops`] = round(byDesktops[n].cpuMsPerCall.relay);
  }
  figures.relayCpuGrowth_100desktops = round(relayCpuGrowth);
  figures.desktopCpuGrowth_64ws = round(desktopCpuGrowth);
  printResult({
    name: 'scale',
    figures,
    reference: { relayCpuMsPerCall_1desktop: round(byDesktops[1].cpuMsPerCall.relay) },
    // Flat within the noise of this shared machine: a quarter more is a real growth.
    targets: { relayCpuGrowth_100desktops: '≤ 1.25', desktopCpuGrowth_64ws: '≤ 1.25' },
    met: { relayCpuGrowth_100desktops: relayCpuGrowth <= 1.25, desktopCpuGrowth_64ws: desktopCpuGrowth <= 1.25 },
    setup: {
      concurrency: CONCURRENCY,
      calls: CALLS,
      warmupCalls: WARMUP_CALLS,
      relayInFlightPerRuntime: RELAY_IN_FLIGHT_PER_RUNTIME,
    },
  });
} finally {
  cancelDeadline();
  for (const c of children) c.kill('SIGKILL');
  for (const dispose of cleanups) await dispose();
}
