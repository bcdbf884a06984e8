import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError } from '@tether/shared';
import { openAdmin } from '../relay-admin.js';
import { lockDataDir } from './data-dir-lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  describe('lockDataDir', () => {
    it('refuses a second claim on the same data dir with conflict, until the first is disposed', async () => {
      const first = await lockDataDir(dir);
      const second = await lockDataDir(dir).catch((err: unknown) => err);
      expect(second).toBeInstanceOf(TetherError);
      expect((second as TetherError).code).toBe('conflict');
      expect((second as TetherError).message).toContain(dir);
      first.dispose();
      const third = await lockDataDir(dir);
      third.dispose();
    });

    it('is refused while another process holds it, and free once that process is gone', async () => {
      // A real second process: the lock is the operating system's, not this process's memory.
      const lockModule = new URL('./data-dir-lock.ts', import.meta.url).href;
      const holder = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions',
          '@tether/source',
          '--input-type=module',
          '-e',
          `const { lockDataDir } = await import(${JSON.stringify(lockModule)}); await lockDataDir(${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('held') && resolve());
          holder.once('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
        });
        await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'conflict' });
      } finally {
        holder.kill('SIGKILL');
        await new Promise((resolve) => holder.once('close', resolve));
      }
      (await lockDataDir(dir)).dispose();
    }, 30_000);

    it('leaves the admin commands working while a relay holds the dir', async () => {
      const lock = await lockDataDir(dir);
      try {
        const admin = openAdmin(dir);
        await admin.createOrg('acme');
        expect((await admin.createToken({ org: 'acme', kind: 'platform' })).token).toMatch(/^tpk_/);
        admin.close();
      } finally {
        lock.dispose();
      }
    });
  });
});
