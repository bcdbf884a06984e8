import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import { startStack, waitFor, type StackOptions, type StartRelay } from './test-stack.js';

/*
 * Exactly once for as long as a caller may retry, with the real relay and the real host:
 * a relay restart neither kills a running command nor makes its retry run it again.
 */

type Stack = Awaited<ReturnType<typeof startStack>>;

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.dispose();
});

async function stackWith(options: StackOptions): Promise<Stack> {
  const stack = await startStack(startRelay as unknown as StartRelay, options);
  stacks.push(stack);
  return stack;
}

const ALLOW_ALL = { read: 'allow', write: 'allow', shell: 'allow' } as const;

describe('a relay restart while a command runs', () => {
  it('lets the command finish on the desktop; the retry and a GET of the call after the restart get its real result', async () => {
    const stack = await stackWith({ policy: ALLOW_ALL, relay: { shutdownGraceMs: 200 } });
    const runtime = await stack.runtimeIn('running');
    const request = {
      tool: 'run_command',
      args: { command: 'echo start > started.txt; sleep 2; echo run >> runs.txt; echo finished' },
      idempotencyKey: 'deploy-1',
      timeoutMs: 60_000,
    };
    const pending = stack.platform('POST', `/v1/runtimes/${runtime.id}/calls`, request);
    await waitFor(() => access(join(stack.workspaceDir, 'started.txt')).then(() => true), 'the command to start');
    await stack.relay.close();
    const cut = await pending;
    expect(cut.status).toBe(503);
    expect(cut.body.error.code).toBe('unavailable');
    const callId = cut.body.callId as string;

    // The desktop was not told to stop: the command ends by itself while the relay is down.
    const runs = join(stack.workspaceDir, 'runs.txt');
    await waitFor(() => readFile(runs, 'utf8').then((t) => t === 'run\n'), 'the command to finish', 15_000);

    await stack.restartRelay();
    await stack.runtimeIn('running');
    const looked = await stack.platform('GET', `/v1/runtimes/${runtime.id}/calls/${callId}?waitMs=10000`);
    expect(looked.status).toBe(200);
    expect(looked.body.result.exitCode).toBe(0);
    expect(looked.body.result.output).toContain('finished');

    const retry = await stack.platform('POST', `/v1/runtimes/${runtime.id}/calls`, request);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(looked.body);
    expect(await readFile(runs, 'utf8')).toBe('run\n');
  });
});

describe('the idempotency window', () => {
  it('refuses a retry after the window with idempotency_expired and does not write again', async () => {
    const stack = await stackWith({ policy: ALLOW_ALL, relay: { limits: { idempotencyWindowMs: 1_000 } } });
    const runtime = await stack.runtimeIn('running');
    const write = () =>
      stack.platform('POST', `/v1/runtimes/${runtime.id}/calls`, {
        tool: 'write_file',
        args: { path: 'notes.txt', content: 'from the agent' },
        idempotencyKey: 'notes-1',
      });
    expect((await write()).status).toBe(200);
    await writeFile(join(stack.workspaceDir, 'notes.txt'), 'edited by the person');
    expect((await write()).status).toBe(200); // within the window: answered, not written again
    await new Promise((r) => setTimeout(r, 1_200));
    const late = await write();
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('idempotency_expired');
    expect(await readFile(join(stack.workspaceDir, 'notes.txt'), 'utf8')).toBe('edited by the person');
  });
});
