// Two relay nodes as a cluster (`tether-relay serve --database-url … --redis-url …`, real
// PostgreSQL and redis-server from Debian's packages, on loopback):
// - the extra hop: sequential `read_file` calls through the real `tether-desktop --headless`
//   held by node A, sent to A (answered on the holding node) and to B (crossing to A through
//   Redis), interleaved ABBA; the p50 difference is what the hop costs (target ≤ 1 ms);
// - failover: 1,000 stand-in desktops (bench/lib/failover-desktops.mjs) on node A, A killed with
//   SIGKILL, each desktop reconnecting to B after a full-jitter delay of up to 1 s (the real
//   desktop's first backoff step); the time until B has welcomed every one of them, i.e. their
//   runtimes are attached and running on B again (target ≤ 10 s);
// - B's RSS holding those 1,000 desktops.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../shared/dist/index.js';
import { hardDeadline, printResult, round, startWorker, tempDir } from './lib/bench-util.mjs';
import {
  children,
  loadPhase,
  makeOrg,
  startRealDesktop,
  startRelayNode,
  waitForRuntimes,
} from './lib/real-programs.mjs';

const CALLS = Number(process.env.BENCH_CALLS ?? 1_000);
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP_CALLS ?? 200);
const FAILOVER_DESKTOPS = Number(process.env.BENCH_DESKTOPS ?? 1_000);
const FAILOVER_TIMEOUT_MS = 120_000;
const BUDGET_MS = 8 * 60_000;
const FILE = 'file-4k.txt';

const testing = (name) => new URL(`../relay/dist/testing/${name}`, import.meta.url).href;
const { startTestPostgres, postgresAvailable } = await import(testing('postgres-server.js'));
const { startTestRedis, REDIS_SERVER } = await import(testing('redis-server.js'));
if (!REDIS_SERVER || !(await postgresAvailable())) {
  console.error('cluster bench: needs redis-server and PostgreSQL (Debian packages redis-server, postgresql)');
  process.exit(1);
}

const cleanups = [];
const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const dispose of cleanups.reverse()) await dispose();
});

async function rssMb(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

try {
  const [postgres, redis] = await Promise.all([startTestPostgres(), startTestRedis()]);
  cleanups.push(
    () => postgres.dispose(),
    () => redis.dispose(),
  );
  // The failover's 1,000 stand-in desktops share one token and one address: the per-token and
  // per-address caps (about abuse, not load) are off for them.
  const clusterArgs = [
    '--database-url',
    postgres.url,
    '--redis-url',
    redis.url,
    '--max-connections-per-desktop-token',
    '0',
    '--max-connections-per-address',
    '0',
    // The stand-ins share one address: 1,000 handshakes at once must not trip the cap on
    // not-yet-authenticated connections (256) while their tokens are being checked.
    '--max-unauthenticated-connections-per-address',
    '0',
  ];
  const tokens = await makeOrg(['--database-url', postgres.url]);
  const a = await startRelayNode(clusterArgs);
  cleanups.push(() => a.dispose());
  const b = await startRelayNode(clusterArgs);
  cleanups.push(() => b.dispose());

  // The hop: a real desktop on A, callers at A and at B.
  const fixture = await tempDir('tether-bench-cluster-ws-');
  cleanups.push(fixture.dispose);
  await writeFile(
    join(fixture.dir, FILE),
    Array.from({ length: 64 }, (_, i) => `${String(i).padStart(4, '0')} `.padEnd(63, 'x') + '\n').join(''),
  );
  const desktop = await startRealDesktop({ url: a.url, desktopToken: tokens.desktopToken }, [fixture.dir]);
  const runtimeIds = await waitForRuntimes(a.url, tokens.key, 1);
  const rounds = { same: [], cross: [] };
  for (const side of ['same', 'cross', 'cross', 'same']) {
    const r = await loadPhase({
      url: side === 'same' ? a.url : b.url,
      key: tokens.key,
      runtimeIds,
      concurrency: 1,
      warmup: WARMUP_CALLS,
      calls: CALLS,
      path: FILE,
      pids: {},
    });
    console.error(`${side} node: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms`);
    rounds[side].push(r);
  }
  await desktop.dispose();
  const p50 = (rs) => Math.min(...rs.map((r) => r.p50));
  const hopMs = p50(rounds.cross) - p50(rounds.same);

  // Failover: stand-in desktops on A, A killed, all of them back on B.
  const desktops = startWorker(fileURLToPath(new URL('./lib/failover-desktops.mjs', import.meta.url)), {
    args: [
      JSON.stringify({
        wsUrls: [a.wsUrl, b.wsUrl],
        token: tokens.desktopToken,
        devices: FAILOVER_DESKTOPS,
        protocolVersion: PROTOCOL_VERSION,
      }),
    ],
  });
  cleanups.push(() => desktops.dispose());
  await desktops.next('ready');
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  let backMs = NaN;
  const until = killedAt + FAILOVER_TIMEOUT_MS;
  for (;;) {
    const m = await desktops.next('welcomed');
    if (m.count === FAILOVER_DESKTOPS) {
      backMs = Date.now() - killedAt;
      break;
    }
    if (Date.now() > until) break;
  }
  console.error(`failover: ${FAILOVER_DESKTOPS} desktops back on the other node ${backMs} ms after the kill`);
  const rss = await rssMb(b.pid);

  printResult({
    name: 'cluster',
    figures: {
      crossNodeHopMs: round(hopMs),
      sameNodeP50Ms: round(p50(rounds.same)),
      crossNodeP50Ms: round(p50(rounds.cross)),
      failoverMs: round(backMs),
      survivorRssMbWithDesktops: round(rss),
    },
    reference: { sameNodeP50Ms: round(p50(rounds.same)) },
    targets: { crossNodeHopMs: '≤ 1', failoverMs: '≤ 10000' },
    met: { crossNodeHopMs: hopMs <= 1, failoverMs: backMs <= 10_000 },
    setup: {
      nodes: 2,
      calls: CALLS,
      warmupCalls: WARMUP_CALLS,
      failoverDesktops: FAILOVER_DESKTOPS,
      reconnectJitterMs: 1_000,
      postgres: existsSync('/usr/lib/postgresql') ? 'Debian postgresql' : 'unknown',
    },
  });
} finally {
  cancelDeadline();
  for (const dispose of cleanups.reverse()) await dispose().catch(() => undefined);
  for (const c of children) c.kill('SIGKILL');
}
