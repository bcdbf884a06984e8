import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { IDEMPOTENCY_WINDOW_MS, errorCodeSchema, errorValue, type Result } from '@tether/shared';

/** The journal's file in the config dir. */
export const CALL_JOURNAL_FILE = 'calls.jsonl';

/**
 * Clock difference allowed between the relay (which stamps a call's first attempt, `firstAt`)
 * and this desktop (which stamps its records): a few minutes of drift or a step of NTP.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * How long an entry is kept after its last record: the idempotency window (until then a caller
 * may retry, and the relay re-delivers under the same id) plus the clock skew allowed.
 */
export const CALL_JOURNAL_RETENTION_MS = IDEMPOTENCY_WINDOW_MS + CLOCK_SKEW_MS;

/**
 * Largest result kept per call, as JSON bytes. Write results are a few hundred bytes; a
 * command's output (up to 64 KiB) and an edit's diff are cut to head and tail to fit, so the
 * file and the index stay small (the full result is answered from memory while the host runs).
 */
export const CALL_JOURNAL_RESULT_MAX_BYTES = 16 * 1024;

/**
 * Bytes (of their JSON records) the live entries may take, in memory and in the file: about
 * 100,000 writes of a few hundred bytes, or 2,000 commands whose results are at their cap. Past
 * it the oldest finished entries go and the journal's horizon moves up to them: a retry first
 * sent before the horizon is refused with `idempotency_expired` rather than run again.
 * Unfinished entries are never dropped for room (at most a few hundred run at once).
 */
export const CALL_JOURNAL_MAX_BYTES = 32 * 1024 * 1024;

/** The file is rewritten with only its live entries once it has grown by this much. */
export const CALL_JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024;

/**
 * What a call is, as a hash of its workspace, tool and arguments: a re-delivery with other
 * content under the same id is refused. A hash, not the JSON: a write's content can be
 * megabytes. Throws on arguments nested deeper than the stack (JSON.stringify recurses).
 */
export function callFingerprint(call: { workspaceId: string; tool: string; args: unknown }): string {
  return createHash('sha256')
    .update(JSON.stringify([call.workspaceId, call.tool, call.args]))
    .digest('base64url');
}

/** What the journal knows of one call id. */
export interface JournalEntry {
  /** Hash of workspace, tool and arguments: a re-used id with other content is a conflict. */
  fingerprint: string;
  /** When the last record of the call was written (ms since the epoch). */
  at: number;
  /** The call's result, or null when it started and its end was never recorded (the host died). */
  result: Result<unknown> | null;
}

/** Options of `CallJournal.open` (tests shorten them). */
export interface CallJournalOptions {
  retentionMs?: number;
  resultMaxBytes?: number;
  maxBytes?: number;
  compactBytes?: number;
  now?: () => number;
}

interface Live extends JournalEntry {
  /** Bytes of its record, counted against CALL_JOURNAL_MAX_BYTES. */
  bytes: number;
}

interface Pending {
  line: string;
  sync: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The durable half of exactly-once (DESIGN.md: "no write or command ever runs twice"): an
 * append-only JSON-lines file in the config dir, 0600. Before a write or shell call's handler
 * runs, `started` appends a record and fsyncs it (grouped: calls starting together share one
 * fdatasync); when the call ends, `finished` appends its result, bounded to
 * CALL_JOURNAL_RESULT_MAX_BYTES, written (surviving a crash of the process) but not synced (a
 * power loss may lose it: the call is then answered `interrupted`, never run again). Never the
 * arguments, only their hash.
 *
 * Entries are kept for CALL_JOURNAL_RETENTION_MS, bounded by CALL_JOURNAL_MAX_BYTES (never by
 * count); `covers` tells whether a call first sent at a given time would still be known.
 *
 * At open the file is read, entries past CALL_JOURNAL_RETENTION_MS dropped, and rewritten
 * (when the disk is full the file is kept as it is and appended to).
 * A line that cannot be read (torn by a crash, or damaged) is skipped with a warning: a torn
 * `started` line was never synced, so its handler never ran; a torn end line leaves its
 * `started` record, and that call fails closed as `interrupted`.
 */
export class CallJournal {
  private readonly entries = new Map<string, Live>();
  private liveBytes = 0;
  /** The newest `at` of an entry dropped for room (0: none): calls first sent up to it may be forgotten. */
  private droppedAt = 0;
  /** Records of refusals that could not be written: written ahead of the next records that can. */
  private owed: string[] = [];
  private readonly retentionMs: number;
  private readonly resultMaxBytes: number;
  private readonly maxBytes: number;
  private readonly compactBytes: number;
  private readonly now: () => number;
  private handle: FileHandle | null = null;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private grownBytes = 0;
  /** A write failed part way: the next one starts on a line of its own, or its record would be glued to the torn one. */
  private needsNewline = false;
  private disposed = false;
  /** Lines skipped at open, for the person's log. */
  readonly warnings: string[] = [];

  private constructor(
    readonly path: string,
    options: CallJournalOptions,
  ) {
    this.retentionMs = options.retentionMs ?? CALL_JOURNAL_RETENTION_MS;
    this.resultMaxBytes = options.resultMaxBytes ?? CALL_JOURNAL_RESULT_MAX_BYTES;
    this.maxBytes = options.maxBytes ?? CALL_JOURNAL_MAX_BYTES;
    this.compactBytes = options.compactBytes ?? CALL_JOURNAL_COMPACT_BYTES;
    this.now = options.now ?? Date.now;
  }

  /** Opens the journal in `dir` (creating both if needed), loads its live entries and compacts it. */
  static async open(dir: string, options: CallJournalOptions = {}): Promise<CallJournal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const journal = new CallJournal(join(dir, CALL_JOURNAL_FILE), options);
    const text = await readFile(journal.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const horizon = parseHorizon(line);
      if (horizon !== null) {
        journal.droppedAt = Math.max(journal.droppedAt, horizon);
        continue;
      }
      const record = parseRecord(line);
      if (record) journal.set(record.id, record.entry);
      else skipped++;
    }
    await removeLeftCopies(dir);
    if (skipped > 0)
      journal.warnings.push(
        `call journal: ${skipped} unreadable line${skipped === 1 ? '' : 's'} skipped (torn by a crash or damaged); a call whose end was lost there is answered "interrupted", never run again`,
      );
    try {
      await journal.compact();
    } catch (err) {
      // No room for the rewritten copy (a full disk): keep the file as it is and append to it;
      // without even that, records fail (write and shell calls are refused) until there is room.
      journal.warnings.push(
        `call journal: could not rewrite ${journal.path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); appending to it as it is`,
      );
      journal.handle = await open(journal.path, 'a', 0o600).catch(() => null);
    }
    return journal;
  }

  /**
   * Whether a call first sent at `firstAt` (the relay's clock) would still be known here if it
   * had been run: false once that is before the retention or before entries dropped for room.
   * A write or shell call the journal does not know and does not cover must not run.
   */
  covers(firstAt: number): boolean {
    return firstAt > Math.max(this.now() - this.retentionMs, this.droppedAt) + CLOCK_SKEW_MS;
  }

  /** What is known of a call id (loaded at open or recorded since), or undefined. */
  lookup(id: string): JournalEntry | undefined {
    const entry = this.entries.get(id);
    if (entry && this.now() - entry.at > this.retentionMs) {
      this.drop(id, entry);
      return undefined;
    }
    return entry && { fingerprint: entry.fingerprint, at: entry.at, result: entry.result };
  }

  /** Records that a call's handler is about to run; resolves once that is on disk (fdatasync). */
  async started(id: string, fingerprint: string): Promise<void> {
    if (this.disposed) throw new Error('the call journal is closed');
    const at = this.now();
    const line = JSON.stringify({ id, fp: fingerprint, at }) + '\n';
    this.set(id, { fingerprint, at, result: null }, Buffer.byteLength(line));
    try {
      await this.append(line, true);
    } catch (err) {
      const entry = this.entries.get(id);
      if (entry) this.drop(id, entry);
      throw err;
    }
  }

  /**
   * Records the answer of a call refused before it ran because `started` failed: a retry gets
   * the same answer, never a run and never `interrupted` (the failed `started` line may have
   * reached the disk). Kept in memory at once; on disk with the next record that can be written.
   */
  refused(id: string, fingerprint: string, result: Result<unknown>): void {
    const stored = boundResult(result, this.resultMaxBytes);
    const at = this.now();
    const line = JSON.stringify({ id, fp: fingerprint, at, result: stored }) + '\n';
    this.set(id, { fingerprint, at, result: stored }, Buffer.byteLength(line));
    this.evictForRoom();
    this.owed.push(line);
  }

  /**
   * Records a call's end with its result, bounded to the journal's cap; resolves once written
   * (not synced). The stored result is what a re-delivery after a restart gets.
   */
  async finished(id: string, fingerprint: string, result: Result<unknown>): Promise<void> {
    if (this.disposed) throw new Error('the call journal is closed');
    const stored = boundResult(result, this.resultMaxBytes);
    const at = this.now();
    const line = JSON.stringify({ id, fp: fingerprint, at, result: stored }) + '\n';
    this.set(id, { fingerprint, at, result: stored }, Buffer.byteLength(line));
    this.evictForRoom();
    await this.append(line, false);
  }

  /** (Re)places an entry last: Map order is the order entries are dropped for room. */
  private set(id: string, entry: JournalEntry, bytes = recordBytes(id, entry)): void {
    const old = this.entries.get(id);
    if (old) this.drop(id, old);
    this.entries.set(id, { ...entry, bytes });
    this.liveBytes += bytes;
  }

  private drop(id: string, entry: Live): void {
    this.entries.delete(id);
    this.liveBytes -= entry.bytes;
  }

  /** Drops the oldest finished entries while the live ones take more than the cap, moving the horizon up. */
  private evictForRoom(): void {
    if (this.liveBytes <= this.maxBytes) return;
    for (const [id, entry] of this.entries) {
      if (this.liveBytes <= this.maxBytes) break;
      if (entry.result === null) continue;
      this.drop(id, entry);
      this.droppedAt = Math.max(this.droppedAt, entry.at);
    }
  }

  /** Waits for pending records, then closes the file. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = null;
  }

  private append(line: string, sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, sync, resolve, reject });
      this.flushing ??= this.flush().finally(() => (this.flushing = null));
    });
  }

  /** Writes everything queued in one write (and one fdatasync when any of it asks), until the queue is empty. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      const owed = this.owed;
      const data = (this.needsNewline ? '\n' : '') + owed.join('') + batch.map((p) => p.line).join('');
      try {
        // Not opened at start (the disk was too full to create the file): tried again at each write.
        if (!this.handle && !this.disposed) this.handle = await open(this.path, 'a', 0o600);
        if (!this.handle) throw new Error('the call journal is closed');
        this.needsNewline = true;
        await this.handle.appendFile(data, 'utf8');
        this.needsNewline = false;
        if (this.owed === owed) this.owed = [];
        if (batch.some((p) => p.sync)) await this.handle.datasync();
        this.grownBytes += Buffer.byteLength(data);
        batch.forEach((p) => p.resolve());
      } catch (err) {
        batch.forEach((p) => p.reject(err));
      }
      if (this.grownBytes > this.compactBytes && !this.disposed) {
        // A failure (no room for the copy, a rename refused) is tried again after as much growth
        // again, not at every record: each attempt rewrites the whole file (up to ~35 MB).
        await this.compact().catch(() => (this.grownBytes = 0));
      }
    }
  }

  /**
   * Drops expired entries (and the oldest finished ones past the cap), writes the rest to a
   * new file (after the horizon of entries dropped for room), syncs it and renames it over the
   * journal; new records go to the new file.
   */
  private async compact(): Promise<void> {
    const now = this.now();
    for (const [id, entry] of this.entries) if (now - entry.at > this.retentionMs) this.drop(id, entry);
    this.evictForRoom();
    const lines: string[] = [];
    if (this.droppedAt > now - this.retentionMs) lines.push(JSON.stringify({ horizon: this.droppedAt }) + '\n');
    for (const [id, e] of this.entries) {
      const record: Record<string, unknown> = { id, fp: e.fingerprint, at: e.at };
      if (e.result !== null) record.result = e.result;
      lines.push(JSON.stringify(record) + '\n');
    }
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    // Opened for appending and kept: after the rename it is the journal, so there is no moment
    // where a failed reopen would leave records going to the replaced file.
    const out = await open(tmp, 'ax', 0o600);
    try {
      await out.writeFile(lines.join(''), 'utf8');
      await out.datasync();
      await rename(tmp, this.path);
    } catch (err) {
      await out.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir(join(this.path, '..'));
    await this.handle?.close().catch(() => undefined);
    this.handle = out;
    this.grownBytes = 0;
    this.needsNewline = false;
    this.owed = []; // every entry, refusals included, is in the new file
  }
}

/** Bytes of an entry's record in the file. */
function recordBytes(id: string, e: JournalEntry): number {
  const record: Record<string, unknown> = { id, fp: e.fingerprint, at: e.at };
  if (e.result !== null) record.result = e.result;
  return Buffer.byteLength(JSON.stringify(record)) + 1;
}

/** The horizon line a compaction writes first (`{"horizon": ms}`), or null for any other line. */
function parseHorizon(line: string): number | null {
  if (!line.startsWith('{"horizon":')) return null;
  try {
    const raw = JSON.parse(line) as { horizon?: unknown };
    return typeof raw.horizon === 'number' && Number.isFinite(raw.horizon) ? raw.horizon : null;
  } catch {
    return null;
  }
}

/**
 * Removes the copies a compaction was writing when the host died (each can be as large as the
 * journal); the instance lock makes sure no other host is writing one now.
 */
async function removeLeftCopies(dir: string): Promise<void> {
  const copy = new RegExp(`^${CALL_JOURNAL_FILE.replace('.', '\\.')}\\.[0-9a-f]{12}\\.tmp$`);
  for (const name of await readdir(dir)) if (copy.test(name)) await unlink(join(dir, name)).catch(() => undefined);
}

/** Syncs a folder, so a rename in it survives a power loss (not possible everywhere: best effort). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => null);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/** One journal line, or null when it is not a well-formed record. */
function parseRecord(line: string): { id: string; entry: JournalEntry } | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as { id?: unknown; fp?: unknown; at?: unknown; result?: unknown };
  if (typeof r.id !== 'string' || typeof r.fp !== 'string' || typeof r.at !== 'number' || !Number.isFinite(r.at))
    return null;
  if (r.result === undefined) return { id: r.id, entry: { fingerprint: r.fp, at: r.at, result: null } };
  const result = parseResult(r.result);
  return result ? { id: r.id, entry: { fingerprint: r.fp, at: r.at, result } } : null;
}

function parseResult(raw: unknown): Result<unknown> | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as { ok?: unknown; value?: unknown; error?: { code?: unknown; message?: unknown } };
  if (r.ok === true && 'value' in r) return { ok: true, value: r.value };
  if (r.ok !== false || typeof r.error !== 'object' || r.error === null) return null;
  const code = errorCodeSchema.safeParse(r.error.code);
  if (!code.success || typeof r.error.message !== 'string') return null;
  const details = (r.error as { details?: unknown }).details;
  return {
    ok: false,
    error: {
      code: code.data,
      message: r.error.message,
      ...(typeof details === 'object' && details !== null && !Array.isArray(details)
        ? { details: details as Record<string, unknown> }
        : {}),
    },
  };
}

/** Marker put where a long text was cut for the journal. */
function cutMarker(omitted: number): string {
  return `\n[… ${omitted} characters not kept after the desktop restarted …]\n`;
}

/**
 * The result as stored: unchanged when its JSON fits `maxBytes`; else its long top-level
 * strings (a command's output, an edit's diff) cut to head and tail, with `truncated` set
 * where the result has it; else (nothing to cut) an `interrupted` error that says so.
 */
export function boundResult(result: Result<unknown>, maxBytes: number): Result<unknown> {
  if (Buffer.byteLength(JSON.stringify(result)) <= maxBytes) return result;
  if (result.ok && typeof result.value === 'object' && result.value !== null && !Array.isArray(result.value)) {
    // Characters may take up to 6 bytes in JSON (\u001b of a terminal's colours): try smaller cuts.
    for (const keep of [Math.floor(maxBytes / 8), Math.floor(maxBytes / 48)]) {
      const value: Record<string, unknown> = { ...(result.value as Record<string, unknown>) };
      let cut = false;
      for (const [key, v] of Object.entries(value)) {
        if (typeof v !== 'string' || v.length <= keep * 2) continue;
        value[key] = v.slice(0, keep) + cutMarker(v.length - keep * 2) + v.slice(-keep);
        cut = true;
      }
      if (!cut) break;
      if (typeof value.truncated === 'boolean') value.truncated = true;
      const bounded: Result<unknown> = { ok: true, value };
      if (Buffer.byteLength(JSON.stringify(bounded)) <= maxBytes) return bounded;
    }
  }
  return {
    ok: false,
    error: errorValue(
      'interrupted',
      'The call finished before the desktop restarted, but its result was too large to keep; it was not run again.',
    ),
  };
}
