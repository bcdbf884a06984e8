// The callers of the latency bench: C concurrent callers, each a loop of
// `POST /v1/runtimes/:id/calls` over keep-alive HTTP (node:http), spread over the runtimes.
// Runs `warmup` calls unmeasured, then `calls` measured ones; reports latencies and throughput.
// `readArgs` are added to read_file's (e.g. a `limit` that covers a large file) and `minChars`
// is the length an answer must have to count as a success (default 4096: the 4 KB file).
import { Agent, request } from 'node:http';
import { quantile, workerGuard } from './bench-util.mjs';

workerGuard();
const {
  url,
  token,
  runtimeIds,
  concurrency,
  warmup,
  calls,
  path,
  readArgs = {},
  minChars = 4096,
} = JSON.parse(process.argv[2]);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const body = JSON.stringify({ tool: 'read_file', args: { path, ...readArgs } });
const base = new URL(url);

function call(runtimeId) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: 'POST',
        path: `/v1/runtimes/${runtimeId}/calls`,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode, text }),
        );
      },
    );
    req.on('error', (err) => resolve({ ms: 0, status: 0, text: String(err) }));
    req.end(body);
  });
}

async function phase(total, record) {
  const latencies = new Float64Array(total);
  let issued = 0;
  let done = 0;
  let measuredChars = 0;
  const errors = [];
  const t0 = process.hrtime.bigint();
  const worker = async (index) => {
    const runtimeId = runtimeIds[index % runtimeIds.length];
    while (issued < total) {
      const n = issued++;
      const r = await call(runtimeId);
      // A success carries the file's content; anything else is an error the bench reports.
      if (r.status !== 200 || r.text.length < minChars) errors.push(`${r.status} ${r.text.slice(0, 200)}`);
      latencies[n] = r.ms;
      measuredChars += r.text.length;
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!record) return { errors };
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    done,
    seconds,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    throughput: done / seconds,
    responseChars: measuredChars / Math.max(done, 1),
    errors,
  };
}

const warm = await phase(warmup, false);
const measured = await phase(calls, true);
agent.destroy();
const errors = [...warm.errors, ...measured.errors];
process.send({ type: 'done', ...measured, errors: errors.length, firstErrors: errors.slice(0, 3) });
