import { watch, type Dirent, type FSWatcher, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { FileChange } from '@tether/shared';
import { openPinnedDir, type PinnedDir } from '../fs/pinned-dir.js';

/**
 * Folders listed at once during a scan: enough to keep the disk busy, few enough that a tree
 * of 100,000 files never has thousands of requests queued in memory.
 */
export const SCAN_CONCURRENCY = 8;

/** `lstat`s classifying events at once: a checkout of 50,000 files must not queue 50,000 requests. */
export const CLASSIFY_CONCURRENCY = 16;

/**
 * Events waiting to be classified at most; more are counted as dropped. Well above what one
 * batch carries (MAX_FILE_EVENTS_PER_BATCH), so only a flood loses detail, never its count.
 */
export const MAX_PENDING_EVENTS = 10_000;

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
  /** An event was left out because MAX_PENDING_EVENTS (or `maxPendingEvents`) were already waiting. */
  onDropped?(): void;
  /** A file the initial scan met (ignored or not) whose name passes `pick`: what a start-up sweep looks for, without a second walk. */
  initialFiles?: { pick(name: string): boolean; found(path: string): void };
  maxPendingEvents?: number;
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
  /** Events waiting to be classified, by path (one lstat per path however many events). */
  private readonly pending = new Map<string, { dir: string; child: string; kind: 'rename' | 'change' }>();
  private readonly queue: string[] = [];
  private active = 0;
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
    this.queue.length = 0;
  }

  /**
   * Watches `top` and every folder below it, breadth first with bounded concurrency. With
   * `report`, what is found is new (a folder created or moved in) and reported as added.
   */
  private async scan(top: string, report: boolean): Promise<void> {
    const queue = [top];
    const worker = async (): Promise<void> => {
      for (let dir = queue.shift(); dir !== undefined && !this.disposed; dir = queue.shift()) {
        if (this.watchers.has(dir)) continue;
        // Watched and listed through a descriptor opened without following a link and checked
        // inside the root: a folder swapped for a link out since it was seen must not have the
        // outside folder watched and its names reported as the workspace's.
        let pinned: PinnedDir;
        try {
          pinned = await openPinnedDir(this.options.root, false, dir);
        } catch (err) {
          // Gone, replaced by a link or a file, or outside: nothing of it is reported. The root
          // itself is the owner's trouble (its health check says what happened).
          if (dir === this.options.root) this.options.onTrouble(err);
          continue;
        }
        let entries: Dirent[];
        try {
          // Watch before listing, so nothing created in between is missed.
          // `/.` after a descriptor path: events on the folder itself are then named `.` (libuv names
          // them after the last part of the path watched), never a descriptor number a child could have.
          if (!this.watchFolder(dir, pinned.path === dir ? dir : `${pinned.path}/.`)) continue;
          entries = await readdir(pinned.path, { withFileTypes: true });
        } catch {
          this.unwatch(dir); // gone or unreadable meanwhile
          continue;
        } finally {
          await pinned.close(); // the watch stays on the folder itself, not on the descriptor
        }
        for (const entry of entries) {
          const path = join(dir, entry.name);
          if (!report && entry.isFile() && this.options.initialFiles?.pick(entry.name))
            this.options.initialFiles.found(path);
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

  /** Watches the folder named `dir` through `at` (its pinned path); false when it cannot be watched. */
  private watchFolder(dir: string, at: string): boolean {
    // Disposed while the scan waited for the folder to open: a watch made now would never be closed.
    if (this.disposed || this.watchers.has(dir)) return false;
    let watcher: FSWatcher;
    try {
      watcher = watch(at, { persistent: true }, (event, name) => this.onEvent(dir, event, name));
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
    // An event on the folder itself (its removal) comes named after the path watched: see scan.
    const child = name.toString() === '.' ? basename(dir) : name.toString();
    const path = join(dir, child);
    if (path === dir) return;
    const kind = event === 'change' ? 'change' : 'rename';
    const waiting = this.pending.get(path);
    if (waiting !== undefined) {
      if (kind === 'rename') waiting.kind = 'rename'; // an add or removal outranks a change
      return;
    }
    // Only a path not already waiting is matched against the ignore globs (a waiting one passed):
    // a name renamed in a tight loop sends thousands of events a second, and matching each one
    // held the event loop for seconds (calls to the workspace stalled meanwhile).
    if (this.options.ignored(path)) return;
    if (this.pending.size >= (this.options.maxPendingEvents ?? MAX_PENDING_EVENTS)) {
      this.options.onDropped?.();
      return;
    }
    this.pending.set(path, { dir, child, kind });
    this.queue.push(path);
    this.pump();
  }

  /** Classifies queued events, CLASSIFY_CONCURRENCY at a time. */
  private pump(): void {
    while (this.active < CLASSIFY_CONCURRENCY && this.queue.length > 0 && !this.disposed) {
      const path = this.queue.shift()!;
      this.active++;
      void this.classify(path).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async classify(path: string): Promise<void> {
    let info: Stats | null;
    try {
      info = await lstat(path);
    } catch {
      info = null;
    }
    const event = this.pending.get(path);
    this.pending.delete(path);
    if (this.disposed || !event) return;
    if (info?.isDirectory()) {
      if (this.watchers.has(path)) return; // a folder's own metadata changed
      this.options.onChange(path, 'addDir');
      this.scan(path, true).catch((err: unknown) => this.options.onTrouble(err));
    } else if (info) {
      this.options.onChange(path, event.kind === 'change' ? 'change' : 'add');
    } else if (event.child === basename(event.dir) && !(await exists(event.dir))) {
      // A watched folder's own removal arrives named after the folder itself: the parent's
      // watch reports it (as unlinkDir); for the root, the owner's health check takes over.
      if (event.dir === this.options.root) this.options.onTrouble(new Error('the workspace folder was removed'));
    } else if (this.watchers.has(path)) {
      this.unwatch(path);
      this.options.onChange(path, 'unlinkDir');
    } else {
      this.options.onChange(path, 'unlink');
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
