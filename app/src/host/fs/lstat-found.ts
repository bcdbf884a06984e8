import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { TetherError } from '@tether/shared';

/**
 * lstat of a path the guard just found; gone since (a concurrent rename or delete) is
 * `not_found`, not an internal error.
 */
export async function lstatFound(abs: string, rel: string): Promise<Stats> {
  try {
    return await lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new TetherError('not_found', `No such file or folder: ${rel}`);
    throw err;
  }
}
