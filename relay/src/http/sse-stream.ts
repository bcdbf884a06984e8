import type { FastifyReply } from 'fastify';
import { errorValue } from '@tether/shared';
import { SSE_MAX_BUFFERED_BYTES } from '../relay-limits.js';

/** Options of one `send`. */
export interface SendOptions {
  /**
   * The event may be skipped while the client is behind (output chunks, file changes): the
   * skipped ones are counted and announced by one `gap` event once it has caught up.
   */
  droppable?: boolean;
}

/**
 * One Server-Sent Events response. Takes the raw response over from Fastify (hijack),
 * writes `event:`/`data:` records, and keeps a quiet stream alive with comment lines.
 *
 * Backpressure: at most SSE_MAX_BUFFERED_BYTES wait unsent on the response (the socket's
 * buffer included). Past that, droppable events are skipped until the response has drained
 * (`drain`); the client is then told how much it missed with `event: gap`, `data:
 * {"droppedEvents": n, "droppedBytes": b}` (b: the UTF-8 bytes of the skipped events' data),
 * before any later event. Other events (call, status, state, result, error) are always sent.
 */
export class SseStream {
  private readonly keepalive: NodeJS.Timeout;
  private ended = false;
  private readonly closeHandlers = new Set<() => void>();
  private droppedEvents = 0;
  private droppedBytes = 0;
  /** Set once droppable events are being skipped, until the response drains. */
  private congested = false;

  /**
   * `stillAllowed`, when given, is asked at every keepalive; the stream ends when it says no
   * (a revoked key or an expired grant must not keep receiving events).
   */
  constructor(
    private readonly reply: FastifyReply,
    keepaliveMs: number,
    private readonly stillAllowed?: () => Promise<boolean>,
    private readonly maxBufferedBytes = SSE_MAX_BUFFERED_BYTES,
  ) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // No `connection` header of its own: Node answers the request's (`close` from a proxy
      // that does not keep upstream connections for streams, else keep-alive). Claiming
      // keep-alive on a connection Node then closes broke every later request through nginx.
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    reply.raw.flushHeaders();
    this.keepalive = setInterval(() => void this.keepAlive(), keepaliveMs);
    this.keepalive.unref();
    reply.raw.on('close', () => this.dispose());
    reply.raw.on('drain', () => this.caughtUp());
  }

  private async keepAlive(): Promise<void> {
    if (this.stillAllowed && !(await this.stillAllowed().catch(() => false))) return this.dispose();
    if (!this.congested) this.write(': keepalive\n\n');
  }

  /** Whether the stream is still open. */
  get open(): boolean {
    return !this.ended;
  }

  /**
   * Sends one event whose data is JSON (one line, so no `data:` continuation is needed).
   * A droppable event is skipped (false) while the client is too far behind.
   */
  send(event: string, data: unknown, options: SendOptions = {}): boolean {
    if (this.ended) return false;
    let json: string;
    try {
      json = JSON.stringify(data);
    } catch {
      // A value that cannot be serialised (too deep, a cycle) must not leave the stream hanging.
      this.write(
        `event: error\ndata: ${JSON.stringify({ error: errorValue('internal', 'an event could not be serialised') })}\n\n`,
      );
      return false;
    }
    if (options.droppable && (this.congested || this.reply.raw.writableLength > this.maxBufferedBytes)) {
      this.congested = true;
      this.droppedEvents++;
      this.droppedBytes += Buffer.byteLength(json);
      return false;
    }
    // The client learns of a gap before anything that came after it.
    this.flushGap();
    this.write(`event: ${event}\ndata: ${json}\n\n`);
    return true;
  }

  /** Dropped events so far that no `gap` event has announced yet (tests, metrics). */
  get pendingGap(): { droppedEvents: number; droppedBytes: number } {
    return { droppedEvents: this.droppedEvents, droppedBytes: this.droppedBytes };
  }

  private caughtUp(): void {
    if (!this.congested) return;
    this.congested = false;
    this.flushGap();
  }

  private flushGap(): void {
    if (this.droppedEvents === 0) return;
    const gap = { droppedEvents: this.droppedEvents, droppedBytes: this.droppedBytes };
    this.droppedEvents = 0;
    this.droppedBytes = 0;
    this.write(`event: gap\ndata: ${JSON.stringify(gap)}\n\n`);
  }

  /** Runs when the stream ends, whoever ended it. */
  onClose(handler: () => void): void {
    if (this.ended) handler();
    else this.closeHandlers.add(handler);
  }

  private write(text: string): void {
    if (!this.ended) this.reply.raw.write(text);
  }

  /** Ends the response (announcing any gap first) and runs the close handlers once. */
  dispose(): void {
    if (this.ended) return;
    if (!this.reply.raw.destroyed) this.flushGap();
    this.ended = true;
    clearInterval(this.keepalive);
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
    for (const handler of this.closeHandlers) handler();
    this.closeHandlers.clear();
  }
}
