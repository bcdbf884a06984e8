import { constants, readlinkSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { TetherError } from '@tether/shared';
import { errnoCode } from './fs-errors.js';
import { outsideError, type PathGuard } from './path-guard.js';
import { relativeInside } from './path-forms.js';

/**
 * Where a folder open by descriptor can be named by a path that no later rename or symlink
 * swap can redirect: on Linux the kernel resolves `/proc/self/fd/N` to the open folder itself.
 * Node has no openat/mkdirat/renameat, so this is how a write stays in the folder the guard
 * checked while something inside the workspace (a shell command) swaps a folder on the path
 * for a symlink out between the check and the write. Elsewhere the checked path is used as is.
 */
const FD_DIR = process.platform === 'linux' ? '/proc/self/fd' : null;

const OPEN_DIR_FLAGS = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0);

/**
 * The kernel's own path of the open file `fd` (no symlinks), or undefined where that cannot be
 * asked (no /proc mounted). Synchronous on purpose: /proc/self/fd/N is answered from the
 * kernel's memory of the open file (no disk, no network file system), in a few µs, where the
 * thread-pool round trip of an asynchronous readlink cost several times that on every read.
 */
function fdPath(fd: number): string | undefined {
  try {
    return readlinkSync(`${FD_DIR}/${fd}`);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Where the file or folder open as `handle` is now (the kernel's own path of it, no symlinks),
 * or undefined where that cannot be asked (not Linux, no /proc).
 */
function openedPath(handle: FileHandle): string | undefined {
  return FD_DIR === null ? undefined : fdPath(handle.fd);
}

/**
 * Fails with `path_outside_workspace` unless what `handle` opened is inside the root. The guard
 * checks a path component by component; a folder on it swapped for a symlink out between those
 * checks and the open is caught here, on the object actually opened.
 */
export async function checkOpenedInside(guard: PathGuard, handle: FileHandle): Promise<void> {
  const now = openedPath(handle);
  if (now === undefined) return;
  if (relativeInside(now, guard.root, guard.caseInsensitive) === undefined) throw outsideError('symlink_escape');
}

/**
 * Opens the folder `realDir` (a real path the guard accepted), checks that the folder actually
 * opened is inside the root (so a swap that happened before the open is refused with
 * `path_outside_workspace`), and runs `fn` with a path naming that very folder for as long as
 * `fn` runs. Entry names joined to it are resolved inside the folder opened, whatever happens to
 * the path afterwards.
 */
export async function inPinnedDir<T>(guard: PathGuard, realDir: string, fn: (dir: string) => Promise<T>): Promise<T> {
  if (FD_DIR === null) return fn(realDir);
  const handle = await open(realDir, OPEN_DIR_FLAGS);
  try {
    const now = openedPath(handle);
    if (now === undefined) return await fn(realDir); // no /proc mounted: the checked path it is
    if (relativeInside(now, guard.root, guard.caseInsensitive) === undefined) throw outsideError('symlink_escape');
    return await fn(`${FD_DIR}/${handle.fd}`);
  } finally {
    await handle.close();
  }
}

/** A folder open by descriptor and checked to be inside the root (see openPinnedDir). */
export interface PinnedDir {
  /** A path naming the very folder opened (`/proc/self/fd/N` on Linux, else the checked path). */
  readonly path: string;
  /** The same folder as another process sees it (`/proc/<pid>/fd/N`), e.g. for a child's cwd. */
  readonly pathForChild: string;
  close(): Promise<void>;
}

/**
 * Opens the folder `dirAbs` (O_DIRECTORY|O_NOFOLLOW: a final link swapped in fails) and checks
 * that the folder opened is inside `root`, else `path_outside_workspace`. The walks of list_dir,
 * glob and search list folders through this, so a folder swapped for a link out between the
 * guard's check (or the parent's listing) and the listing is never listed.
 */
export async function openPinnedDir(root: string, caseInsensitive: boolean, dirAbs: string): Promise<PinnedDir> {
  if (FD_DIR === null) return { path: dirAbs, pathForChild: dirAbs, close: async () => undefined };
  let handle: FileHandle;
  try {
    handle = await open(dirAbs, OPEN_DIR_FLAGS | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    // Gone, or no longer a folder (a link swapped in fails O_NOFOLLOW with ELOOP) since checked.
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new TetherError('not_found', 'The folder is gone.', undefined, { cause: err });
    if (code === 'ENOTDIR' || code === 'ELOOP') {
      throw new TetherError('not_a_directory', 'The folder was replaced by something else.', undefined, { cause: err });
    }
    throw err;
  }
  try {
    const now = openedPath(handle);
    if (now === undefined) return { path: dirAbs, pathForChild: dirAbs, close: () => handle.close() };
    if (relativeInside(now, root, caseInsensitive) === undefined) throw outsideError('symlink_escape');
  } catch (err) {
    await handle.close();
    throw err;
  }
  return {
    path: `${FD_DIR}/${handle.fd}`,
    pathForChild: `/proc/${process.pid}/fd/${handle.fd}`,
    close: () => handle.close(),
  };
}

/**
 * True when the file open as `fd` is inside `root` (or where that cannot be asked): the JS
 * search engine opens files by path, and a folder on that path may have been swapped for a
 * link out since the walk listed it.
 */
export async function fdOpenedInside(root: string, caseInsensitive: boolean, fd: number): Promise<boolean> {
  if (FD_DIR === null) return true;
  const now = fdPath(fd);
  if (now === undefined) return true; // no /proc mounted
  return relativeInside(now, root, caseInsensitive) !== undefined;
}

/**
 * Creates the folder `rel` (workspace-relative) and its missing parents one at a time, each in
 * its parent pinned by `inPinnedDir`, so no folder is ever created outside the root (a recursive
 * `mkdir` would follow a parent swapped for a symlink). A folder made meanwhile by someone else
 * is fine; a file in the way is `not_a_directory`.
 */
export async function mkdirsInside(guard: PathGuard, rel: string): Promise<void> {
  const parts = rel === '.' ? [] : rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const step = await guard.resolve(parts.slice(0, i).join('/'));
    if (step.exists) continue;
    try {
      await inPinnedDir(guard, path.dirname(step.abs), (dir) => mkdir(path.join(dir, path.basename(step.abs))));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') continue; // made meanwhile; the next step's resolve checks what it is
      if (code === 'ENOTDIR') throw new TetherError('not_a_directory', `A file is in the way of folder ${rel}`);
      throw err;
    }
  }
  const made = await guard.resolve(rel);
  if (!made.exists) throw new TetherError('not_found', `The folder could not be created: ${rel}`);
  if (!(await lstat(made.abs)).isDirectory())
    throw new TetherError('not_a_directory', `A file is in the way of folder ${rel}`);
}

/** Entries of one folder removed at once by removeTreeInside. */
const REMOVE_CONCURRENCY = 16;

/**
 * Removes `name` in the folder `dir` (a path from inPinnedDir) and, for a folder, everything
 * below it. Each folder is pinned and checked before it is listed, and its entries are removed
 * through that pin: `fs.rm` lists a folder by path after checking it, so a folder swapped for a
 * symlink out in between would have the outside folder's files removed. Symlinks are removed
 * as links, never followed.
 */
export async function removeTreeInside(guard: PathGuard, dir: string, name: string): Promise<void> {
  const abs = path.join(dir, name);
  const st = await lstat(abs);
  if (!st.isDirectory()) {
    await unlink(abs);
    return;
  }
  await inPinnedDir(guard, abs, async (pinned) => {
    const names = await readdir(pinned);
    for (let i = 0; i < names.length; i += REMOVE_CONCURRENCY) {
      await Promise.all(names.slice(i, i + REMOVE_CONCURRENCY).map((child) => removeTreeInside(guard, pinned, child)));
    }
  });
  await rmdir(abs);
}
