import { relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import picomatch from 'picomatch';
import { FILE_EVENT_BATCH_MS, MAX_FILE_EVENTS_PER_BATCH, type AppEvent, type FileChange } from '@tether/shared';

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
 * Makes the ignore test for a root: `.git` and `node_modules` at any depth, plus the
 * configured globs matched against the root-relative path.
 */
export function createIgnoreMatcher(root: string, globs: readonly string[] = []): (path: string) => boolean {
  const match = globs.length > 0 ? picomatch([...globs], { dot: true, basename: true }) : null;
  return (path: string): boolean => {
    const rel = relative(root, path);
    if (rel === '' || rel.startsWith('..')) return false; // the root itself is never ignored
    const posix = sep === '/' ? rel : rel.split(sep).join('/');
    for (const part of posix.split('/')) if (ALWAYS_IGNORED_DIRS.includes(part)) return true;
    return match !== null && match(posix);
  };
}

/**
 * Watches one workspace with chokidar (no initial scan events) and reports changes in
 * batches: at most one batch per FILE_EVENT_BATCH_MS, each capped at MAX_FILE_EVENTS_PER_BATCH
 * with the rest counted in `dropped` (a checkout touching thousands of files is one message).
 */
export class FileWatcher {
  /** Resolves once the initial scan is done and changes are being reported. */
  readonly ready: Promise<void>;
  private readonly watcher: FSWatcher;
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
    const ignored = createIgnoreMatcher(options.root, options.ignore);
    this.watcher = watch(options.root, {
      ignoreInitial: true,
      ignored,
      // Links are reported, not followed: a link to elsewhere must not widen what is watched.
      followSymlinks: false,
      // Unreadable subfolders are skipped rather than failing the whole watch.
      ignorePermissionErrors: true,
      persistent: true,
    });
    this.ready = new Promise<void>((resolve) => this.watcher.once('ready', () => resolve()));
    this.watcher.on('all', (event, path) => this.record(event, path));
    this.watcher.on('error', (error) => this.options.onTrouble?.(error));
  }

  /** Stops watching; a batch still waiting is dropped. */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher.close();
  }

  private record(event: string, path: string): void {
    if (this.disposed) return;
    if (event !== 'add' && event !== 'change' && event !== 'unlink' && event !== 'addDir' && event !== 'unlinkDir')
      return;
    const rel = relative(this.options.root, path);
    if (rel === '' && event === 'unlinkDir') this.options.onTrouble?.(new Error('the workspace root was removed'));
    const posix = sep === '/' ? rel : rel.split(sep).join('/');
    const key = `${event}\0${posix}`;
    if (!this.seen.has(key)) {
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
