import { relative, sep } from 'node:path';
import picomatch from 'picomatch';
import {
  FILE_EVENT_BATCH_MS,
  MAX_FILE_EVENTS_PER_BATCH,
  MAX_PATH_BYTES,
  type AppEvent,
  type FileChange,
} from '@tether/shared';
import { lstat, unlink } from 'node:fs/promises';
import { isTetherTemp } from '../fs/atomic-write.js';
import { FolderTreeWatcher } from './folder-tree-watcher.js';

/** Folders never watched: version-control internals and dependency trees churn and are huge. */
export const ALWAYS_IGNORED_DIRS: readonly string[] = ['.git', 'node_modules'];

/** Options of a `FileWatcher`. */
export interface FileWatcherOptions {
  /** The workspace root's real path. */
  root: string;
  workspaceId: string;
  /** Extra globs relative to the root (`dist`, `*.log`, `build/**`); a bare name matches at any depth. */
  ignore?: readonly string[];
  /** Receives each batch of changes (paths relative to the root, `/`-separated). */
  onBatch(event: Extract<AppEvent, { kind: 'files' }>): void;
  /** The watcher hit an error (the root vanished, permissions changed). */
  onTrouble?(error: unknown): void;
  batchMs?: number;
  maxPerBatch?: number;
}

/**
 * Makes the ignore test for a root: `.git` and `node_modules` at any depth, the temp files of
 * atomic writes, plus the configured globs matched against the root-relative path.
 */
export function createIgnoreMatcher(root: string, globs: readonly string[] = []): (path: string) => boolean {
  // A bare name (`dist`, `*.log`) matches at any depth; a pattern with a slash matches from the root.
  const bare = globs.filter((g) => !g.includes('/'));
  const rooted = globs.filter((g) => g.includes('/')).map((g) => g.replace(/^\.?\//, ''));
  const matchers = [
    ...(bare.length > 0 ? [picomatch(bare, { dot: true, basename: true })] : []),
    ...(rooted.length > 0 ? [picomatch(rooted, { dot: true })] : []),
  ];
  return (path: string): boolean => {
    const rel = relative(root, path);
    if (rel === '' || rel.startsWith('..')) return false; // the root itself is never ignored
    const posix = sep === '/' ? rel : rel.split(sep).join('/');
    const parts = posix.split('/');
    for (const part of parts) if (ALWAYS_IGNORED_DIRS.includes(part)) return true;
    // A write's temp file comes and goes with every write_file: not a change of the person's files.
    if (isTetherTemp(parts[parts.length - 1] ?? '')) return true;
    return matchers.some((match) => match(posix));
  };
}

/**
 * Watches one workspace (see FolderTreeWatcher: one watch per folder; `.git`, `node_modules`
 * and the configured globs left out; nothing reported for what exists at start) and reports
 * changes in batches: at most one batch per FILE_EVENT_BATCH_MS, each capped at
 * MAX_FILE_EVENTS_PER_BATCH with the rest counted in `dropped` (a checkout touching thousands
 * of files is one message).
 */
export class FileWatcher {
  /** Resolves once the initial scan is done and changes are being reported. */
  readonly ready: Promise<void>;
  private readonly tree: FolderTreeWatcher;
  private readonly batchMs: number;
  private readonly maxPerBatch: number;
  private changes: FileChange[] = [];
  private seen = new Set<string>();
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;

  constructor(private readonly options: FileWatcherOptions) {
    this.batchMs = options.batchMs ?? FILE_EVENT_BATCH_MS;
    this.maxPerBatch = options.maxPerBatch ?? MAX_FILE_EVENTS_PER_BATCH;
    this.tree = new FolderTreeWatcher({
      root: options.root,
      ignored: createIgnoreMatcher(options.root, options.ignore),
      onChange: (path, change) => this.record(change, path),
      onTrouble: (error) => this.options.onTrouble?.(error),
      onDropped: () => this.countDropped(),
      // The temp files a write killed mid-way left (kill -9, a power cut): removed once old.
      initialFiles: { pick: isTetherTemp, found: (path) => void removeStaleTemp(path) },
    });
    this.ready = this.tree.ready;
  }

  /** Folders watched now. */
  get folderCount(): number {
    return this.tree.folderCount;
  }

  /** Stops watching; a batch still waiting is dropped. */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.tree.dispose();
    await this.ready.catch(() => undefined);
  }

  private countDropped(): void {
    if (this.disposed) return;
    this.dropped++;
    this.timer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  private record(event: FileChange['change'], path: string): void {
    if (this.disposed) return;
    const rel = relative(this.options.root, path);
    const posix = sep === '/' ? rel : rel.split(sep).join('/');
    // A folder moved below a deep one (or made deep by a command) has paths longer than the
    // event frame allows; one such path would make the relay refuse the frame and drop the
    // connection. It is counted as dropped instead.
    if (posix.length > MAX_PATH_BYTES) {
      this.countDropped();
      return;
    }
    const key = `${event}\0${posix}`;
    // A file just added and then written (one writeFile) is one change for the caller: its add.
    const covered = event === 'change' && this.seen.has(`add\0${posix}`);
    if (!this.seen.has(key) && !covered) {
      if (this.changes.length < this.maxPerBatch) {
        this.changes.push({ path: posix === '' ? '.' : posix, change: event });
        this.seen.add(key);
      } else {
        this.dropped++;
      }
    }
    this.timer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  private flush(): void {
    this.timer = null;
    if (this.disposed || (this.changes.length === 0 && this.dropped === 0)) return;
    // A removed folder is also seen as a name gone from its parent: report it once, as the folder.
    const goneDirs = new Set(this.changes.filter((c) => c.change === 'unlinkDir').map((c) => c.path));
    if (goneDirs.size > 0) this.changes = this.changes.filter((c) => c.change !== 'unlink' || !goneDirs.has(c.path));
    const event: Extract<AppEvent, { kind: 'files' }> = {
      kind: 'files',
      workspaceId: this.options.workspaceId,
      changes: this.changes,
      dropped: this.dropped,
    };
    this.changes = [];
    this.seen = new Set();
    this.dropped = 0;
    this.options.onBatch(event);
  }
}

/**
 * How old a write's temp file must be to be taken for one a killed write left: a write renames
 * its temp file within the call (seconds for MAX_WRITE_BYTES), so an hour is far past any live one.
 */
export const STALE_TEMP_FILE_MS = 60 * 60_000;

/**
 * Removes a temp file of an atomic write that is a regular file older than STALE_TEMP_FILE_MS
 * (best effort). The name is one only Tether makes (16 random hex digits); unlink never follows
 * a link, so a name swapped for one removes the link at most.
 */
export async function removeStaleTemp(path: string, now = Date.now()): Promise<boolean> {
  try {
    const st = await lstat(path);
    if (!st.isFile() || now - st.mtimeMs < STALE_TEMP_FILE_MS) return false;
    await unlink(path);
    return true;
  } catch {
    return false;
  }
}
