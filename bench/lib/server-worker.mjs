// A bench server process: the Tether relay (built, from relay/dist) or the bare reference.
// Talks to the bench over IPC: sends { type: 'ready', url, wsUrl, desktopToken, platformToken },
// then answers { cmd: 'rss' } (after full GCs when run with --expose-gc) and
// { cmd: 'cpu', windowMs } (this process's CPU time over the window), and stops on { cmd: 'close' }.
import { setTimeout as sleep } from 'node:timers/promises';
import { startBareRelay } from './bare-relay.mjs';
import { workerGuard } from './bench-util.mjs';

workerGuard();
const [kind, dataDir, heartbeatArg, limitsArg] = process.argv.slice(2);
/** Overrides of the relay's limits (JSON), where a bench's shorthand is not what a limit is about. */
const limits = limitsArg ? JSON.parse(limitsArg) : undefined;
const heartbeatIntervalMs = heartbeatArg ? Number(heartbeatArg) : undefined;

let server;
let ready;
if (kind === 'bare') {
  server = await startBareRelay(heartbeatIntervalMs ? { heartbeatIntervalMs } : {});
  ready = { url: server.url, wsUrl: server.wsUrl, desktopToken: 'bare', platformToken: 'bare' };
} else if (kind === 'relay') {
  const { startRelay } = await import('../../relay/dist/index.js');
  // Request logging off ('warn'): the bare reference logs nothing either, and a production
  // relay ships its logs asynchronously (pino); what is measured is routing, auth and the store.
  // Heartbeats as short as the bench asks; every limit is the relay's default.
  server = await startRelay({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'warn',
    ...(heartbeatIntervalMs ? { heartbeatIntervalMs } : {}),
    ...(limits ? { limits } : {}),
  });
  await server.admin.createOrg('bench');
  const desktop = await server.admin.createToken({ org: 'bench', kind: 'desktop', name: 'bench desktop' });
  const platform = await server.admin.createToken({ org: 'bench', kind: 'platform', name: 'bench platform' });
  ready = { url: server.url, wsUrl: server.wsUrl, desktopToken: desktop.token, platformToken: platform.token };
} else {
  throw new Error(`unknown server kind ${kind}`);
}

async function settledRss() {
  if (globalThis.gc) {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await sleep(50);
    }
  }
  return process.memoryUsage();
}

process.on('message', async (msg) => {
  if (msg.cmd === 'rss') {
    const mem = await settledRss();
    process.send({
      type: 'rss',
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      external: mem.external,
      gcExposed: Boolean(globalThis.gc),
    });
  } else if (msg.cmd === 'cpu') {
    const start = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(msg.windowMs);
    const used = process.cpuUsage(start);
    process.send({
      type: 'cpu',
      userUs: used.user,
      systemUs: used.system,
      wallMs: Number(process.hrtime.bigint() - t0) / 1e6,
    });
  } else if (msg.cmd === 'close') {
    await server.close();
    process.send({ type: 'closed' });
    process.exit(0);
  }
});
process.send({ type: 'ready', ...ready, pid: process.pid });
