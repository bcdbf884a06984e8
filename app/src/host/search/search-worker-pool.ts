import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { TetherError } from '@tether/shared';
import type { SearchWorkerBatch, SearchWorkerReply } from './search-worker.js';
import type { SearchOutcome, SearchQuery } from './search-query.js';
import type { WalkEntry } from './walker.js';

/** Workers searching files at once: the two cores the host may use. */
const MAX_WORKERS = 2;
/** Files per batch: big enough to amortise a message, small enough to stop soon after enough matches. */
const BATCH_FILES = 128;
/** Batches handed out but not yet taken, per worker: keeps workers busy while the walk runs ahead. */
const BATCHES_IN_FLIGHT_PER_WORKER = 4;
/** Idle workers are ended after this long, so a host that searched once does not keep threads. */
const WORKER_IDLE_MS = 30_000;

type Reply = SearchWorkerReply & { searchId: number };
type Listener = { onReply(r: Reply): void; onFailure(err: Error): void };

function workerUrl(): { url: URL | string; options: ConstructorParameters<typeof Worker>[1] } {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return { url: new URL('./search-worker.js', self), options: {} };
  // Running from TypeScript sources (the tests): load the worker through tsx, with the same
  // package conditions, since a worker does not inherit the test runner's transform.
  const ts = new URL('./search-worker.ts', self).href;
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`;
  return { url: code, options: { eval: true, execArgv: ['--conditions=@tether/source'] } };
}

/**
 * A small pool of search worker threads shared by every search of the host, started on first
 * use and ended when idle (its threads and timer are unref'd: they never keep the host alive).
 */
class SearchWorkerPool {
  private workers: Worker[] = [];
  private readonly listeners = new Map<number, Listener>();
  private nextSearchId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set when a worker failed before answering anything: it cannot load here (e.g. packaged oddly). */
  broken = false;

  get size(): number {
    return this.ensure().length;
  }

  /** Registers a search; replies and failures go to `listener` until the returned function is called. */
  attach(listener: Listener): { searchId: number; detach(): void } {
    const searchId = this.nextSearchId++;
    this.listeners.set(searchId, listener);
    clearTimeout(this.idleTimer);
    return {
      searchId,
      detach: () => {
        this.listeners.delete(searchId);
        if (this.listeners.size === 0) {
          this.idleTimer = setTimeout(() => void this.dispose(), WORKER_IDLE_MS);
          this.idleTimer.unref();
        }
      },
    };
  }

  post(index: number, message: SearchWorkerBatch & { searchId: number; init: object }): void {
    const workers = this.ensure();
    (workers[index % workers.length] as Worker).postMessage(message);
  }

  /** Ends every worker; the next search starts new ones. Searches still attached fall back in-thread. */
  async dispose(): Promise<void> {
    clearTimeout(this.idleTimer);
    const workers = this.workers;
    this.workers = [];
    for (const l of this.listeners.values()) l.onFailure(new Error('search workers were ended'));
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private ensure(): Worker[] {
    if (this.workers.length > 0) return this.workers;
    const count = Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism?.() ?? 2));
    const { url, options } = workerUrl();
    for (let i = 0; i < count; i++) {
      const worker = new Worker(url, options);
      worker.unref();
      let answered = false;
      worker.on('message', (r: Reply) => {
        answered = true;
        this.listeners.get(r.searchId)?.onReply(r);
      });
      const fail = (err: Error): void => {
        if (!answered) this.broken = true;
        this.workers = this.workers.filter((w) => w !== worker);
        for (const l of this.listeners.values()) l.onFailure(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (this.workers.includes(worker)) fail(new Error(`search worker exited with code ${code}`));
      });
      this.workers.push(worker);
    }
    return this.workers;
  }
}

const pool = new SearchWorkerPool();

/** Ends the search worker threads (host shutdown, test teardown). */
export function disposeSearchWorkers(): Promise<void> {
  return pool.dispose();
}

/**
 * Searches the files `files` yields (walk order) on the worker pool, taking results strictly in
 * walk order; stops once it has one match more than asked. Rejects with the worker's error if
 * the pool fails (the caller then falls back to the in-thread engine).
 */
export async function searchOnWorkers(
  query: SearchQuery,
  files: AsyncIterable<WalkEntry> | Iterable<WalkEntry>,
): Promise<SearchOutcome> {
  if (pool.broken) throw new Error('search workers cannot run here');
  const out: SearchOutcome = { matches: [], truncated: false };
  const init = {
    pattern: query.pattern,
    regex: query.regex,
    caseSensitive: query.caseSensitive,
    contextLines: query.contextLines,
    rootAbs: query.rootAbs,
    caseInsensitive: query.caseInsensitive === true,
  };
  const replies = new Map<number, SearchWorkerReply>();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const session = pool.attach({
    onReply: (r) => {
      replies.set(r.id, r);
      poke();
    },
    onFailure: (err) => {
      failure ??= err;
      poke();
    },
  });
  query.signal.addEventListener('abort', poke);
  let nextId = 0;
  let nextToTake = 0;
  let batch: { abs: string; rel: string }[] = [];
  const maxInFlight = pool.size * BATCHES_IN_FLIGHT_PER_WORKER;

  const dispatch = (): void => {
    const budget = query.maxResults + 1 - out.matches.length;
    pool.post(nextId, { searchId: session.searchId, init, id: nextId, files: batch, budget });
    nextId++;
    batch = [];
  };
  /** Takes every reply that is next in order; true once enough matches are in. */
  const take = (): boolean => {
    for (let r = replies.get(nextToTake); r; r = replies.get(nextToTake)) {
      replies.delete(nextToTake++);
      for (const m of r.matches) {
        if (out.matches.length >= query.maxResults) {
          out.truncated = true;
          return true;
        }
        out.matches.push(m);
      }
    }
    return false;
  };
  /** Resolves when something happened (a reply, a failure, an abort); at once if it already has. */
  const event = (): Promise<void> => {
    if (failure) return Promise.reject(failure);
    if (query.signal.aborted) return Promise.reject(new TetherError('cancelled'));
    if (replies.has(nextToTake)) return Promise.resolve();
    return new Promise((resolve) => (wake = resolve));
  };

  try {
    let stopped = false;
    for await (const entry of files) {
      if (entry.type !== 'file') continue;
      batch.push({ abs: entry.abs, rel: entry.rel });
      if (batch.length < BATCH_FILES) continue;
      dispatch();
      stopped = take();
      while (!stopped && nextId - nextToTake >= maxInFlight) {
        await event();
        stopped = take();
      }
      if (stopped) break;
    }
    if (!stopped && batch.length > 0) dispatch();
    while (!stopped && nextToTake < nextId) {
      await event();
      stopped = take();
    }
  } finally {
    query.signal.removeEventListener('abort', poke);
    session.detach();
    // Cancelled with batches still running: a pathological regex may never finish, so the
    // workers are ended (terminate interrupts even a running regex); the next search starts new ones.
    if (query.signal.aborted && nextToTake < nextId) void pool.dispose();
  }
  if (query.signal.aborted) throw new TetherError('cancelled');
  return out;
}
