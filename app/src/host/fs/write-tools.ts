import type { Stats } from 'node:fs';
import { lstat, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { MAX_DIFF_RESULT_CHARS, MAX_WRITE_BYTES, TetherError, type ToolArgs, type ToolResult } from '@tether/shared';
import { atomicWrite } from './atomic-write.js';
import { applyEdits, unifiedDiff } from './edit-text.js';
import { errnoCode } from './fs-errors.js';
import type { PathGuard, ResolvedPath } from './path-guard.js';
import { inPinnedDir, mkdirsInside, removeTreeInside } from './pinned-dir.js';
import { openRegularFile } from './read-file.js';

async function lstatOrUndefined(abs: string): Promise<Stats | undefined> {
  try {
    return await lstat(abs);
  } catch {
    return undefined;
  }
}

/**
 * The permission bits a rewritten file keeps: read/write/execute, never setuid, setgid or
 * sticky. New content under an old setuid bit would be a program running as the file's owner
 * that the caller wrote (the kernel clears these bits on a write for the same reason).
 */
export function keptMode(mode: number): number {
  return mode & 0o777;
}

/** Decodes write_file content; base64 is checked strictly (Buffer.from would skip junk silently). */
export function decodeContent(content: string, encoding: 'utf8' | 'base64'): Buffer {
  let data: Buffer;
  if (encoding === 'base64') {
    const compact = content.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
      throw new TetherError('invalid_args', 'content is not valid base64.', { field: 'content' });
    }
    data = Buffer.from(compact, 'base64');
  } else {
    data = Buffer.from(content, 'utf8');
  }
  if (data.length > MAX_WRITE_BYTES)
    throw new TetherError('too_large', `The content is larger than ${MAX_WRITE_BYTES} bytes.`);
  return data;
}

/** Reads a whole regular file for editing or previewing, refusing files over MAX_WRITE_BYTES. */
export async function readWhole(target: ResolvedPath, guard: PathGuard): Promise<{ data: Buffer; mode: number }> {
  // The guard's own lstat (when it has one): a file swapped in by a parent swap since is refused.
  const { handle, st } = await openRegularFile(target.abs, target.rel, target.stats, guard);
  try {
    if (st.size > MAX_WRITE_BYTES)
      throw new TetherError('too_large', `The file is larger than ${MAX_WRITE_BYTES} bytes.`);
    return { data: await handle.readFile(), mode: keptMode(st.mode) };
  } finally {
    await handle.close();
  }
}

/** What write_file would do, worked out without writing (shared by the tool and its preview). */
export interface PlannedWrite {
  target: ResolvedPath;
  data: Buffer;
  /** Permission bits of the file replaced, kept on the new one. */
  mode: number | undefined;
  created: boolean;
}

/** Checks a write_file call and works out its effect; refuses folders, FIFOs and devices at the target. */
export async function planWrite(args: ToolArgs<'write_file'>, guard: PathGuard): Promise<PlannedWrite> {
  const data = decodeContent(args.content, args.encoding);
  const target = await guard.resolve(args.path, { allowRoot: false });
  let mode: number | undefined;
  if (target.exists) {
    const st = await lstatOrUndefined(target.abs);
    if (st && !st.isFile()) throw new TetherError('not_a_file', `Not a regular file: ${target.rel}`);
    if (st) mode = keptMode(st.mode);
  }
  return { target, data, mode, created: !target.exists };
}

/** Creates the missing parents of `target` (inside the workspace) and re-checks them after. */
async function ensureParent(target: ResolvedPath, guard: PathGuard, create: boolean): Promise<void> {
  const parentRel = path.posix.dirname(target.rel);
  const parent = await guard.resolve(parentRel);
  if (parent.exists) {
    const st = await lstat(parent.abs);
    if (!st.isDirectory()) throw new TetherError('not_a_directory', `Not a folder: ${parent.rel}`);
    return;
  }
  if (!create) throw new TetherError('not_found', `The folder does not exist: ${parent.rel}`);
  // One folder at a time, each in its pinned parent: a folder swapped for a symlink meanwhile
  // must not take the creation outside.
  await mkdirsInside(guard, parent.rel);
}

/** atomicWrite in the pinned parent of `abs` (see inPinnedDir). */
function writeInside(guard: PathGuard, abs: string, data: Buffer, mode: number | undefined): Promise<void> {
  return inPinnedDir(guard, path.dirname(abs), (dir) => atomicWrite(path.join(dir, path.basename(abs)), data, mode));
}

/** write_file: atomic replace (temp file + fsync + rename), keeping the mode of the file replaced. */
export async function writeFileTool(args: ToolArgs<'write_file'>, guard: PathGuard): Promise<ToolResult<'write_file'>> {
  const plan = await planWrite(args, guard);
  await ensureParent(plan.target, guard, args.createDirs);
  const again = await guard.resolve(args.path, { allowRoot: false });
  await writeInside(guard, again.abs, plan.data, plan.mode);
  return { path: plan.target.rel, bytesWritten: plan.data.length, created: plan.created };
}

/** What edit_file would do: the text before and after, without writing. */
export async function planEdit(
  args: ToolArgs<'edit_file'>,
  guard: PathGuard,
): Promise<{ target: ResolvedPath; before: string; after: string; replacements: number; mode: number; diff: string }> {
  const target = await guard.resolve(args.path, { allowRoot: false });
  if (!target.exists) throw new TetherError('not_found', `No such file: ${target.rel}`);
  const { data, mode } = await readWhole(target, guard);
  if (data.indexOf(0) !== -1) throw new TetherError('binary_file', `The file is binary: ${target.rel}`);
  const before = data.toString('utf8');
  const { text: after, replacements } = applyEdits(before, args.edits);
  if (Buffer.byteLength(after, 'utf8') > MAX_WRITE_BYTES) {
    throw new TetherError('too_large', `The edited file would be larger than ${MAX_WRITE_BYTES} bytes.`);
  }
  return { target, before, after, replacements, mode, diff: unifiedDiff(target.rel, before, after) };
}

/** edit_file: all edits applied in memory, then one atomic write (none with dryRun). */
export async function editFileTool(args: ToolArgs<'edit_file'>, guard: PathGuard): Promise<ToolResult<'edit_file'>> {
  const plan = await planEdit(args, guard);
  if (!args.dryRun && plan.after !== plan.before) {
    await writeInside(guard, plan.target.abs, Buffer.from(plan.after, 'utf8'), plan.mode);
  }
  const { text: diff, truncated: diffTruncated } = boundDiff(plan.diff);
  return { path: plan.target.rel, diff, diffTruncated, replacements: plan.replacements, applied: !args.dryRun };
}

/** A diff cut to its head and tail at line ends when over `maxChars`, with a line in between saying how much is left out. */
export function boundDiff(diff: string, maxChars = MAX_DIFF_RESULT_CHARS): { text: string; truncated: boolean } {
  if (diff.length <= maxChars) return { text: diff, truncated: false };
  const half = Math.floor(maxChars / 2);
  // At line ends where there are any; a single line longer than half is cut where it must be.
  const headNewline = diff.lastIndexOf('\n', half - 1);
  const headEnd = headNewline === -1 ? half : headNewline + 1;
  const tailNewline = diff.indexOf('\n', diff.length - half - 1);
  const tailStart = Math.max(headEnd, tailNewline === -1 ? diff.length - half : tailNewline + 1);
  const cut = diff.slice(headEnd, tailStart);
  let lines = 0;
  for (let i = cut.indexOf('\n'); i !== -1; i = cut.indexOf('\n', i + 1)) lines++;
  return {
    text: `${diff.slice(0, headEnd)}… ${lines} lines of the diff not shown …\n${diff.slice(tailStart)}`,
    truncated: true,
  };
}

/** move: a rename inside the workspace; a symlink moves as a link; never over an existing path unless `overwrite`. */
export async function moveTool(args: ToolArgs<'move'>, guard: PathGuard): Promise<ToolResult<'move'>> {
  const from = await guard.resolve(args.from, { allowRoot: false });
  const to = await guard.resolve(args.to, { allowRoot: false });
  if (!from.exists) throw new TetherError('not_found', `No such file or folder: ${from.rel}`);
  const fromSt = await lstat(from.entry);
  if (to.exists) {
    const toSt = await lstat(to.entry);
    const sameEntry = toSt.ino === fromSt.ino && toSt.dev === fromSt.dev; // a case-only rename
    if (!sameEntry && !args.overwrite) throw new TetherError('already_exists', `The target already exists: ${to.rel}`);
    if (!sameEntry && toSt.isDirectory() && !fromSt.isDirectory()) {
      throw new TetherError('conflict', `Cannot replace folder ${to.rel} with a file.`);
    }
  }
  if (fromSt.isDirectory() && (to.entry + path.sep).startsWith(from.entry + path.sep)) {
    throw new TetherError('invalid_args', 'A folder cannot be moved into itself.');
  }
  await ensureParent(to, guard, true);
  const dest = await guard.resolve(args.to, { allowRoot: false });
  try {
    await inPinnedDir(guard, path.dirname(from.entry), (fromDir) =>
      inPinnedDir(guard, path.dirname(dest.entry), (toDir) =>
        rename(path.join(fromDir, path.basename(from.entry)), path.join(toDir, path.basename(dest.entry))),
      ),
    );
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTEMPTY' || code === 'EEXIST')
      throw new TetherError('not_empty', `The target folder is not empty: ${to.rel}`);
    if (code === 'EISDIR' || code === 'ENOTDIR')
      throw new TetherError('conflict', `Cannot replace ${to.rel}: file and folder differ.`);
    if (code === 'EXDEV') throw new TetherError('conflict', 'The target is on another file system.');
    throw err;
  }
  return { from: from.rel, to: to.rel };
}

/** delete: a file, a symlink (the link, never its target), or a folder (recursive when not empty); never the root. */
export async function deleteTool(args: ToolArgs<'delete'>, guard: PathGuard): Promise<ToolResult<'delete'>> {
  const target = await guard.resolve(args.path, { allowRoot: false });
  if (!target.exists) throw new TetherError('not_found', `No such file or folder: ${target.rel}`);
  // In the pinned parent: a parent swapped for a symlink meanwhile must not aim the removal outside.
  await inPinnedDir(guard, path.dirname(target.entry), async (dir) => {
    const entry = path.join(dir, path.basename(target.entry));
    const st = await lstat(entry);
    if (st.isDirectory()) {
      if (args.recursive) {
        await removeTreeInside(guard, dir, path.basename(target.entry));
      } else {
        try {
          await rmdir(entry);
        } catch (err) {
          if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') {
            throw new TetherError('not_empty', `The folder is not empty (set recursive to delete it): ${target.rel}`);
          }
          throw err;
        }
      }
    } else {
      await unlink(entry);
    }
  });
  return { path: target.rel, deleted: true };
}

/** mkdir: creates the folder and missing parents; `created: false` when it was already there. */
export async function mkdirTool(args: ToolArgs<'mkdir'>, guard: PathGuard): Promise<ToolResult<'mkdir'>> {
  const target = await guard.resolve(args.path);
  if (target.exists) {
    const st = await lstat(target.abs);
    if (!st.isDirectory()) throw new TetherError('already_exists', `A file already exists there: ${target.rel}`);
    return { path: target.rel, created: false };
  }
  await mkdirsInside(guard, target.rel);
  return { path: target.rel, created: true };
}
