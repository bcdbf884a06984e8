import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { desktopStateSchema } from '@tether/shared';

const entry = fileURLToPath(new URL('./utility-entry.ts', import.meta.url));

/**
 * Stands in for Electron's utilityProcess around the real entry point: it puts a
 * `process.parentPort` on the process (as Electron does), imports utility-entry.ts, then acts
 * as the main process: hands over a real MessagePort (worker_threads, the same API shape as
 * MessagePortMain once adapted), sends one DesktopApi request and relays what comes back
 * over Node IPC to the test. Electron itself is not installed on this machine.
 */
const HARNESS = `
import { MessageChannel } from 'node:worker_threads';
const listeners = [];
const adapt = (port) => ({
  on(event, listener) { if (event === 'message') port.on('message', (data) => listener({ data })); else port.on(event, listener); return this; },
  postMessage: (message) => port.postMessage(message),
  start: () => port.start(),
  close: () => port.close(),
});
process.parentPort = { on: (event, listener) => { listeners.push(listener); }, postMessage: (message) => process.send({ toMain: message }) };
const deliver = (data, ports = []) => { for (const listener of listeners) listener({ data, ports }); };
await import(process.env.ENTRY_URL);
process.send({ envToken: process.env.TETHER_TOKEN ?? null });
const { port1, port2 } = new MessageChannel();
port2.on('message', (message) => process.send({ fromHost: message }));
// Sent before the host is ready: it must be answered once it is.
port2.postMessage({ kind: 'request', id: 1, method: 'state:get', params: {} });
deliver({ type: 'nonsense' });
deliver({ type: 'start', token: 'tdt_test_only' });
deliver({ type: 'port', role: 'window' }, [adapt(port1)]);
process.on('message', (message) => { if (message === 'shutdown') deliver({ type: 'shutdown' }); });
`;

describe('utility-entry', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('starts the real host, serves a port handed over by main, and exits cleanly on shutdown', async () => {
    const configDir = await mkdtemp(join(tmpdir(), 'tether-utility-'));
    dirs.push(configDir);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@tether/source',
        '--input-type=module',
        '-e',
        HARNESS,
        '--',
        '--config-dir',
        configDir,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        // The token comes in the start message; the environment never has it.
        env: { ...process.env, ENTRY_URL: new URL(`file://${entry}`).href },
      },
    );
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const toMain: unknown[] = [];
    const fromHost: unknown[] = [];
    const envTokens: unknown[] = [];
    child.on('message', (message: { toMain?: unknown; fromHost?: unknown; envToken?: unknown }) => {
      if ('envToken' in message) envTokens.push(message.envToken);
      if (message.toMain) toMain.push(message.toMain);
      if (message.fromHost) fromHost.push(message.fromHost);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await expect.poll(() => toMain, { timeout: 25_000 }).toContainEqual({ type: 'ready' });
    // Events (state:changed) may come too; the answer to request 1 is what counts.
    const answer = () => fromHost.find((m) => (m as { kind?: string; id?: number }).kind === 'response');
    await expect.poll(answer, { timeout: 10_000 }).toBeDefined();
    const response = answer() as { kind: string; id: number; ok: boolean; result: unknown };
    expect(response).toMatchObject({ kind: 'response', id: 1, ok: true });
    const state = desktopStateSchema.parse(response.result);
    expect(state.hasToken).toBe(true);
    expect(envTokens).toEqual([null]);
    expect(stderr).toContain('ignored a message from the main process');
    expect(stderr).not.toContain('tdt_test_only');

    child.send('shutdown');
    expect(await exited).toBe(0);
  }, 60_000);
});
