// How long a frozen laptop goes unnoticed, through the real programs: the relay (from
// relay/dist, in this process, at its default heartbeat) and the headless desktop as its own
// process, connected over a real WebSocket. The desktop is stopped with SIGSTOP (a laptop lid
// closed, a process frozen by a debugger) and the platform API is polled until its runtime is
// `stopped`; meanwhile calls are sent, and the first one answered `runtime_offline` (without
// waiting its deadline) is timed too. RUNS freezes, each after the desktop came back (SIGCONT).
// With a 15 s heartbeat a frozen desktop was noticed after 42 s, and calls waited their
// deadline meanwhile. Targets: noticed (runtime stopped) ≤ 10 s; calls refused ≤ 10 s.
// The idle cost of the shorter heartbeat is in relay-idle (heartbeatCoreAtDefaultIntervalPercent).
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startRelay } from '../relay/dist/index.js';
import { hardDeadline, printResult, quantile, round, tempDir } from './lib/bench-util.mjs';

const RUNS = Number(process.env.BENCH_FREEZE_RUNS ?? 3);
const TARGET_MS = 10_000;
const BUDGET_MS = 5 * 60_000;
const root = new URL('..', import.meta.url).pathname;

const cancelDeadline = hardDeadline(BUDGET_MS);
const tmp = await tempDir('tether-bench-freeze-');
const workspace = join(tmp.dir, 'workspace');
await mkdir(workspace);
await writeFile(join(workspace, 'a.txt'), 'a');

const relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(tmp.dir, 'relay'), logLevel: 'warn' });
await relay.admin.createOrg('bench');
const desktopToken = (await relay.admin.createToken({ org: 'bench', kind: 'desktop' })).token;
const platformKey = (await relay.admin.createToken({ org: 'bench', kind: 'platform' })).token;
const desktop = spawn(
  process.execPath,
  [
    join(root, 'app', 'bin', 'tether-desktop.js'),
    '--headless',
    '--relay',
    relay.url,
    '--config-dir',
    join(tmp.dir, 'config'),
    '--workspace',
    workspace,
  ],
  { env: { ...process.env, TETHER_TOKEN: desktopToken }, stdio: ['ignore', 'ignore', 'ignore'] },
);
const api = async (path, init = {}) => {
  const res = await fetch(relay.url + path, {
    ...init,
    headers: { authorization: `Bearer ${platformKey}`, 'content-type': 'application/json' },
  });
  return { status: res.status, body: await res.json() };
};
const runtimeIn = async (state, timeoutMs) => {
  for (const started = Date.now(); Date.now() - started < timeoutMs;) {
    const { body } = await api('/v1/runtimes');
    const rt = body.runtimes.find((r) => r.state === state);
    if (rt) return rt;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${state} runtime within ${timeoutMs} ms`);
};

try {
  const noticed = [];
  const refused = [];
  for (let run = 0; run < RUNS; run++) {
    const runtime = await runtimeIn('running', 60_000);
    await new Promise((r) => setTimeout(r, 2_000)); // a few heartbeats while alive
    const frozenAt = performance.now();
    desktop.kill('SIGSTOP');
    let refusedAt = null;
    // A call every 250 ms while it is frozen (those handed to it before it was found late wait
    // for it: they are answered after it comes back): the first one refused at once is timed.
    const refusal = new Promise((resolve) => {
      const timer = setInterval(() => {
        void api(`/v1/runtimes/${runtime.id}/calls`, {
          method: 'POST',
          body: JSON.stringify({ tool: 'stat', args: { path: 'a.txt' }, timeoutMs: 30_000 }),
        }).then(({ body }) => {
          if (body.error?.code !== 'runtime_offline' || refusedAt !== null) return;
          refusedAt = performance.now();
          clearInterval(timer);
          resolve();
        });
      }, 250);
    });
    await runtimeIn('stopped', 60_000);
    noticed.push(performance.now() - frozenAt);
    await refusal;
    refused.push(refusedAt - frozenAt);
    desktop.kill('SIGCONT');
  }
  const sortedNoticed = [...noticed].sort((a, b) => a - b);
  const sortedRefused = [...refused].sort((a, b) => a - b);
  const worstNoticed = sortedNoticed.at(-1);
  const worstRefused = sortedRefused.at(-1);
  console.error(
    `frozen desktop noticed after ${noticed.map((ms) => round(ms)).join(', ')} ms; calls refused after ${refused.map((ms) => round(ms)).join(', ')} ms`,
  );
  printResult({
    name: 'host-freeze',
    figures: {
      noticedMaxMs: round(worstNoticed),
      noticedP50Ms: round(quantile(sortedNoticed, 0.5)),
      callsRefusedMaxMs: round(worstRefused),
    },
    reference: {},
    targets: { noticedMaxMs: `≤ ${TARGET_MS}`, callsRefusedMaxMs: `≤ ${TARGET_MS}` },
    met: { noticedMaxMs: worstNoticed <= TARGET_MS, callsRefusedMaxMs: worstRefused <= TARGET_MS },
    setup: { runs: RUNS },
  });
} finally {
  cancelDeadline();
  desktop.kill('SIGCONT');
  desktop.kill('SIGTERM');
  await new Promise((r) => (desktop.exitCode !== null ? r() : desktop.once('exit', r)));
  await relay.close();
  await tmp.dispose();
}
