import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TetherError } from '@tether/shared';

/** The lock file in a data dir, next to `relay.sqlite`. */
export const DATA_DIR_LOCK_FILE = 'relay.lock';

/** The connections holding locks, so that garbage collection cannot close one. */
const held = new Set<Database.Database>();

/** Held while one relay process serves a data dir; `dispose()` lets the next one in. */
export interface DataDirLock {
  dispose(): void;
}

/**
 * Claims a data dir for one serving relay, or fails with `conflict`. The embedded store belongs to one
 * process: a second relay on the same dir would mark the first one's connected runtimes `stopped` at its
 * start, and the first would answer `runtime_offline` for them from then on. The lock is SQLite's own
 * exclusive file lock on `relay.lock` (kept for the life of the connection in EXCLUSIVE locking mode), so
 * the operating system drops it with the process however that ends; admin commands (`openAdmin`, the CLI)
 * open `relay.sqlite` and are not affected.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // timeout 0: a held lock is an answer, not something to wait for.
  const db = new Database(join(dataDir, DATA_DIR_LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY')
      throw new TetherError(
        'conflict',
        `another relay is serving the data dir ${dataDir} (one relay process per data dir): stop it, or use another --data-dir`,
      );
    throw err;
  }
  // Referenced from here until disposed: better-sqlite3 closes a collected connection, which would drop the lock
  // of a caller that keeps no reference to it.
  held.add(db);
  return {
    dispose: () => {
      held.delete(db);
      db.close();
    },
  };
}
