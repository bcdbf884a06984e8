// The real programs for the benches that measure what a user runs: `tether-relay` (its CLI makes
// the org and tokens, `serve` runs it) and `tether-desktop --headless`, started from their
// command lines as the README does, with their default settings. Also the CPU time a process
// has used (from /proc/<pid>/stat) and the load phase shared by those benches.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../../shared/dist/index.js';
import { startWorker, tempDir } from './bench-util.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const lib = (name) => fileURLToPath(new URL(`./${name}`, import.meta.url));
/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in these. */
const CLOCK_TICKS_PER_SECOND = 100;
/** Longest wait for the desktop's workspaces to show as running at the relay. */
const REGISTER_TIMEOUT_MS = 60_000;

/** Every program started here, so a bench past its budget can kill them all. */
export const children = new Set();

/** CPU seconds (user + system) one process has used so far. */
async function ownCpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after its ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** The pids of a process's living children (every thread's), from /proc. */
async function childPids(pid) {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
  const lists = await Promise.all(
    tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')),
  );
  return lists.join(' ').split(/\s+/).filter(Boolean).map(Number);
}

/**
 * CPU seconds (user + system) a program has used so far: the process and its living
 * descendants (`tether-desktop` runs the host as a child, so the token never sits in the
 * host's environment).
 */
export async function cpuSeconds(pid) {
  let total = await ownCpuSeconds(pid).catch(() => 0);
  for (const child of await childPids(pid)) total += await cpuSeconds(child);
  return total;
}

/** Node's flags for the programs: BENCH_CPU_PROF=DIR writes a CPU profile of each there. */
function nodeFlags() {
  return process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
}

/** Runs a command to completion; resolves with its stdout (rejects on a non-zero exit). */
function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')}: ${err || out}`))));
  });
}

/** Starts a long-running program; resolves once its output matches `ready`. */
function start(args, { env = {}, ready }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags(), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let seen = '';
    const onData = (d) => {
      seen += d;
      const m = ready.exec(seen);
      if (!m) return;
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      // Keep reading, so a full pipe never blocks the program.
      child.stdout.resume();
      child.stderr.resume();
      resolve({ child, match: m });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before it was ready:\n${seen}`)));
  });
}

/** Stops a program as a person would (SIGTERM), killing it if it has not gone in 5 s. */
export function stop(child) {
  return new Promise((resolve) => {
    children.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}

const relayBin = join(root, 'relay/bin/tether-relay.js');
const lastLine = (out) => out.trim().split('\n').at(-1);

/**
 * An org `bench` with a desktop token and a platform key, made with the relay's CLI in a data
 * dir or (for a cluster) a PostgreSQL database: `where` is ['--data-dir', DIR] or
 * ['--database-url', URL]. Resolves with { desktopToken, key }.
 */
export async function makeOrg(where) {
  await run([relayBin, 'org', 'create', 'bench', ...where]);
  const token = (kind) => run([relayBin, 'token', 'create', '--org', 'bench', '--kind', kind, ...where]).then(lastLine);
  return { desktopToken: await token('desktop'), key: await token('platform') };
}

/**
 * `tether-relay serve` on a free port with `args` (a data dir, or a cluster's URLs, and any
 * setting). Resolves with { url, wsUrl, pid, child, dispose }.
 */
export async function startRelayNode(args) {
  const relay = await start([relayBin, 'serve', '--port', '0', ...args], {
    ready: /listening on (https?:\/\/[^\s,]+) \(desktops: (wss?:\/\/[^\s,]+)/,
  });
  return {
    url: relay.match[1],
    wsUrl: relay.match[2],
    pid: relay.child.pid,
    child: relay.child,
    dispose: () => stop(relay.child),
  };
}

/**
 * A relay as `tether-relay serve` runs it, with an org and a desktop token and platform key
 * made by its CLI. `serveArgs` are added to `serve` (say in the bench's output which).
 * Resolves with { url, wsUrl, desktopToken, key, pid, dispose }.
 */
export async function startRealRelay({ serveArgs = [] } = {}) {
  const data = await tempDir('tether-bench-relay-');
  try {
    const tokens = await makeOrg(['--data-dir', data.dir]);
    const node = await startRelayNode(['--data-dir', data.dir, ...serveArgs]);
    return {
      ...tokens,
      url: node.url,
      wsUrl: node.wsUrl,
      pid: node.pid,
      dispose: async () => {
        await node.dispose();
        await data.dispose();
      },
    };
  } catch (err) {
    await data.dispose();
    throw err;
  }
}

/** The ids of the org's running runtimes, once there are `count` of them. */
export async function waitForRuntimes(url, key, count) {
  const until = Date.now() + REGISTER_TIMEOUT_MS;
  while (Date.now() < until) {
    const res = await fetch(`${url}/v1/runtimes?limit=500`, { headers: { authorization: `Bearer ${key}` } });
    const body = await res.json();
    const running = (body.runtimes ?? []).filter((r) => r.state === 'running').map((r) => r.id);
    if (running.length >= count) return running;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} runtimes were running after ${REGISTER_TIMEOUT_MS / 1000}s`);
}

/**
 * `tether-desktop --headless` connected to `relay` with the given folders as workspaces
 * (default policy), the token in TETHER_TOKEN as the README says. Resolves with { pid, dispose }.
 */
export async function startRealDesktop(relay, folders) {
  const config = await tempDir('tether-bench-desktop-');
  const args = [join(root, 'app/bin/tether-desktop.js'), '--headless', '--relay', relay.url];
  for (const folder of folders) args.push('--workspace', folder);
  args.push('--config-dir', config.dir);
  try {
    // It says how confirmations are asked once it has started.
    const desktop = await start(args, { env: { TETHER_TOKEN: relay.desktopToken }, ready: /confirmation/ });
    return {
      pid: desktop.child.pid,
      dispose: async () => {
        await stop(desktop.child);
        await config.dispose();
      },
    };
  } catch (err) {
    await config.dispose();
    throw err;
  }
}

/**
 * One side of a user-path comparison, as `loadPhase` takes it: the real relay and desktop with
 * `folder` as their one workspace. Resolves with { url, key, runtimeIds, pids, dispose }.
 */
export async function startTetherSide(folder, { serveArgs = [] } = {}) {
  const relay = await startRealRelay({ serveArgs });
  let desktop;
  try {
    desktop = await startRealDesktop(relay, [folder]);
    const runtimeIds = await waitForRuntimes(relay.url, relay.key, 1);
    return {
      url: relay.url,
      key: relay.key,
      runtimeIds,
      pids: { server: relay.pid, desktop: desktop.pid },
      dispose: async () => {
        await desktop.dispose();
        await relay.dispose();
      },
    };
  } catch (err) {
    await desktop?.dispose();
    await relay.dispose();
    throw err;
  }
}

/**
 * The other side: the bare two-hop reference (plain node:http + ws, bench/lib/bare-relay.mjs)
 * and a stand-in desktop that reads files in `folder` and replies (bench/lib/latency-desktop.mjs).
 */
export async function startBareSide(folder) {
  const server = startWorker(lib('server-worker.mjs'), { args: ['bare', '/nonexistent'] });
  const ready = await server.next('ready');
  const desktop = startWorker(lib('latency-desktop.mjs'), {
    args: [
      JSON.stringify({
        wsUrl: ready.wsUrl,
        token: 'bare',
        dir: folder,
        workspaces: 1,
        protocolVersion: PROTOCOL_VERSION,
      }),
    ],
  });
  const { runtimeIds } = await desktop.next('ready');
  return {
    url: ready.url,
    key: 'bare',
    runtimeIds,
    pids: { server: server.child.pid, desktop: desktop.child.pid },
    dispose: async () => {
      await desktop.dispose();
      await server.dispose();
    },
  };
}

/**
 * One load phase of `read_file` calls (bench/lib/latency-load.mjs): `warmup` unmeasured, then
 * `calls` measured, with `concurrency` callers spread over `runtimeIds`. Also the CPU ms per
 * call each of `pids` (name → pid) spent over the whole phase.
 */
export async function loadPhase({ url, key, runtimeIds, concurrency, warmup, calls, path, pids, readArgs, minChars }) {
  const before = Object.fromEntries(
    await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await cpuSeconds(pid)])),
  );
  const load = startWorker(lib('latency-load.mjs'), {
    args: [JSON.stringify({ url, token: key, runtimeIds, concurrency, warmup, calls, path, readArgs, minChars })],
  });
  try {
    const result = await load.next('done');
    if (result.errors > 0) throw new Error(`${result.errors} calls failed, e.g. ${result.firstErrors.join(' | ')}`);
    const cpuMsPerCall = {};
    for (const [k, pid] of Object.entries(pids))
      cpuMsPerCall[k] = (((await cpuSeconds(pid)) - before[k]) * 1000) / (warmup + calls);
    return { ...result, cpuMsPerCall };
  } finally {
    await load.dispose();
  }
}
