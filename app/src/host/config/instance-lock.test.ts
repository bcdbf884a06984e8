import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError } from '@tether/shared';
import { InstanceLock, lockAddress } from './instance-lock.js';

describe('InstanceLock', () => {
  let dir: string;
  const held: InstanceLock[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-lock-'));
  });
  afterEach(async () => {
    await Promise.all(held.splice(0).map((l) => l.dispose()));
    await rm(dir, { recursive: true, force: true });
  });

  describe('acquire', () => {
    it('refuses a second holder of the same config dir with conflict, naming the cause', async () => {
      held.push(await InstanceLock.acquire(dir));
      const second = await InstanceLock.acquire(dir).catch((err: unknown) => err);
      expect(second).toBeInstanceOf(TetherError);
      expect((second as TetherError).code).toBe('conflict');
      expect((second as TetherError).message).toMatch(/already running with the config dir/);
    });

    it('lets another config dir be held at the same time', async () => {
      held.push(await InstanceLock.acquire(dir));
      held.push(await InstanceLock.acquire(join(dir, 'other')));
      expect(held[0]!.where).not.toBe(held[1]!.where);
      expect(held[0]!.where.length).toBeLessThan(100); // socket paths are limited to about 100 bytes
    });

    it('is free again after dispose', async () => {
      const first = await InstanceLock.acquire(dir);
      await first.dispose();
      held.push(await InstanceLock.acquire(dir));
    });

    it('is free again when the holding process is killed, its socket file left behind', async () => {
      const address = lockAddress(dir);
      // A separate process takes the lock the same way, then dies by SIGKILL without cleaning up.
      const child = spawn(
        process.execPath,
        ['-e', `require('net').createServer().listen(${JSON.stringify(address)}, () => console.log('ready'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await expect(InstanceLock.acquire(dir)).rejects.toMatchObject({ code: 'conflict' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      // Linux: an abstract socket, gone with its process. Elsewhere the file stays behind and is replaced.
      if (!address.startsWith('\u0000')) expect((await stat(address)).isSocket()).toBe(true);
      held.push(await InstanceLock.acquire(dir));
    });

    it('lets exactly one of several simultaneous starts win after the holder was killed', async () => {
      const address = lockAddress(dir);
      const child = spawn(
        process.execPath,
        ['-e', `require('net').createServer().listen(${JSON.stringify(address)}, () => console.log('ready'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      // With a socket file, each finds it dead and clears it: one must not clear the socket another has just made.
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => InstanceLock.acquire(dir)));
      const won = results.filter((r) => r.status === 'fulfilled');
      held.push(...won.map((r) => (r as PromiseFulfilledResult<InstanceLock>).value));
      expect(won).toHaveLength(1);
    });

    it('lets exactly one of two simultaneous starts win', async () => {
      const results = await Promise.allSettled([InstanceLock.acquire(dir), InstanceLock.acquire(dir)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      held.push(...won.map((r) => (r as PromiseFulfilledResult<InstanceLock>).value));
      expect(won).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'conflict' } });
    });
  });
});
