import type { CancelSignal } from '../services.js';

/**
 * A cancellation signal that fires once when an HTTP client goes away before its answer was
 * written: what the call route needs of an AbortController, without an EventTarget per request.
 */
export class ClientGone implements CancelSignal {
  private fired = false;
  private listeners: Array<() => void> = [];

  /** Watches `res` (a Node ServerResponse): its `close` before the end of the answer fires the signal. */
  constructor(res: { writableFinished: boolean; once(event: 'close', listener: () => void): unknown }) {
    res.once('close', () => {
      if (!res.writableFinished) this.fire();
    });
  }

  get aborted(): boolean {
    return this.fired;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.fired) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.listeners = this.listeners.filter((l) => l !== listener);
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}
