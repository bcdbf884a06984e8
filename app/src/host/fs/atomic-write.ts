import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Temp file names: a dot, a fixed prefix and 16 random hex characters, always 28 bytes, so a
 * target whose name is already 255 bytes can still be written, and nobody can guess the name
 * to plant a link there first (O_EXCL refuses one anyway).
 */
export function tempName(): string {
  return `.tether-${randomBytes(8).toString('hex')}.tmp`;
}

/** Whether a name is one of `tempName`'s: hidden from listings, searches and file events, and removed when stale. */
export function isTetherTemp(name: string): boolean {
  return TEMP_NAME.test(name);
}

const TEMP_NAME = /^\.tether-[0-9a-f]{16}\.tmp$/;

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * Replaces `targetAbs` with `data` atomically: a new temp file in the same folder, written and
 * fsynced, then renamed over the target. The target is never opened, so a hard link to a file
 * elsewhere is replaced (the other file keeps its old content), a symlink swapped in at the
 * target is replaced rather than followed, and a reader never sees half a file.
 * `mode`: the permission bits to keep (an existing file's); default 0o666 minus the umask.
 */
export async function atomicWrite(targetAbs: string, data: Uint8Array, mode?: number): Promise<void> {
  const dir = path.dirname(targetAbs);
  const tmp = path.join(dir, tempName());
  const handle = await open(tmp, CREATE_FLAGS, mode ?? 0o666);
  try {
    try {
      await handle.writeFile(data);
      if (mode !== undefined) await handle.chmod(mode); // the umask may have dropped bits at open
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, targetAbs);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** Makes the rename durable (best effort: not every platform can fsync a folder). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot open folders this way; the rename itself is still atomic.
  }
}
