// The abuse attacks of "one tenant cannot stall the relay", replayed on loopback against a relay
// process with its default limits, with the figures each attack used to reach:
// - deep: one (and four) 7.6 MiB `[[[…]]]` frames from a desktop token, and one as a platform
//   request body: the longest /healthz answer meanwhile, the relay's peak RSS growth, and
//   whether the socket was closed (and with which code);
// - slow: 420 token-less trickled bodies, then a valid platform key and a desktop connect;
// - tokenless: 30 token-less GETs, then a valid key and a desktop;
// - tokenSockets: 1,500 sockets from one desktop token: how many were welcomed;
// - sse: 4 SSE readers that never read while a desktop streams output: peak RSS growth;
// - list: GET /v1/runtimes with 4,800 runtimes: bytes of the answer.
// Peak RSS is the relay process's VmHWM (/proc/<pid>/status), reset before each attack.
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../shared/dist/index.js';
import { hardDeadline, helloFrame, printResult, round, startWorker, tempDir } from './lib/bench-util.mjs';

const BUDGET_MS = 8 * 60_000;
const DEEP_BRACKETS = 4_000_000; // 7.6 MiB of brackets
const lib = (name) => fileURLToPath(new URL(`./lib/${name}`, import.meta.url));
const cleanups = [];
const cancelDeadline = hardDeadline(BUDGET_MS, async () => {
  for (const dispose of cleanups.reverse()) await dispose();
});

const data = await tempDir('tether-bench-abuse-');
cleanups.push(data.dispose);
const server = startWorker(lib('server-worker.mjs'), { args: ['relay', data.dir] });
cleanups.push(() => server.dispose());
const ready = await server.next('ready');
const { url, wsUrl, desktopToken, platformToken, pid } = ready;
const auth = { authorization: `Bearer ${platformToken}` };

const statusOf = async (path, init = {}) => (await fetch(url + path, init).catch(() => ({ status: 0 }))).status;

async function status(field) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)[1]) * 1024;
}
/** Resets the peak RSS (VmHWM) to the current RSS (writing 5 to clear_refs). */
async function resetPeak() {
  await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
  return status('VmRSS');
}
const mib = (bytes) => round(bytes / 2 ** 20);

/** Polls /healthz while `attack` runs; the longest answer in ms. */
async function healthDuring(attack) {
  let worst = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      const t0 = performance.now();
      await fetch(`${url}/healthz`).then((r) => r.text());
      worst = Math.max(worst, performance.now() - t0);
      await sleep(10);
    }
  })();
  const result = await attack();
  await sleep(200);
  running = false;
  await poll;
  return { worstHealthzMs: round(worst), ...result };
}

async function desktop(token = desktopToken, deviceId = `dev-${Math.random()}`) {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  ws.on('error', () => undefined);
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  const opened = await new Promise((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.once('error', () => resolve(false));
  });
  if (opened !== true) return { ok: false, status: opened, ws, closed };
  const welcome = new Promise((resolve) =>
    ws.on('message', (m) => {
      const frame = JSON.parse(m.toString());
      if (frame.type === 'welcome') resolve(frame);
    }),
  );
  ws.send(JSON.stringify(helloFrame({ protocolVersion: PROTOCOL_VERSION, deviceId, workspaceIds: ['ws-1'] })));
  const frame = await Promise.race([welcome, closed.then(() => null)]);
  return { ok: frame !== null, ws, closed, welcome: frame };
}

const figures = {};
const deep = '['.repeat(DEEP_BRACKETS) + ']'.repeat(DEEP_BRACKETS); // the body

// 1. Deep frames (each from its own desktop process) and bodies.
for (const n of [1, 4]) {
  const clients = Array.from({ length: n }, (_, i) =>
    startWorker(lib('deep-frame-client.mjs'), {
      args: [
        JSON.stringify({
          wsUrl,
          token: desktopToken,
          deviceId: `deep-${n}-${i}`,
          depth: DEEP_BRACKETS,
          protocolVersion: PROTOCOL_VERSION,
        }),
      ],
    }),
  );
  clients.forEach((c) => cleanups.push(() => c.dispose()));
  await Promise.all(clients.map((c) => c.next('welcomed')));
  const before = await resetPeak();
  const r = await healthDuring(async () => {
    const t0 = performance.now();
    clients.forEach((c) => c.send({ cmd: 'send' }));
    const codes = await Promise.race([
      Promise.all(clients.map((c) => c.next('closed').then((m) => m.code))),
      sleep(30_000).then(() => 'still open after 30 s'),
    ]);
    return { closeCodes: codes, closedAfterMs: round(performance.now() - t0) };
  });
  figures[`deepFrames${n}`] = { ...r, peakRssGrowthMiB: mib((await status('VmHWM')) - before) };
  await Promise.all(clients.map((c) => c.dispose()));
}
{
  const before = await resetPeak();
  const r = await healthDuring(async () => {
    const res = await fetch(`${url}/v1/runtimes/rt_x/calls`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: deep,
    });
    return { status: res.status, code: (await res.json()).error?.code };
  });
  figures.deepBody = { ...r, peakRssGrowthMiB: mib((await status('VmHWM')) - before) };
}

// 2. 420 token-less trickled bodies.
{
  const sockets = [];
  for (let i = 0; i < 420; i++) {
    const s = connect(new URL(url).port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('POST /v1/grants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n');
    sockets.push(s);
  }
  const trickle = setInterval(() => sockets.forEach((s) => !s.destroyed && s.write(' ')), 200);
  await sleep(2_000);
  const key = await statusOf('/v1/runtimes', { headers: auth });
  const d = await desktop();
  const openAfter2s = sockets.filter((s) => !s.destroyed).length;
  await sleep(3_000);
  figures.slowBodies = {
    stillOpenAfter2s: openAfter2s,
    stillOpenAfter5s: sockets.filter((s) => !s.destroyed).length,
    validKeyStatus: key,
    desktopWelcomed: d.ok,
  };
  clearInterval(trickle);
  sockets.forEach((s) => s.destroy());
  d.ws.terminate();
}

// 3. 30 token-less GETs (a NAT neighbour, a web page), then the valid credentials.
{
  for (let i = 0; i < 30; i++) await statusOf('/v1/runtimes');
  const key = await statusOf('/v1/runtimes', { headers: auth });
  const d = await desktop();
  figures.tokenlessGets = { validKeyStatus: key, desktopWelcomed: d.ok };
  d.ws.terminate();
}

// 4. 1,500 sockets from one desktop token.
{
  const attempts = [];
  for (let i = 0; i < 1_500; i += 50)
    attempts.push(
      ...(await Promise.all(Array.from({ length: 50 }, (_, j) => desktop(desktopToken, `flood-${i + j}`)))),
    );
  figures.oneTokenSockets = {
    welcomed: attempts.filter((a) => a.ok).length,
    refused429: attempts.filter((a) => a.status === 429).length,
  };
  attempts.forEach((a) => a.ws.terminate());
  await sleep(1_000);
}

// 5. Four SSE readers that never read while a desktop streams 4 × 50 MiB of output (progress
// frames of one call each: the relay forwards them whatever the tool).
{
  const d = await desktop(desktopToken, 'sse-dev');
  const runtimeId = d.welcome.runtimes[0].runtimeId;
  const chunk = 'y\n'.repeat(32 * 1024);
  d.ws.on('message', (m) => {
    const frame = JSON.parse(m.toString());
    if (frame.type !== 'call') return;
    (async () => {
      for (let i = 0; i < 800; i++) {
        d.ws.send(JSON.stringify({ type: 'progress', id: frame.id, status: 'output', chunk }));
        if (d.ws.bufferedAmount > 8 * 2 ** 20) await sleep(5);
      }
      d.ws.send(JSON.stringify({ type: 'result', id: frame.id, ok: true, value: { exitCode: 0 } }));
    })();
  });
  const before = await resetPeak();
  const readers = [];
  for (let i = 0; i < 4; i++) {
    const s = connect(new URL(url).port, '127.0.0.1');
    s.on('error', () => undefined);
    const body = JSON.stringify({ tool: 'read_file', args: { path: 'big.log' } });
    s.write(
      `POST /v1/runtimes/${runtimeId}/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${platformToken}\r\n` +
        `Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    s.pause(); // never reads
    readers.push(s);
  }
  // Until the four calls have started and then all finished at the relay.
  const until = Date.now() + 120_000;
  let started = false;
  for (;;) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const inFlight = Number(/tether_relay_calls_in_flight (\d+)/.exec(metrics)[1]);
    if (inFlight === 4) started = true;
    if ((started && inFlight === 0) || Date.now() > until) break;
    await sleep(100);
  }
  const t0 = performance.now();
  // What the readers then get: a gap event each, and the result.
  const got = await Promise.all(
    readers.map(
      (r) =>
        new Promise((resolve) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c) => (text += c));
          r.resume();
          const done = setInterval(() => {
            if (text.includes('event: result') || performance.now() - t0 > 60_000) {
              clearInterval(done);
              resolve(text);
            }
          }, 50);
        }),
    ),
  );
  figures.laggingSseReaders = {
    gapEvents: got.map((t) => (t.match(/event: gap/g) ?? []).length),
    droppedBytes: got.map((t) =>
      [...t.matchAll(/event: gap\ndata: (.*)\n/g)].reduce((n, m) => n + JSON.parse(m[1]).droppedBytes, 0),
    ),
    rssBeforeMiB: mib(before),
    peakRssMiB: mib(await status('VmHWM')),
    peakRssGrowthMiB: mib((await status('VmHWM')) - before),
  };
  readers.forEach((s) => s.destroy());
  d.ws.terminate();
}

// 6. GET /v1/runtimes with 75 devices × 64 workspaces.
{
  for (let i = 0; i < 75; i++) {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${desktopToken}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const welcome = new Promise((resolve) => ws.once('message', resolve));
    ws.send(
      JSON.stringify(
        helloFrame({
          protocolVersion: PROTOCOL_VERSION,
          deviceId: `list-${i}`,
          workspaceIds: Array.from({ length: 64 }, (_, j) => `ws-${j}`),
        }),
      ),
    );
    await welcome;
    ws.close();
  }
  const res = await fetch(`${url}/v1/runtimes`, { headers: auth });
  const text = await res.text();
  const body = JSON.parse(text);
  figures.runtimeList = {
    runtimes: 75 * 64,
    firstPageRuntimes: body.runtimes.length,
    firstPageBytes: text.length,
    nextCursor: body.nextCursor !== null,
  };
}

server.send({ cmd: 'close' });
await server.next('closed').catch(() => undefined);
cancelDeadline();
for (const dispose of cleanups.reverse()) await dispose();
printResult({ name: 'relay-abuse', figures, reference: {}, targets: {}, met: {} });
