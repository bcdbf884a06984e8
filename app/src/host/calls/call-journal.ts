import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CALL_TIMEOUT_MS, RECENT_RESULTS_MAX, errorCodeSchema, errorValue, type Result } from '@tether/shared';

/** The journal's file in the config dir. */
export const CALL_JOURNAL_FILE = 'calls.jsonl';

/**
 * How long an entry is kept after its last record: the longest deadline a call can have (until
 * then the relay may re-deliver it after a reconnect) plus 5 minutes for the relay's delivery
 * lag and clock steps. Longer than RECENT_RESULTS_TTL_MS, so a restart forgets no result the
 * running host would still have answered from memory.
 */
export const CALL_JOURNAL_RETENTION_MS = MAX_CALL_TIMEOUT_MS + 5 * 60_000;

/**
 * Largest result kept per call, as JSON bytes. Write results are a few hundred bytes; a
 * command's output (up to 64 KiB) and an edit's diff are cut to head and tail to fit, so the
 * file and the index stay small (the full result is answered from memory while the host runs).
 */
export const CALL_JOURNAL_RESULT_MAX_BYTES = 16 * 1024;

/**
 * Finished entries kept at most (as the in-memory results, RECENT_RESULTS_MAX): past it the
 * oldest finished ones go. Unfinished ones are never dropped for room (at most a few hundred
 * run at once), so the file stays under ~35 MB even when every result is at its cap.
 */
export const CALL_JOURNAL_MAX_ENTRIES = RECENT_RESULTS_MAX;

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
  maxEntries?: number;
  compactBytes?: number;
  now?: () => number;
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
 * At open the file is read, entries past CALL_JOURNAL_RETENTION_MS dropped, and rewritten.
 * A line that cannot be read (torn by a crash, or damaged) is skipped with a warning: a torn
 * `started` line was never synced, so its handler never ran; a torn end line leaves its
 * `started` record, and that call fails closed as `interrupted`.
 */
export class CallJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private readonly retentionMs: number;
  private readonly resultMaxBytes: number;
  private readonly maxEntries: number;
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
    this.maxEntries = options.maxEntries ?? CALL_JOURNAL_MAX_ENTRIES;
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
      const record = parseRecord(line);
      if (record) journal.entries.set(record.id, record.entry);
      else skipped++;
    }
    await removeLeftCopies(dir);
    if (skipped > 0)
      journal.warnings.push(
        `call journal: ${skipped} unreadable line${skipped === 1 ? '' : 's'} skipped (torn by a crash or damaged); a call whose end was lost there is answered "interrupted", never run again`,
      );
    await journal.compact();
    return journal;
  }

  /** What is known of a call id (loaded at open or recorded since), or undefined. */
  lookup(id: string): JournalEntry | undefined {
    const entry = this.entries.get(id);
    if (entry && this.now() - entry.at > this.retentionMs) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  /** Records that a call's handler is about to run; resolves once that is on disk (fdatasync). */
  async started(id: string, fingerprint: string): Promise<void> {
    if (this.disposed) throw new Error('the call journal is closed');
    const at = this.now();
    this.entries.set(id, { fingerprint, at, result: null });
    try {
      await this.append(JSON.stringify({ id, fp: fingerprint, at }) + '\n', true);
    } catch (err) {
      this.entries.delete(id);
      throw err;
    }
  }

  /**
   * Records a call's end with its result, bounded to the journal's cap; resolves once written
   * (not synced). The stored result is what a re-delivery after a restart gets.
   */
  async finished(id: string, fingerprint: string, result: Result<unknown>): Promise<void> {
    if (this.disposed) throw new Error('the call journal is closed');
    const stored = boundResult(result, this.resultMaxBytes);
    const at = this.now();
    this.entries.delete(id); // re-inserted last: Map order is the order entries are dropped for room
    this.entries.set(id, { fingerprint, at, result: stored });
    await this.append(JSON.stringify({ id, fp: fingerprint, at, result: stored }) + '\n', false);
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
      const data = (this.needsNewline ? '\n' : '') + batch.map((p) => p.line).join('');
      try {
        if (!this.handle) throw new Error('the call journal is closed');
        this.needsNewline = true;
        await this.handle.appendFile(data, 'utf8');
        this.needsNewline = false;
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
   * new file, syncs it and renames it over the journal; new records go to the new file.
   */
  private async compact(): Promise<void> {
    const now = this.now();
    for (const [id, entry] of this.entries) if (now - entry.at > this.retentionMs) this.entries.delete(id);
    let finished = 0;
    for (const entry of this.entries.values()) if (entry.result !== null) finished++;
    for (const [id, entry] of this.entries) {
      if (finished <= this.maxEntries) break;
      if (entry.result === null) continue;
      this.entries.delete(id);
      finished--;
    }
    const lines: string[] = [];
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
