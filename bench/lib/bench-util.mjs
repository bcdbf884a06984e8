// Helpers shared by the relay benches: child processes over IPC, percentiles, the one-line result.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Value at quantile q (0..1) of an ascending-sorted numeric array (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Rounds to a few significant digits so the JSON stays readable. */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  return Number(value.toPrecision(digits));
}

/** A fresh temp dir, removed by the returned dispose(). */
export async function tempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Forks a worker module with IPC. `next(type)` resolves with the next message of that type
 * (rejects when the worker exits first or sends { type: 'error' }). `dispose()` kills it.
 */
export function startWorker(modulePath, { args = [], execArgv = [] } = {}) {
  const child = fork(modulePath, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue = [];
  const waiters = [];
  let exited = null;
  const deliver = () => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      const idx = queue.findIndex((m) => m.type === w.type || m.type === 'error');
      if (idx >= 0) {
        const [msg] = queue.splice(idx, 1);
        waiters.splice(i--, 1);
        if (msg.type === 'error' && w.type !== 'error') w.reject(new Error(`${modulePath}: ${msg.message}`));
        else w.resolve(msg);
      } else if (exited) {
        waiters.splice(i--, 1);
        w.reject(new Error(`${modulePath} exited (${exited}) before sending "${w.type}"`));
      }
    }
  };
  child.on('message', (msg) => {
    queue.push(msg);
    deliver();
  });
  child.on('exit', (code, signal) => {
    exited = `exit ${code ?? signal}`;
    deliver();
  });
  return {
    child,
    send: (msg) => child.send(msg),
    next: (type) =>
      new Promise((resolve, reject) => {
        waiters.push({ type, resolve, reject });
        deliver();
      }),
    dispose: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** In a worker: reports an uncaught failure to the parent and exits; exits when the parent goes away. */
export function workerGuard() {
  const fail = (err) => {
    try {
      process.send?.({ type: 'error', message: String(err?.stack ?? err) });
    } finally {
      setTimeout(() => process.exit(1), 50);
    }
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // Everything stops by itself: a worker never outlives its bench.
  process.on('disconnect', () => process.exit(0));
}

/** Kills the whole bench if it runs past its budget, so nothing is left running. */
export function hardDeadline(ms, onExpire) {
  const timer = setTimeout(async () => {
    console.error(`bench exceeded its ${ms / 1000}s budget; stopping`);
    try {
      await onExpire?.();
    } finally {
      process.exit(1);
    }
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Prints the bench result as the one JSON object on the last stdout line. */
export function printResult(result) {
  process.stdout.write('\n' + JSON.stringify(result) + '\n');
}

/** A hello frame for a fake desktop with the given workspaces (read tools on, as a default install). */
export function helloFrame({
  protocolVersion,
  deviceId,
  workspaceIds,
  tools = ['read_file', 'list_dir', 'glob', 'search', 'stat'],
}) {
  return {
    type: 'hello',
    protocolVersion,
    device: { deviceId, name: `bench ${deviceId}`, os: 'linux' },
    appVersion: 'bench',
    workspaces: workspaceIds.map((workspaceId) => ({
      workspaceId,
      name: `Workspace ${workspaceId}`,
      description: '',
      state: 'running',
      capabilities: { policy: { read: 'allow', write: 'ask', shell: 'ask' }, tools },
    })),
  };
}
