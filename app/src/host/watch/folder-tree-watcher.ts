import { watch, type Dirent, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { FileChange } from '@tether/shared';

/**
 * Folders listed at once during a scan: enough to keep the disk busy, few enough that a tree
 * of 100,000 files never has thousands of requests queued in memory.
 */
export const SCAN_CONCURRENCY = 8;

/** Options of a `FolderTreeWatcher`. */
export interface FolderTreeWatcherOptions {
  /** The folder to watch, with everything below it. */
  root: string;
  /** True for a path (file or folder) to leave out; an ignored folder is not entered. */
  ignored(path: string): boolean;
  /** One change, with the absolute path. */
  onChange(path: string, change: FileChange['change']): void;
  /** A watch failed (the root vanished, the inotify limit was reached…). */
  onTrouble(error: unknown): void;
}

/**
 * Watches a folder tree with one `fs.watch` per folder, never per file: a folder's watch reports
 * its children by name on every platform, and one `lstat` tells what happened to the child.
 * chokidar 4, the usual choice, also opens a watch per file and `lstat`s every entry of the tree
 * at once while scanning; on a 100,000-file tree that is ~770 MB and 100,000 inotify watches
 * (bench/host-watch.bench.mjs), this ~70 MB and one watch per folder. Symbolic links are
 * reported as entries and never followed. An atomic save (write a temp file, rename it over)
 * reads as an `add` of the file.
 */
export class FolderTreeWatcher {
  /** Resolves when the initial scan is done (changes made after it are reported). */
  readonly ready: Promise<void>;
  private readonly watchers = new Map<string, FSWatcher>();
  /** Paths whose event is being looked at (one lstat at a time per path). */
  private readonly pending = new Map<string, 'rename' | 'change'>();
  private disposed = false;

  constructor(private readonly options: FolderTreeWatcherOptions) {
    this.ready = this.scan(options.root, false);
  }

  /** Folders watched now. */
  get folderCount(): number {
    return this.watchers.size;
  }

  /** Closes every watch. */
  dispose(): void {
    this.disposed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.pending.clear();
  }

  /**
   * Watches `top` and every folder below it, breadth first with bounded concurrency. With
   * `report`, what is found is new (a folder created or moved in) and reported as added.
   */
  private async scan(top: string, report: boolean): Promise<void> {
    const queue = [top];
    const worker = async (): Promise<void> => {
      for (let dir = queue.shift(); dir !== undefined && !this.disposed; dir = queue.shift()) {
        // Watch before listing, so nothing created in between is missed.
        if (!this.watchFolder(dir)) continue;
        let entries: Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch {
          this.unwatch(dir); // gone or unreadable meanwhile
          continue;
        }
        for (const entry of entries) {
          const path = join(dir, entry.name);
          if (this.options.ignored(path)) continue;
          if (entry.isDirectory()) {
            queue.push(path);
            if (report) this.options.onChange(path, 'addDir');
          } else if (report) {
            this.options.onChange(path, 'add');
          }
        }
      }
    };
    // Workers take folders as earlier ones discover them; each ends when the queue is empty.
    // Rerun until no worker found more (a late discovery after the others ended).
    while (queue.length > 0 && !this.disposed) {
      await Promise.all(Array.from({ length: Math.min(SCAN_CONCURRENCY, queue.length) }, worker));
    }
  }

  private watchFolder(dir: string): boolean {
    if (this.watchers.has(dir)) return false;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: true }, (event, name) => this.onEvent(dir, event, name));
    } catch (err) {
      // ENOENT: gone meanwhile (nothing to report); ENOSPC: out of inotify watches (say so).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dir === this.options.root) this.options.onTrouble(err);
      return false;
    }
    watcher.on('error', (err) => {
      this.unwatch(dir);
      if (dir === this.options.root) this.options.onTrouble(err);
    });
    this.watchers.set(dir, watcher);
    return true;
  }

  /** Stops watching `dir` and every folder below it. */
  private unwatch(dir: string): void {
    const prefix = dir + (dir.endsWith('/') || dir.endsWith('\\') ? '' : dir.includes('\\') ? '\\' : '/');
    for (const [path, w] of this.watchers) {
      if (path === dir || path.startsWith(prefix)) {
        w.close();
        this.watchers.delete(path);
      }
    }
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (this.disposed || name === null) return;
    const path = join(dir, name.toString());
    if (path === dir || this.options.ignored(path)) return;
    const kind = event === 'change' ? 'change' : 'rename';
    const waiting = this.pending.get(path);
    if (waiting !== undefined) {
      if (kind === 'rename') this.pending.set(path, 'rename'); // an add or removal outranks a change
      return;
    }
    this.pending.set(path, kind);
    lstat(path).then(
      (info) => {
        const seen = this.pending.get(path);
        this.pending.delete(path);
        if (this.disposed) return;
        if (info.isDirectory()) {
          if (this.watchers.has(path)) return; // a folder's own metadata changed
          this.options.onChange(path, 'addDir');
          this.scan(path, true).catch((err: unknown) => this.options.onTrouble(err));
        } else {
          this.options.onChange(path, seen === 'change' ? 'change' : 'add');
        }
      },
      async () => {
        this.pending.delete(path);
        if (this.disposed) return;
        // A watched folder's own removal arrives named after the folder itself: the parent's
        // watch reports it (as unlinkDir); for the root, the owner's health check takes over.
        if (name.toString() === basename(dir) && !(await exists(dir))) {
          if (dir === this.options.root) this.options.onTrouble(new Error('the workspace folder was removed'));
          return;
        }
        if (this.watchers.has(path)) {
          this.unwatch(path);
          this.options.onChange(path, 'unlinkDir');
        } else {
          this.options.onChange(path, 'unlink');
        }
      },
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
