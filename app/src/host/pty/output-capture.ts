/**
 * Text helpers for pty output, measured in UTF-8 bytes (the unit of every output limit) and
 * always cut on character boundaries: node-pty hands us strings it decoded with a
 * StringDecoder, so a chunk never ends inside a character, and these cuts keep it so.
 */

/** The longest prefix of `text` that fits in `maxBytes` UTF-8 bytes, cut on a character boundary. */
export function utf8Head(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut does not split a character.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** The longest suffix of `text` that fits in `maxBytes` UTF-8 bytes, cut on a character boundary. */
export function utf8Tail(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let start = buf.length - maxBytes;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/**
 * Keeps the first `headBytes` and the last `tailBytes` of a stream of text, and counts what
 * fell between them. Memory stays bounded by about head + tail + one chunk.
 */
export class HeadTailCapture {
  private head = '';
  private headBytes = 0;
  private headFull = false;
  private readonly tail: { text: string; bytes: number }[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(
    private readonly maxHeadBytes: number,
    private readonly maxTailBytes: number,
  ) {}

  /** Adds a chunk of output. */
  push(chunk: string): void {
    let bytes = Buffer.byteLength(chunk, 'utf8');
    this.total += bytes;
    if (!this.headFull) {
      const room = this.maxHeadBytes - this.headBytes;
      if (bytes <= room) {
        this.head += chunk;
        this.headBytes += bytes;
        return;
      }
      // The head is full from here on, even if a few bytes of room are left: order matters.
      this.headFull = true;
      const part = utf8Head(chunk, room);
      const partBytes = Buffer.byteLength(part, 'utf8');
      this.head += part;
      this.headBytes += partBytes;
      chunk = chunk.slice(part.length);
      bytes -= partBytes;
    }
    this.tail.push({ text: chunk, bytes });
    this.tailBytes += bytes;
    // Drop whole chunks from the front while the rest still covers the tail.
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.bytes >= this.maxTailBytes) {
      this.tailBytes -= this.tail.shift()!.bytes;
    }
  }

  /** Bytes seen in all. */
  get totalBytes(): number {
    return this.total;
  }

  /** The kept text: all of it, or head + a marker line naming the omitted bytes + tail. */
  result(): { output: string; truncated: boolean } {
    const tailText = utf8Tail(this.tail.map((t) => t.text).join(''), this.maxTailBytes);
    const kept = this.headBytes + Buffer.byteLength(tailText, 'utf8');
    const omitted = this.total - kept;
    if (omitted <= 0) return { output: this.head + tailText, truncated: false };
    return { output: `${this.head}\r\n[… ${omitted} bytes of output omitted …]\r\n${tailText}`, truncated: true };
  }
}

/**
 * Collects pty chunks for `intervalMs` or until `maxBytes` (Hyper's DataBatcher), so a
 * chatty program makes a few large progress frames instead of thousands of tiny ones.
 */
export class OutputBatcher {
  private parts: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly maxBytes: number,
    private readonly emit: (batch: string) => void,
  ) {}

  /** Adds a chunk; emits at once when the batch is full, else within `intervalMs`. */
  push(chunk: string): void {
    if (chunk.length === 0) return;
    this.parts.push(chunk);
    this.bytes += Buffer.byteLength(chunk, 'utf8');
    if (this.bytes >= this.maxBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Emits what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.parts.length === 0) return;
    const batch = this.parts.join('');
    this.parts = [];
    this.bytes = 0;
    this.emit(batch);
  }

  /** Drops the pending timer (the pending text is flushed first). */
  dispose(): void {
    this.flush();
  }
}
