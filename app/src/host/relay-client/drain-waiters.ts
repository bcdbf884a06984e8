import type WebSocket from 'ws';
import { FLOW_LOW_WATERMARK_BYTES } from '@tether/shared';

/** How often a waiting producer looks at the socket's buffer: ws's WebSocket has no 'drain' event. */
export const DRAIN_POLL_MS = 20;

interface Waiter {
  ws: WebSocket;
  resolve: () => void;
}

/**
 * Producers (pty output) waiting for a socket's unsent bytes to fall under
 * FLOW_LOW_WATERMARK_BYTES. One poll timer serves them all and runs only while someone waits.
 * A waiter whose socket is released resolves at once: its output goes nowhere anyway.
 */
export class DrainWaiters {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;

  /** Resolves once `ws` has less than FLOW_LOW_WATERMARK_BYTES buffered (at once if it already has). */
  wait(ws: WebSocket): Promise<void> {
    if (ws.readyState !== ws.OPEN || ws.bufferedAmount < FLOW_LOW_WATERMARK_BYTES) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.add({ ws, resolve });
      this.timer ??= setInterval(() => this.poll(), DRAIN_POLL_MS);
    });
  }

  /** Resolves every waiter of a socket that is going away. */
  release(ws: WebSocket): void {
    for (const waiter of this.waiters) if (waiter.ws === ws) this.settle(waiter);
    this.stopIfIdle();
  }

  /** Resolves every waiter and stops the timer. */
  dispose(): void {
    for (const waiter of this.waiters) this.settle(waiter);
    this.stopIfIdle();
  }

  private poll(): void {
    for (const waiter of this.waiters) {
      if (waiter.ws.readyState !== waiter.ws.OPEN || waiter.ws.bufferedAmount < FLOW_LOW_WATERMARK_BYTES)
        this.settle(waiter);
    }
    this.stopIfIdle();
  }

  private settle(waiter: Waiter): void {
    this.waiters.delete(waiter);
    waiter.resolve();
  }

  private stopIfIdle(): void {
    if (this.waiters.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
