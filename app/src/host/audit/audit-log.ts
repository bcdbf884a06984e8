import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { auditEntrySchema, type AuditEntry } from '@tether/shared';

/** Size at which the current audit file is rotated: months of normal use, small enough to read whole. */
export const AUDIT_MAX_BYTES = 5 * 1024 * 1024;

/** Audit files kept (the current one plus rotated ones); older ones are deleted. */
export const AUDIT_MAX_FILES = 5;

/** Base name of the audit files: `audit.jsonl`, then `audit.1.jsonl` (newest rotated) … */
export const AUDIT_FILE = 'audit.jsonl';

/** Options of `AuditLog.open`. */
export interface AuditLogOptions {
  maxBytes?: number;
  maxFiles?: number;
}

/** What `list` returns entries for; every field narrows. */
export interface AuditFilter {
  workspaceId?: string | undefined;
  tool?: string | undefined;
  outcome?: 'ok' | 'error' | undefined;
  decisions?: ReadonlyArray<AuditEntry['decision']> | undefined;
  limit: number;
}

/**
 * The activity log: one JSON line per call (who, which tool, a short summary of the
 * arguments, the decision, the outcome, how long, how long the person took to answer), rotated
 * by size. File contents only as far as the person can open them from the entry: a write's
 * diff and a command's output, head and tail, each bounded (MAX_AUDIT_*).
 * Emits 'appended' with each new entry.
 */
export class AuditLog extends EventEmitter<{ appended: [AuditEntry] }> {
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private size = 0;
  /** The file ends in a line torn by a crash: the next entry starts on a line of its own. */
  private needsNewline = false;
  /** Entries waiting for the write under way (or the next one). */
  private pending: Array<{ entry: AuditEntry; resolve: (e: AuditEntry) => void; reject: (err: unknown) => void }> = [];
  /** The write loop, while one runs. */
  private flushing: Promise<void> | undefined;
  /** The current file, open for appending while the log is; closed to rotate. */
  private handle: FileHandle | undefined;
  private disposed = false;

  private constructor(
    readonly dir: string,
    options: AuditLogOptions,
  ) {
    super();
    this.maxBytes = Math.max(1024, options.maxBytes ?? AUDIT_MAX_BYTES);
    this.maxFiles = Math.max(1, options.maxFiles ?? AUDIT_MAX_FILES);
  }

  /** Opens (creating the directory if needed) the audit log in `dir`. */
  static async open(dir: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new AuditLog(dir, options);
    log.size = await stat(log.fileAt(0)).then(
      (s) => s.size,
      () => 0,
    );
    if (log.size > 0) log.needsNewline = !(await endsWithNewline(log.fileAt(0), log.size));
    return log;
  }

  /**
   * Appends one entry (id and time are added). Appends are written in call order; those made
   * while a write is under way go out together in the next one, through one open handle (a
   * line per call cost an open, a write and a close each: a tenth of the desktop's CPU per
   * read in the user-path bench).
   */
  append(entry: Omit<AuditEntry, 'id' | 'time'>): Promise<AuditEntry> {
    const full: AuditEntry = {
      id: `aud_${randomBytes(9).toString('base64url')}`,
      time: new Date().toISOString(),
      ...entry,
    };
    return new Promise<AuditEntry>((resolve, reject) => {
      if (this.disposed) return reject(new Error('The audit log is closed.'));
      this.pending.push({ entry: full, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Writes what is pending, batch by batch, until nothing is. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        await this.writeBatch(batch.map((p) => p.entry));
      } catch (err) {
        for (const p of batch) p.reject(err);
        continue;
      }
      for (const p of batch) {
        this.emit('appended', p.entry);
        p.resolve(p.entry);
      }
    }
    this.flushing = undefined;
  }

  /** Appends the entries' lines, rotating first wherever the next line would pass maxBytes. */
  private async writeBatch(entries: AuditEntry[]): Promise<void> {
    let chunk = '';
    let chunkBytes = 0;
    for (const entry of entries) {
      const line = `${this.needsNewline && chunk === '' ? '\n' : ''}${JSON.stringify(entry)}\n`;
      const bytes = Buffer.byteLength(line);
      if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.maxBytes) {
        if (chunk !== '') await this.writeOut(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
        chunk = `${JSON.stringify(entry)}\n`;
        chunkBytes = Buffer.byteLength(chunk);
        continue;
      }
      chunk += line;
      chunkBytes += bytes;
    }
    if (chunk !== '') await this.writeOut(chunk, chunkBytes);
  }

  private async writeOut(chunk: string, bytes: number): Promise<void> {
    this.handle ??= await open(this.fileAt(0), 'a', 0o600);
    await this.handle.appendFile(chunk);
    this.needsNewline = false;
    this.size += bytes;
  }

  /** Entries matching the filter, newest first, across the current and rotated files. */
  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    await this.flushing; // see every append made before this call
    const limit = Math.max(0, filter.limit);
    const found: AuditEntry[] = [];
    for (let i = 0; i < this.maxFiles && found.length < limit; i++) {
      let text: string;
      try {
        text = await readFile(this.fileAt(i), 'utf8');
      } catch {
        continue; // not rotated that far yet
      }
      const lines = text.split('\n');
      for (let j = lines.length - 1; j >= 0 && found.length < limit; j--) {
        const line = lines[j];
        if (!line) continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue; // a line torn by a crash: skip it, keep the rest
        }
        const entry = auditEntrySchema.safeParse(parsed);
        if (!entry.success) continue;
        const e = entry.data;
        if (filter.workspaceId !== undefined && e.workspaceId !== filter.workspaceId) continue;
        if (filter.tool !== undefined && e.tool !== filter.tool) continue;
        if (filter.outcome !== undefined && e.outcome !== filter.outcome) continue;
        if (filter.decisions !== undefined && !filter.decisions.includes(e.decision)) continue;
        found.push(e);
      }
    }
    return found;
  }

  /** Waits for pending appends, then refuses new ones. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
    this.removeAllListeners();
  }

  private fileAt(index: number): string {
    return join(this.dir, index === 0 ? AUDIT_FILE : AUDIT_FILE.replace(/\.jsonl$/, `.${index}.jsonl`));
  }

  private async rotate(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
    await unlink(this.fileAt(this.maxFiles - 1)).catch(() => undefined);
    for (let i = this.maxFiles - 2; i >= 0; i--) {
      await rename(this.fileAt(i), this.fileAt(i + 1)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    this.size = 0;
    this.needsNewline = false;
  }
}

async function endsWithNewline(path: string, size: number): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer } = await handle.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] === 0x0a;
  } finally {
    await handle.close();
  }
}
