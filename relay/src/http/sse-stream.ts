import type { FastifyReply } from 'fastify';
import { errorValue } from '@tether/shared';
import { SSE_MAX_BUFFERED_BYTES } from '../relay-limits.js';

/**
 * One Server-Sent Events response. Takes the raw response over from Fastify (hijack),
 * writes `event:`/`data:` records, and keeps a quiet stream alive with comment lines.
 */
export class SseStream {
  private readonly keepalive: NodeJS.Timeout;
  private ended = false;
  private readonly closeHandlers = new Set<() => void>();

  /**
   * `stillAllowed`, when given, is asked at every keepalive; the stream ends when it says no
   * (a revoked key or an expired grant must not keep receiving events).
   */
  constructor(
    private readonly reply: FastifyReply,
    keepaliveMs: number,
    private readonly stillAllowed?: () => Promise<boolean>,
  ) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    reply.raw.flushHeaders();
    this.keepalive = setInterval(() => void this.keepAlive(), keepaliveMs);
    this.keepalive.unref();
    reply.raw.on('close', () => this.dispose());
  }

  private async keepAlive(): Promise<void> {
    if (this.stillAllowed && !(await this.stillAllowed().catch(() => false))) return this.dispose();
    this.write(': keepalive\n\n');
  }

  /** Whether the stream is still open. */
  get open(): boolean {
    return !this.ended;
  }

  /**
   * Sends one event whose data is JSON (one line, so no `data:` continuation is needed).
   * A `droppable` event is skipped (false) while the client is too far behind.
   */
  send(event: string, data: unknown, options: { droppable?: boolean } = {}): boolean {
    if (options.droppable && this.reply.raw.writableLength > SSE_MAX_BUFFERED_BYTES) return false;
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
    this.write(`event: ${event}\ndata: ${json}\n\n`);
    return true;
  }

  /** Runs when the stream ends, whoever ended it. */
  onClose(handler: () => void): void {
    if (this.ended) handler();
    else this.closeHandlers.add(handler);
  }

  private write(text: string): void {
    if (!this.ended) this.reply.raw.write(text);
  }

  /** Ends the response and runs the close handlers once. */
  dispose(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepalive);
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
    for (const handler of this.closeHandlers) handler();
    this.closeHandlers.clear();
  }
}
