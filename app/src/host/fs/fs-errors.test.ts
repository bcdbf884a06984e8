import { lstat } from 'node:fs/promises';
import { TetherError } from '@tether/shared';
import { describe, expect, it } from 'vitest';
import { stableFsError } from './fs-errors.js';

async function systemError(p: string): Promise<unknown> {
  return lstat(p).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('stableFsError', () => {
  it('gives a path too long for the system invalid_args, without the path', async () => {
    const long = `/tmp/${'n'.repeat(250)}/`.repeat(20);
    const err = stableFsError(await systemError(long));
    expect(err).toBeInstanceOf(TetherError);
    expect((err as TetherError).code).toBe('invalid_args');
    expect((err as TetherError).message).not.toContain('/tmp');
  });

  it('gives a file gone meanwhile not_found, without its absolute path', async () => {
    const err = stableFsError(await systemError('/tmp/tether-no-such-file-here/x'));
    expect((err as TetherError).code).toBe('not_found');
    expect((err as TetherError).message).not.toContain('/tmp');
  });

  it('keeps TetherErrors and unknown errors as they are', () => {
    const tether = new TetherError('conflict');
    expect(stableFsError(tether)).toBe(tether);
    const other = new Error('boom');
    expect(stableFsError(other)).toBe(other);
    const odd = Object.assign(new Error('x'), { code: 'EWEIRD' });
    expect(stableFsError(odd)).toBe(odd);
  });
});
