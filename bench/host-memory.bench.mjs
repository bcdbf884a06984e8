// Desktop memory under many large reads, through the real programs: the relay (started here
// from relay/dist, as `npm start` does) and the headless desktop as its own process
// (`node app/bin/tether-desktop.js --headless`), connected over a real WebSocket. READS
// `read_file` calls of about 2 MiB each (MAX_READ_BYTES) go through the platform API, CONCURRENCY
// at a time, each with its own call id; the desktop's RSS (VmRSS of its process) is sampled while
// they run and read again after they all finished.
// Before read results stopped being kept by call id (15 min / 2,000 calls, reads included),
// 2,000 such reads grew the desktop from 91 MB to 3.96 GB.
// Target: RSS after 5,000 reads ≤ 300 MB. BENCH_CPU_PROF=DIR writes CPU profiles of the bench
// (run it with node --cpu-prof --cpu-prof-dir DIR for the relay's, which runs in this process) and
// of the desktop.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startRelay } from '../relay/dist/index.js';
import { hardDeadline, printResult, round, tempDir } from './lib/bench-util.mjs';

const READS = Number(process.env.BENCH_MEMORY_READS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_MEMORY_CONCURRENCY ?? 8);
const TARGET_RSS_MB = 300;
// 5,000 reads of 2 MiB are 10 GB through the relay: 2-3 minutes here (30-55 reads/s at 8 callers).
// It used to take half an hour (2.7 reads/s on a loaded machine) before the desktop stopped
// counting and masking each result in JS; bench/host-large-read.bench.mjs measures that path.
const BUDGET_MS = 12 * 60_000;
const root = new URL('..', import.meta.url).pathname;

const cancelDeadline = hardDeadline(BUDGET_MS);
const tmp = await tempDir('tether-bench-memory-');
const workspace = join(tmp.dir, 'workspace');
await mkdir(workspace);
// 2 MiB of text in lines of 100 bytes: one read of it returns it whole (limit covers every line).
const line = `${'x'.repeat(99)}\n`;
await writeFile(join(workspace, 'big.txt'), line.repeat((2 * 1024 * 1024) / line.length));

const relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(tmp.dir, 'relay'), logLevel: 'warn' });
await relay.admin.createOrg('bench');
const desktopToken = (await relay.admin.createToken({ org: 'bench', kind: 'desktop' })).token;
const platformKey = (await relay.admin.createToken({ org: 'bench', kind: 'platform' })).token;

const desktop = spawn(
  process.execPath,
  [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
    join(root, 'app', 'bin', 'tether-desktop.js'),
    '--headless',
    '--relay',
    relay.url,
    '--config-dir',
    join(tmp.dir, 'config'),
    '--workspace',
    workspace,
    '--policy',
    'read=allow,write=ask,shell=ask',
  ],
  { env: { ...process.env, TETHER_TOKEN: desktopToken }, stdio: ['ignore', 'ignore', 'inherit'] },
);

/** The desktop's resident memory in MB, from /proc (Linux). */
async function rssMb() {
  const status = await readFile(`/proc/${desktop.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

const api = (path, init = {}) =>
  fetch(relay.url + path, {
    ...init,
    headers: { authorization: `Bearer ${platformKey}`, 'content-type': 'application/json', ...init.headers },
  });

try {
  let runtime;
  for (const started = Date.now(); !runtime;) {
    if (Date.now() - started > 30_000) throw new Error('the desktop did not connect in 30 s');
    const { runtimes } = await (await api('/v1/runtimes')).json();
    runtime = runtimes.find((r) => r.state === 'running');
    if (!runtime) await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the desktop settles (watcher scan, first heartbeat)
  const idleMb = await rssMb();

  let peakMb = idleMb;
  const sampler = setInterval(() => {
    void rssMb().then((mb) => (peakMb = Math.max(peakMb, mb)));
  }, 200);
  const body = JSON.stringify({ tool: 'read_file', args: { path: 'big.txt', limit: 100_000 } });
  let next = 0;
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < READS) {
        next++;
        const res = await api(`/v1/runtimes/${runtime.id}/calls`, { method: 'POST', body });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`read_file answered ${res.status}: ${text.slice(0, 200)}`);
        bytes += text.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const afterMb = await rssMb();
  await new Promise((r) => setTimeout(r, 3000));
  const settledMb = await rssMb();
  console.error(
    `${READS} reads of ${round(bytes / READS / 1048576)} MiB in ${round(seconds)} s; desktop RSS idle ${round(idleMb)} MB, ` +
      `peak ${round(peakMb)} MB, after ${round(afterMb)} MB, 3 s later ${round(settledMb)} MB`,
  );
  printResult({
    name: 'host-memory',
    figures: {
      rssAfterReadsMb: round(afterMb),
      rssPeakMb: round(peakMb),
      rssSettledMb: round(settledMb),
      readsPerS: round(READS / seconds),
      mbPerS: round(bytes / seconds / 1e6),
    },
    reference: { rssIdleMb: round(idleMb) },
    targets: { rssAfterReadsMb: `≤ ${TARGET_RSS_MB}` },
    met: { rssAfterReadsMb: afterMb <= TARGET_RSS_MB },
    setup: { reads: READS, concurrency: CONCURRENCY, readMiB: round(bytes / READS / 1048576) },
  });
} finally {
  cancelDeadline();
  desktop.kill('SIGTERM');
  await new Promise((r) => (desktop.exitCode !== null ? r() : desktop.once('exit', r)));
  await relay.close();
  await tmp.dispose();
}
