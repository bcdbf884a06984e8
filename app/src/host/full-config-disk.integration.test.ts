import { access, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import { startHost, type Host } from './host.js';
import { startStack, waitFor, type StartRelay } from './test-stack.js';
import { mountSmallDisk, type SmallDisk } from './test-tmpfs.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('a desktop whose config folder is on a full disk', () => {
  it('starts, answers reads, refuses writes and commands with no_space until there is room', async (ctx) => {
    const mounted = await mountSmallDisk('4m');
    if ('skip' in mounted) return ctx.skip(mounted.skip);
    const disk: SmallDisk = mounted;
    cleanups.push(() => disk.dispose());
    const configDir = join(disk.dir, 'config');
    const policy = { read: 'allow', write: 'allow', shell: 'allow' } as const;
    const stack: Stack = await startStack(startRelay as unknown as StartRelay, { policy, host: { configDir } });
    cleanups.push(() => stack.dispose());
    const runtime = await stack.runtimeIn('running');
    expect((await stack.call(runtime.id, 'write_file', { path: 'before.txt', content: 'x' })).status).toBe(200);
    await stack.host.dispose();

    const filler = await disk.fill();
    const host: Host = await startHost({
      configDir,
      relayUrl: stack.relay.url,
      token: stack.desktopToken,
      workspaces: [{ path: stack.workspaceDir, policy }],
      useKeychain: false,
      env: {},
      backoff: { baseMs: 50, maxMs: 400 },
    });
    cleanups.push(() => host.dispose());
    await waitFor(() => host.relay.status.state === 'connected', 'the host to connect');
    await stack.runtimeIn('running');

    const read = await stack.call(runtime.id, 'read_file', { path: 'hello.txt' });
    expect(read.status).toBe(200);
    // The journal's last page may still hold a few records; once it is full, every write and
    // command is refused before it runs.
    let written = 0;
    for (;;) {
      const answer = await stack.call(runtime.id, 'write_file', { path: `after-${written}.txt`, content: 'x' });
      if (answer.status !== 200) {
        expect(answer.status).toBe(507);
        expect(answer.error).toMatchObject({ code: 'no_space', message: expect.stringMatching(/not run/) });
        break;
      }
      if (++written > 200) throw new Error('the journal never ran out of room');
    }
    const command = await stack.call(runtime.id, 'run_command', { command: 'echo hi > ran.txt' });
    expect(command.status).toBe(507);
    expect(command.error?.code).toBe('no_space');
    await expect(access(join(stack.workspaceDir, 'ran.txt'))).rejects.toThrow();
    expect((await stack.call(runtime.id, 'read_file', { path: 'hello.txt' })).status).toBe(200);

    await unlink(filler);
    expect((await stack.call(runtime.id, 'write_file', { path: 'later.txt', content: 'x' })).status).toBe(200);
  });
});
