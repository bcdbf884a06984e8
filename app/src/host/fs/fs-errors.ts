import { TetherError } from '@tether/shared';

/**
 * System errors a file tool can meet on a path inside the workspace that are the caller's or
 * the file system's doing, not a bug: each gets a stable code. The messages are fixed texts,
 * never the system's own (which names the absolute path, so the workspace's place on disk).
 */
const STABLE: Record<string, (path?: string) => TetherError> = {
  // A full disk or a used-up quota: nothing was written (writes go to a temp file first), and
  // the caller may try again once there is room. The workspace-relative path says which write.
  ENOSPC: (path) =>
    new TetherError(
      'no_space',
      `There is no space left on the disk${path !== undefined ? ` to write ${path}` : ''}; nothing was written.`,
      path !== undefined ? { path } : undefined,
    ),
  EDQUOT: (path) =>
    new TetherError(
      'no_space',
      `The disk quota is used up${path !== undefined ? `, so ${path} could not be written` : ''}; nothing was written.`,
      path !== undefined ? { path } : undefined,
    ),
  // A path inside that is longer than PATH_MAX once joined to the root (made deep by a command).
  ENAMETOOLONG: () => new TetherError('invalid_args', 'The path is longer than this system allows.'),
  EACCES: () => new TetherError('permission_denied'),
  EPERM: () => new TetherError('permission_denied'),
  EROFS: () => new TetherError('permission_denied', 'The file system is read-only.'),
  // Changed by something else between the tool's checks and its action (another call, a command).
  ENOENT: () => new TetherError('not_found', 'The file or folder changed while the call ran: it is gone.'),
  ENOTDIR: () => new TetherError('not_a_directory', 'The file or folder changed while the call ran: not a folder.'),
  EISDIR: () => new TetherError('not_a_file', 'The file or folder changed while the call ran: a folder.'),
  EEXIST: () => new TetherError('already_exists', 'The file or folder changed while the call ran: it exists.'),
  ENOTEMPTY: () => new TetherError('not_empty'),
  ELOOP: () => new TetherError('path_outside_workspace', undefined, { reason: 'symlink_loop' }),
  EXDEV: () => new TetherError('conflict', 'The target is on another file system.'),
  EBUSY: () => new TetherError('conflict', 'The file or folder is in use.'),
  ETXTBSY: () => new TetherError('conflict', 'The file is in use.'),
  EMFILE: () => new TetherError('busy', 'Too many files are open; try again.'),
  ENFILE: () => new TetherError('busy', 'Too many files are open; try again.'),
};

/** The errno code of a system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/**
 * `err` as a TetherError with a stable code when it is a known system error; otherwise `err`
 * itself. `path` (workspace-relative, as the caller gave it) is named where it helps (no_space).
 */
export function stableFsError(err: unknown, path?: string): unknown {
  if (err instanceof TetherError) return err;
  const make = STABLE[errnoCode(err) ?? ''];
  if (!make) return err;
  const stable = make(path);
  return new TetherError(stable.code, stable.message, stable.details, { cause: err });
}
