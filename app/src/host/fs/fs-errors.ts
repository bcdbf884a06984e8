import { TetherError } from '@tether/shared';

/**
 * System errors a file tool can meet on a path inside the workspace that are the caller's or
 * the file system's doing, not a bug: each gets a stable code. The messages are fixed texts,
 * never the system's own (which names the absolute path, so the workspace's place on disk).
 */
const STABLE: Record<string, () => TetherError> = {
  // A path inside that is longer than PATH_MAX once joined to the root (made deep by a command).
  ENAMETOOLONG: () => new TetherError('invalid_args', 'The path is longer than this system allows.'),
  EACCES: () => new TetherError('permission_denied'),
  EPERM: () => new TetherError('permission_denied'),
  EROFS: () => new TetherError('permission_denied', 'The file system is read-only.'),
};

/** The errno code of a system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** `err` as a TetherError with a stable code when it is a known system error; otherwise `err` itself. */
export function stableFsError(err: unknown): unknown {
  if (err instanceof TetherError) return err;
  const make = STABLE[errnoCode(err) ?? ''];
  if (!make) return err;
  const stable = make();
  return new TetherError(stable.code, stable.message, stable.details, { cause: err });
}
