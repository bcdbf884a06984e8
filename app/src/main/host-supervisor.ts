import {
  HOST_RESTART_INITIAL_MS,
  HOST_RESTART_MAX_MS,
  HOST_SHUTDOWN_GRACE_MS,
  HOST_STABLE_AFTER_MS,
  MAX_HOST_RESTARTS,
} from './main-limits.js';
import type { HostStatus } from './tray-model.js';

/** The slice of a process the supervisor needs (an Electron UtilityProcess or a Node ChildProcess, adapted). */
export interface SupervisedProcess {
  onExit(listener: (code: number | null) => void): void;
  kill(): void;
}

/** How to start the host and whom to tell. */
export interface HostSupervisorOptions<P extends SupervisedProcess> {
  spawn(): P;
  /** A new host process is up (the first or a restart): hand it its ports. */
  onStarted(process: P, generation: number): void;
  onStatus(status: HostStatus, detail?: string): void;
  initialDelayMs?: number;
  maxDelayMs?: number;
  stableAfterMs?: number;
  maxRestarts?: number;
}

/**
 * Keeps the host process running: a crash restarts it after an exponential backoff, a host
 * that stayed up a while counts as healthy again, and too many crashes in a row stop the
 * restarts and report `failed` (a crash loop must not eat the machine). Owns its timer:
 * `stop()` / `dispose()` end it.
 */
export class HostSupervisor<P extends SupervisedProcess> {
  readonly #options: Required<Omit<HostSupervisorOptions<P>, 'spawn' | 'onStarted' | 'onStatus'>> &
    HostSupervisorOptions<P>;
  #process: P | null = null;
  #startedAt = 0;
  #crashes = 0;
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: HostSupervisorOptions<P>) {
    this.#options = {
      initialDelayMs: HOST_RESTART_INITIAL_MS,
      maxDelayMs: HOST_RESTART_MAX_MS,
      stableAfterMs: HOST_STABLE_AFTER_MS,
      maxRestarts: MAX_HOST_RESTARTS,
      ...options,
    };
  }

  /** The running host process, or null between a crash and its restart. */
  get current(): P | null {
    return this.#process;
  }

  /** Starts the host the first time. */
  start(): void {
    if (this.#stopped || this.#process || this.#timer) return;
    this.#spawn();
  }

  /**
   * Stops supervising and ends the host: `requestExit` asks it to shut down cleanly; after
   * `graceMs` without an exit it is killed.
   */
  async stop(requestExit: (process: P) => void, graceMs = HOST_SHUTDOWN_GRACE_MS): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    const process = this.#process;
    if (!process) return;
    try {
      requestExit(process);
    } catch {
      // A host that cannot take the message is killed below.
    }
    let grace: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      grace = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([this.#exited.then(() => 'exited' as const), timedOut]);
    clearTimeout(grace);
    if (outcome === 'timeout') {
      process.kill();
      await this.#exited;
    }
  }

  /** Stops restarts and kills the host at once. */
  dispose(): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#process?.kill();
  }

  #spawn(): void {
    const process = this.#options.spawn();
    this.#process = process;
    this.#startedAt = Date.now();
    const generation = ++this.#generation;
    this.#exited = new Promise<void>((resolve) => {
      process.onExit((code) => {
        resolve();
        this.#onExit(process, code);
      });
    });
    this.#options.onStatus('running');
    this.#options.onStarted(process, generation);
  }

  #onExit(process: P, code: number | null): void {
    if (this.#process !== process) return;
    this.#process = null;
    if (this.#stopped) return;
    if (Date.now() - this.#startedAt >= this.#options.stableAfterMs) this.#crashes = 0;
    this.#crashes++;
    if (this.#crashes > this.#options.maxRestarts) {
      this.#options.onStatus(
        'failed',
        `The Tether host stopped ${this.#crashes} times in a row (last exit code ${code ?? 'none'}).`,
      );
      return;
    }
    const delay = Math.min(this.#options.maxDelayMs, this.#options.initialDelayMs * 2 ** (this.#crashes - 1));
    this.#options.onStatus(
      'restarting',
      `The Tether host stopped (exit code ${code ?? 'none'}); restarting in ${Math.round(delay / 1000)} s.`,
    );
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#spawn();
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
