import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A small real file system (tmpfs) for full-disk tests; `dispose` unmounts and removes it. */
export interface SmallDisk {
  dir: string;
  /** Fills the disk until not one more byte fits; resolves with the filler file's path. */
  fill(): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * Mounts a tmpfs of `size` (e.g. `1m`) on a fresh temp dir. Null with the reason when mounting
 * is refused here (not root, or no CAP_SYS_ADMIN in a container): the caller skips its test.
 */
export async function mountSmallDisk(size = '1m'): Promise<SmallDisk | { skip: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}` };
  }
  let fillers = 0;
  return {
    dir,
    async fill() {
      const path = join(dir, `.filler-${fillers++}`);
      const handle = await open(path, 'w');
      try {
        for (let chunk = 64 * 1024; chunk >= 1; chunk = Math.floor(chunk / 2)) {
          const data = Buffer.alloc(chunk, 0x61);
          for (;;) {
            try {
              const { bytesWritten } = await handle.write(data);
              if (bytesWritten < chunk) break;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        await handle.close();
      }
      return path;
    },
    async dispose() {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
