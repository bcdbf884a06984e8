// Cost of the call journal on a write call: the same `write_file` (200 bytes) through two
// CallRunners in one process and one workspace, one with the journal (an fdatasync'd `started`
// record before the handler, a written result after) and one without, interleaved so machine
// load hits both alike. Also 8 calls at a time (their `started` records share fdatasyncs).
// Target (own): median added cost per sequential write call ≤ 2 ms.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../app/dist/host/audit/audit-log.js';
import { CallJournal } from '../app/dist/host/calls/call-journal.js';
import { CallRunner } from '../app/dist/host/calls/call-runner.js';
import { ConfigStore } from '../app/dist/host/config/config-store.js';
import { createFsTools } from '../app/dist/host/fs/fs-tools.js';
import { previewWrite } from '../app/dist/host/fs/write-preview.js';
import { ConfirmationBroker } from '../app/dist/host/policy/confirmation-broker.js';
import { WorkspaceSet } from '../app/dist/host/workspaces/workspace-set.js';
import { hardDeadline, printResult, quantile, round, tempDir } from './lib/bench-util.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 500);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 50);
/** Batches of CONCURRENT calls for the throughput figure. */
const BATCHES = 60;
const CONCURRENT = 8;
const TARGET_ADDED_P50_MS = 2;
const BUDGET_MS = 3 * 60_000;

const cancelDeadline = hardDeadline(BUDGET_MS);
const tmp = await tempDir('tether-bench-journal-');
await mkdir(join(tmp.dir, 'ws'));
const config = await ConfigStore.open(join(tmp.dir, 'cfg'));
const tools = createFsTools();
const workspaces = await WorkspaceSet.open(config, { fileEvents: false, handlers: tools });
const ws = await workspaces.add({
  root: join(tmp.dir, 'ws'),
  policy: { read: 'allow', write: 'allow', shell: 'allow' },
});
const audit = await AuditLog.open(join(tmp.dir, 'cfg'));
const broker = new ConfirmationBroker({});
const journal = await CallJournal.open(join(tmp.dir, 'cfg'));
const runnerOf = (withJournal) =>
  new CallRunner({
    ...(withJournal ? { journal } : {}),
    workspaces,
    broker,
    audit,
    handlers: tools,
    preview: previewWrite,
  });
const runners = { plain: runnerOf(false), journal: runnerOf(true) };
const sink = { progress: () => true, whenDrained: () => Promise.resolve() };
let seq = 0;
const call = (path, content) => ({
  type: 'call',
  id: `call_bench_${++seq}`,
  runtimeId: 'rt_bench',
  workspaceId: ws.config.id,
  tool: 'write_file',
  args: { path, content },
  deadline: Date.now() + 60_000,
  caller: 'bench',
});
const write = async (runner, path, content) => {
  const result = await runner.run(call(path, content), sink);
  if (!result.ok) throw new Error(`write_file failed: ${JSON.stringify(result.error)}`);
};

try {
  const samples = { plain: [], journal: [] };
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const order = i % 2 === 0 ? ['plain', 'journal'] : ['journal', 'plain'];
    for (const kind of order) {
      const started = performance.now();
      await write(runners[kind], `${kind}-${i % 10}.txt`, 'x'.repeat(200));
      if (i >= WARMUP) samples[kind].push(performance.now() - started);
    }
  }
  const stats = Object.fromEntries(
    Object.entries(samples).map(([kind, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return [kind, { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) }];
    }),
  );
  const batchMs = {};
  for (const kind of ['plain', 'journal', 'plain', 'journal']) {
    const started = performance.now();
    for (let b = 0; b < BATCHES; b++)
      await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => write(runners[kind], `c-${kind}-${i}.txt`, 'y')));
    batchMs[kind] = Math.min(batchMs[kind] ?? Infinity, performance.now() - started);
  }
  const added = stats.journal.p50 - stats.plain.p50;
  const perCallConcurrent = (ms) => ms / (BATCHES * CONCURRENT);
  console.error(
    `write_file p50 ${stats.journal.p50.toFixed(3)} ms with the journal, ${stats.plain.p50.toFixed(3)} ms without; ` +
      `${CONCURRENT} at a time: ${perCallConcurrent(batchMs.journal).toFixed(3)} vs ${perCallConcurrent(batchMs.plain).toFixed(3)} ms per call`,
  );
  printResult({
    name: 'host-call-journal',
    figures: {
      journalP50Ms: round(stats.journal.p50),
      journalP95Ms: round(stats.journal.p95),
      addedP50Ms: round(added),
      addedP95Ms: round(stats.journal.p95 - stats.plain.p95),
      concurrentPerCallMs: round(perCallConcurrent(batchMs.journal)),
    },
    reference: {
      plainP50Ms: round(stats.plain.p50),
      plainP95Ms: round(stats.plain.p95),
      concurrentPlainPerCallMs: round(perCallConcurrent(batchMs.plain)),
    },
    targets: { addedP50Ms: `≤ ${TARGET_ADDED_P50_MS}` },
    met: { addedP50Ms: added <= TARGET_ADDED_P50_MS },
    setup: { runs: RUNS, warmup: WARMUP, concurrent: CONCURRENT, batches: BATCHES, tool: 'write_file 200 B' },
  });
} finally {
  cancelDeadline();
  for (const runner of Object.values(runners)) await runner.dispose();
  await journal.dispose();
  broker.dispose();
  await workspaces.dispose();
  await audit.dispose();
  await tmp.dispose();
}
