import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
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
    for (const part of posix.split('/')) if (ALWAYS_IGNORED_DIRS.includes(part)) return true;
    return matchers.some((match) => match(posix));
  };
}

/**
 * Watches one workspace with chokidar (no initial scan events) and reports changes in
 * batches: at most one batch per FILE_EVENT_BATCH_MS, each capped at MAX_FILE_EVENTS_PER_BATCH
 * with the rest counted in `dropped` (a checkout touching thousands of files is one message).
 *
 * chokidar 4 opens one `fs.watch` per file as well as per folder: 100,000 files cost about
 * 750 MB and 100,000 inotify watches (the default per-user limit is often 128 Ki, shared by
 * every program). So chokidar is asked to track folders only, and file changes are read from
 * the folder watchers' raw events (a folder's watch reports its children by name on every
 * platform): one watch per folder, and a file's kind is settled with one `lstat`.
 */
export class FileWatcher {
  /** Resolves once the initial scan is done and changes are being reported. */
  readonly ready: Promise<void>;
  private readonly watcher: FSWatcher;
  private readonly ignored: (path: string) => boolean;
  private readonly batchMs: number;
  private readonly maxPerBatch: number;
  private changes: FileChange[] = [];
  private seen = new Set<string>();
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Paths whose raw event is being classified (one lstat at a time per path). */
  private readonly classifying = new Map<string, 'rename' | 'change'>();
  private disposed = false;

  constructor(private readonly options: FileWatcherOptions) {
    this.batchMs = options.batchMs ?? FILE_EVENT_BATCH_MS;
    this.maxPerBatch = options.maxPerBatch ?? MAX_FILE_EVENTS_PER_BATCH;
    this.ignored = createIgnoreMatcher(options.root, options.ignore);
    this.watcher = watch(options.root, {
      ignoreInitial: true,
      // Folders only (see above): a regular file is "ignored" by chokidar and seen through its folder.
      ignored: (path: string, stats?: Stats) => this.ignored(path) || stats?.isFile() === true,
      // Links are reported, not followed: a link to elsewhere must not widen what is watched.
      followSymlinks: false,
      // Unreadable subfolders are skipped rather than failing the whole watch.
      ignorePermissionErrors: true,
      persistent: true,
    });
    this.ready = new Promise<void>((resolve) => this.watcher.once('ready', () => resolve()));
    this.watcher.on('all', (event, path) => {
      this.record(event, path);
      if (event === 'addDir') void this.scanNewDir(path);
    });
    this.watcher.on('raw', (event, name, details) =>
      this.onRaw(
        event,
        typeof name === 'string' ? name : null,
        (details as { watchedPath?: string } | undefined)?.watchedPath,
      ),
    );
    this.watcher.on('error', (error) => this.options.onTrouble?.(error));
  }

  /** Stops watching; a batch still waiting is dropped. */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher.close();
  }

  /**
   * Files created in a new folder before its watch began raise no raw event: list them once
   * (chokidar itself reports the new folder's subfolders, which are listed in turn).
   */
  private async scanNewDir(dir: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // gone again already
    }
    for (const entry of entries) {
      if (this.disposed) return;
      const path = join(dir, entry.name);
      if (!entry.isDirectory() && !this.ignored(path)) this.record('add', path);
    }
  }

  /** A folder watcher saw `name` change: settle whether it is a file added, changed or gone. */
  private onRaw(event: string, name: string | null, watchedPath: string | undefined): void {
    if (this.disposed || !name || !watchedPath || (event !== 'rename' && event !== 'change')) return;
    const path = join(watchedPath, name);
    if (this.ignored(path)) return;
    const pending = this.classifying.get(path);
    if (pending !== undefined) {
      if (event === 'rename') this.classifying.set(path, 'rename'); // an add or unlink outranks a change
      return;
    }
    this.classifying.set(path, event);
    lstat(path).then(
      (info) => {
        const kind = this.classifying.get(path);
        this.classifying.delete(path);
        // Folders are chokidar's own (addDir/unlinkDir); everything else is a file for the caller.
        if (!info.isDirectory()) this.record(kind === 'change' ? 'change' : 'add', path);
      },
      () => {
        this.classifying.delete(path);
        this.record('unlink', path);
      },
    );
  }

  private record(event: string, path: string): void {
    if (this.disposed) return;
    if (event !== 'add' && event !== 'change' && event !== 'unlink' && event !== 'addDir' && event !== 'unlinkDir')
      return;
    const rel = relative(this.options.root, path);
    if (rel === '' && event === 'unlinkDir') this.options.onTrouble?.(new Error('the workspace root was removed'));
    const posix = sep === '/' ? rel : rel.split(sep).join('/');
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
