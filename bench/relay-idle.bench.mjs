// 15,000 idle desktop connections on one relay process, beside a bare `ws` server holding as
// many in the same run: RSS per connection and heartbeat cost.
//
// Each connection says hello with one workspace and gets its welcome. The server process runs
// with --expose-gc; RSS is read after full GCs before any connection and after all of them (and
// a few heartbeat rounds). Heartbeat cost is the server's CPU time (user + system) over a
// window of about two rounds at a 5 s heartbeat interval, less its idle CPU, divided by the
// pings the clients received in that window: CPU per connection per heartbeat round.
// Clients run in CLIENT_PROCESSES processes (each far below the 20,000 open files allowed per
// process), each from its own loopback source address. Target (issue 5): relay RSS per
// connection ≤ 3× the bare ws server's.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { HEARTBEAT_INTERVAL_MS as PRODUCTION_HEARTBEAT_MS, PROTOCOL_VERSION } from '../shared/dist/index.js';
import { hardDeadline, printResult, round, startWorker, tempDir } from './lib/bench-util.mjs';

/** Idle connections per server (issue 5): one relay process must hold this many. */
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 15_000);
/** Client processes; 3 × 5,000 sockets keeps each well under the 20,000-file limit. */
const CLIENT_PROCESSES = 3;
/** Handshakes in flight per client process. */
const HANDSHAKE_CONCURRENCY = 50;
/**
 * A short heartbeat so a couple of rounds fit in seconds; production uses HEARTBEAT_INTERVAL_MS
 * (3 s: a dead peer noticed within 9 s), and heartbeatCoreAtDefaultIntervalPercent scales the
 * measured cost to it. Not 1 s: on a loaded 2-core box, 15,000 pongs a second starve the handshakes, and a
 * client process late with its pongs gets its connections ended (two missed = dead).
 */
const HEARTBEAT_INTERVAL_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 5_000);
/** CPU windows: idle (no connections) and with every connection (about two heartbeat rounds). */
const IDLE_WINDOW_MS = 2_000;
const HEARTBEAT_WINDOW_MS = 2 * HEARTBEAT_INTERVAL_MS;
/** Longest time all connections may take to be welcomed before the server is declared unable to hold them. */
const CONNECT_TIMEOUT_MS = 4 * 60_000;
const BUDGET_MS = 9 * 60_000;

const lib = (name) => fileURLToPath(new URL(`./lib/${name}`, import.meta.url));
const workers = new Set();
const cleanups = [];
// Past the budget: kill every child and remove the temp dirs, then exit.
const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
  await Promise.all([...workers].map((w) => w.dispose()));
  for (const dispose of cleanups) await dispose();
});

/** Stats summed over every client process. */
async function clientStats(clients) {
  const all = await Promise.all(
    clients.map((c) => {
      const reply = c.next('stats');
      c.send({ cmd: 'stats' });
      return reply;
    }),
  );
  return all.reduce(
    (a, s) => ({
      pings: a.pings + s.pings,
      open: a.open + s.open,
      welcomed: a.welcomed + s.welcomed,
      closed: a.closed + s.closedAfterWelcome,
    }),
    { pings: 0, open: 0, welcomed: 0, closed: 0 },
  );
}

async function measure(kind, firstSourceOctet) {
  const data = await tempDir(`tether-bench-idle-${kind}-`);
  cleanups.push(data.dispose);
  const server = startWorker(lib('server-worker.mjs'), {
    // 15,000 installs are played by one desktop token from CLIENT_PROCESSES addresses: the caps
    // per token and per address (about abuse, not load) are off for it.
    args: [
      kind,
      data.dir,
      String(HEARTBEAT_INTERVAL_MS),
      JSON.stringify({ maxConnectionsPerDesktopToken: 0, maxConnectionsPerAddress: 0 }),
    ],
    execArgv: ['--expose-gc'],
  });
  workers.add(server);
  const clients = [];
  try {
    const ready = await server.next('ready');
    server.send({ cmd: 'rss' });
    const before = await server.next('rss');
    if (!before.gcExposed) throw new Error('the server process has no gc(): RSS would be noise');
    server.send({ cmd: 'cpu', windowMs: IDLE_WINDOW_MS });
    const idleCpu = await server.next('cpu');

    const t0 = Date.now();
    const perProcess = Math.ceil(CONNECTIONS / CLIENT_PROCESSES);
    for (let i = 0; i < CLIENT_PROCESSES; i++) {
      const count = Math.min(perProcess, CONNECTIONS - i * perProcess);
      const config = {
        wsUrl: ready.wsUrl,
        token: ready.desktopToken,
        count,
        localAddress: `127.0.0.${firstSourceOctet + i}`,
        prefix: `bench-${kind}-${i}`,
        protocolVersion: PROTOCOL_VERSION,
        concurrency: HANDSHAKE_CONCURRENCY,
      };
      const client = startWorker(lib('idle-clients.mjs'), { args: [JSON.stringify(config)] });
      workers.add(client);
      clients.push(client);
    }
    // Wait for every welcome, logging progress; a server too slow to take them all within
    // CONNECT_TIMEOUT_MS is measured with the connections it does hold, and says so.
    let readies = null;
    let clientFailure = null;
    const allReady = Promise.all(clients.map((c) => c.next('ready'))).then(
      (r) => (readies = r),
      (err) => (clientFailure = err),
    );
    const deadline = t0 + CONNECT_TIMEOUT_MS;
    while (!readies && !clientFailure && Date.now() < deadline) {
      await Promise.race([allReady, sleep(15_000)]);
      if (!readies && !clientFailure) {
        const s = await clientStats(clients);
        console.error(`${kind}: ${s.welcomed} welcomed after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      }
    }
    if (clientFailure) throw clientFailure;
    const timedOut = !readies;
    if (timedOut) {
      for (const c of clients) c.send({ cmd: 'stop' });
      await allReady;
      if (clientFailure) throw clientFailure;
    }
    const connectSeconds = (Date.now() - t0) / 1000;
    const welcomed = readies.reduce((a, r) => a + r.welcomed, 0);
    const failed = readies.reduce((a, r) => a + r.failed, 0);
    if (failed > 0 && !timedOut)
      throw new Error(`${kind}: ${failed} connections refused, e.g. ${readies.flatMap((r) => r.failures).join(' | ')}`);
    console.error(
      `${kind}: ${welcomed} connections welcomed in ${connectSeconds.toFixed(1)} s${timedOut ? ' (gave up)' : ''}`,
    );

    // Let a couple of heartbeat rounds pass so per-connection heartbeat state exists, then weigh.
    await sleep(2 * HEARTBEAT_INTERVAL_MS);
    const held = (await clientStats(clients)).open;
    if (held === 0) throw new Error(`${kind}: no connection held`);
    server.send({ cmd: 'rss' });
    const after = await server.next('rss');

    const statsBefore = await clientStats(clients);
    server.send({ cmd: 'cpu', windowMs: HEARTBEAT_WINDOW_MS });
    const cpu = await server.next('cpu');
    const statsAfter = await clientStats(clients);
    const pings = statsAfter.pings - statsBefore.pings;
    if (pings < statsAfter.open)
      throw new Error(`${kind}: only ${pings} pings in ${HEARTBEAT_WINDOW_MS} ms for ${statsAfter.open} connections`);

    const idleUsPerMs = (idleCpu.userUs + idleCpu.systemUs) / idleCpu.wallMs;
    const heartbeatUs = cpu.userUs + cpu.systemUs - idleUsPerMs * cpu.wallMs;
    const result = {
      rssBeforeMB: before.rss / 2 ** 20,
      rssAfterMB: after.rss / 2 ** 20,
      rssPerConnKB: (after.rss - before.rss) / held / 1024,
      heapPerConnKB: (after.heapUsed - before.heapUsed) / held / 1024,
      heartbeatUsPerConnRound: heartbeatUs / pings,
      heartbeatCpuPercent: ((cpu.userUs + cpu.systemUs) / 1000 / cpu.wallMs) * 100,
      pingsPerConnInWindow: pings / statsAfter.open,
      connectSeconds,
      connectionsHeld: statsAfter.open,
      droppedWhileIdle: held - statsAfter.open,
    };
    console.error(`${kind}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await server.dispose();
  }
}

try {
  const bare = await measure('bare', 2);
  if (bare.connectionsHeld !== CONNECTIONS)
    throw new Error(`the bare reference held only ${bare.connectionsHeld} connections`);
  // Fresh source addresses: the bare run's sockets may still sit in TIME_WAIT.
  // A relay that cannot hold the connections is a finding, reported as such, not a crash.
  const relay = await measure('relay', 2 + CLIENT_PROCESSES).catch((err) => ({ error: err.message }));
  if (relay.error) {
    printResult({
      name: 'relay-idle',
      figures: { error: relay.error },
      reference: {
        rssPerConnKB: round(bare.rssPerConnKB),
        heartbeatUsPerConnRound: round(bare.heartbeatUsPerConnRound),
        connectSeconds: round(bare.connectSeconds),
      },
      targets: { connectionsHeld: `= ${CONNECTIONS}`, rssRatio: '≤ 3' },
      met: { connectionsHeld: false, rssRatio: false },
      setup: {
        connections: CONNECTIONS,
        clientProcesses: CLIENT_PROCESSES,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        heartbeatWindowMs: HEARTBEAT_WINDOW_MS,
      },
    });
    process.exitCode = 0;
  } else {
    const rssRatio = relay.rssPerConnKB / bare.rssPerConnKB;
    printResult({
      name: 'relay-idle',
      figures: {
        connectionsHeld: relay.connectionsHeld,
        droppedWhileIdle: relay.droppedWhileIdle,
        rssPerConnKB: round(relay.rssPerConnKB),
        rssRatio: round(rssRatio),
        heapPerConnKB: round(relay.heapPerConnKB),
        heartbeatUsPerConnRound: round(relay.heartbeatUsPerConnRound),
        heartbeatRatio: round(relay.heartbeatUsPerConnRound / bare.heartbeatUsPerConnRound),
        heartbeatCpuPercent: round(relay.heartbeatCpuPercent),
        // What holding CONNECTIONS costs at the production interval: % of one core.
        heartbeatCoreAtDefaultIntervalPercent: round(
          ((relay.heartbeatUsPerConnRound * CONNECTIONS) / (PRODUCTION_HEARTBEAT_MS * 1000)) * 100,
        ),
        rssAfterMB: round(relay.rssAfterMB),
        connectSeconds: round(relay.connectSeconds),
      },
      reference: {
        connectionsHeld: bare.connectionsHeld,
        rssPerConnKB: round(bare.rssPerConnKB),
        heapPerConnKB: round(bare.heapPerConnKB),
        heartbeatUsPerConnRound: round(bare.heartbeatUsPerConnRound),
        heartbeatCpuPercent: round(bare.heartbeatCpuPercent),
        rssAfterMB: round(bare.rssAfterMB),
        connectSeconds: round(bare.connectSeconds),
      },
      targets: { connectionsHeld: `= ${CONNECTIONS}`, rssRatio: '≤ 3' },
      met: { connectionsHeld: relay.connectionsHeld === CONNECTIONS, rssRatio: rssRatio <= 3 },
      setup: {
        connections: CONNECTIONS,
        clientProcesses: CLIENT_PROCESSES,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        heartbeatWindowMs: HEARTBEAT_WINDOW_MS,
      },
    });
  }
} finally {
  cancelDeadline();
  await Promise.all([...workers].map((w) => w.dispose()));
  for (const dispose of cleanups) await dispose();
}
