import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MAX_MISSED_CONFIRMATIONS, missedConfirmationSchema, type MissedConfirmation } from '@tether/shared';
import { writeFileAtomic } from '../config/config-store.js';

/** File of the missed questions inside the config directory. */
export const MISSED_FILE = 'missed-questions.json';

const fileSchema = z.array(missedConfirmationSchema).max(MAX_MISSED_CONFIRMATIONS);

/**
 * Keeps the missed questions on disk, so the ones dropped because the host stopped are still
 * shown after it starts again. A file that does not parse is ignored (it holds nothing the
 * policy depends on).
 */
export class MissedStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    readonly loaded: MissedConfirmation[],
  ) {}

  /** Reads what an earlier run left. */
  static async open(dir: string): Promise<MissedStore> {
    const path = join(dir, MISSED_FILE);
    const text = await readFile(path, 'utf8').catch(() => null);
    let loaded: MissedConfirmation[] = [];
    if (text !== null) {
      try {
        const parsed = fileSchema.safeParse(JSON.parse(text));
        if (parsed.success) loaded = parsed.data;
      } catch {
        // Torn or edited by hand: start with none.
      }
    }
    return new MissedStore(path, loaded);
  }

  /** Writes the current list (one write at a time, in order). */
  save(list: MissedConfirmation[]): void {
    const snapshot = `${JSON.stringify(list)}\n`;
    const run = () => writeFileAtomic(this.path, snapshot);
    this.queue = this.queue.then(run, run).catch(() => undefined);
  }

  /** Resolves when every save so far is on disk. */
  flush(): Promise<void> {
    return this.queue.then(() => undefined);
  }
}
