import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import type { RuntimeView } from '@tether/shared';
import { waitFor } from '../test-stack.js';

/**
 * Exactly once across a host restart: a real relay, the real headless host in a child
 * process (so it can be killed with SIGKILL, as a crash would), and a second host started on
 * the same config dir (same device id, same workspace ids: the relay re-attaches the runtime).
 */

const CLI_SOURCE = fileURLToPath(new URL('../cli.ts', import.meta.url));
/** tsx's loader, by absolute URL: the child runs in a temp dir where `--import tsx` would not resolve. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('CallRunner across a host restart', () => {
  let dir: string;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let desktopToken: string;
  let platformKey: string;
  const children: ChildProcess[] = [];
  /** Shells a killed host left behind (their process groups), ended after each test. */
  const leftovers: number[] = [];

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'tether-restart-it-')));
    await mkdir(join(dir, 'project'));
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent' });
    await relay.admin.createOrg('restart');
    desktopToken = (await relay.admin.createToken({ org: 'restart', kind: 'desktop' })).token;
    platformKey = (await relay.admin.createToken({ org: 'restart', kind: 'platform' })).token;
  });

  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    for (const pgid of leftovers.splice(0)) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await relay.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The headless host from its TypeScript sources, as cli.integration.test.ts runs it. */
  async function startHostProcess(): Promise<{ child: ChildProcess; exited: Promise<unknown>; output: () => string }> {
    const entry = join(dir, 'cli-entry.mjs');
    await writeFile(
      entry,
      `const { runCli } = await import(${JSON.stringify(CLI_SOURCE)});\nprocess.exit(await runCli(process.argv.slice(2), { appVersion: 'test' }));\n`,
    );
    const args = ['--headless', '--relay', relay.url, '--workspace', 'project', '--policy', 'write=allow,shell=allow'];
    const child = spawn(
      process.execPath,
      ['--conditions=@tether/source', '--import', TSX_LOADER, entry, ...args, '--config-dir', join(dir, 'config')],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, TETHER_TOKEN: desktopToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return { child, exited, output: () => output };
  }

  const runtime = async (state: RuntimeView['state']): Promise<RuntimeView> =>
    waitFor(
      async () => {
        const res = await fetch(`${relay.url}/v1/runtimes`, { headers: { Authorization: `Bearer ${platformKey}` } });
        return ((await res.json()) as { runtimes: RuntimeView[] }).runtimes.find((r) => r.state === state);
      },
      `a ${state} runtime`,
      30_000,
    );

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test reads bodies of several shapes
  const call = async (runtimeId: string, body: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${relay.url}/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${platformKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };

  const lines = async (name: string): Promise<number> =>
    (await readFile(join(dir, 'project', name), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

  it('does not run a command again when the relay re-delivers it to a host restarted after a crash mid-call', async () => {
    const first = await startHostProcess();
    const rt = await runtime('running');
    const request = {
      tool: 'run_command',
      // The command runs sandboxed (its own pid namespace, tied to the host): the host's SIGKILL ends it too.
      args: { command: 'echo x >> count.txt; sleep 8; echo done >> count.txt' },
      timeoutMs: 60_000,
      idempotencyKey: 'restart-mid-call',
    };
    const answer = call(rt.id, request);
    await waitFor(async () => (await lines('count.txt')) === 1, 'the command');
    first.child.kill('SIGKILL');
    await first.exited;
    await runtime('stopped');

    // Same config dir: same device and workspace ids, so the relay re-delivers the pending call (same id).
    await startHostProcess();
    const res = await answer;
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('interrupted');
    expect(res.body.error.message).toMatch(/stopped while this call was running; it was not run again/);
    expect(await lines('count.txt')).toBe(1);

    // A retry with the same key gets the same answer; the command still ran once.
    const retry = await call(rt.id, request);
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('interrupted');
    expect(await lines('count.txt')).toBe(1);
  }, 90_000);

  it('answers a retry of a finished command after a crash from the journal, without running it again', async () => {
    const first = await startHostProcess();
    const rt = await runtime('running');
    const request = {
      tool: 'run_command',
      args: { command: 'echo x >> count.txt; echo ran' },
      timeoutMs: 60_000,
      idempotencyKey: 'restart-after-result',
    };
    const done = await call(rt.id, request);
    expect(done.status).toBe(200);
    expect(done.body.result.output).toMatch(/ran/);
    first.child.kill('SIGKILL');
    await first.exited;
    await runtime('stopped');

    await startHostProcess();
    await runtime('running');
    const retry = await call(rt.id, request);
    expect(retry.status).toBe(200);
    expect(retry.body.callId).toBe(done.body.callId);
    expect(retry.body.result).toEqual(done.body.result);
    expect(await lines('count.txt')).toBe(1);

    // The same key with other arguments is still refused as a conflict.
    const other = await call(rt.id, { ...request, args: { command: 'echo y >> count.txt' } });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    expect(await lines('count.txt')).toBe(1);
  }, 90_000);
});
