import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROCESS_LEDGER_FILE, ProcessLedger } from './process-ledger.js';
import { waitFor } from './test-fixtures.js';

async function markedProcesses(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`\0${marker}`)) found.push(Number(name));
  }
  return found;
}

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe.skipIf(process.platform !== 'linux')('ProcessLedger', () => {
  it('ends, at the next start, what an unsandboxed command of a crashed host left running', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-ledger-'));
    const marker = `${8_000_000 + Math.floor(Math.random() * 1_000_000)}`;
    // A real host process: unsandboxed shell session with a HUP-ignoring job, then SIGKILLed.
    const script = `
      import { createShellTools } from ${JSON.stringify(path.join(import.meta.dirname, 'shell-tools.ts'))};
      import { ProcessLedger } from ${JSON.stringify(path.join(import.meta.dirname, 'process-ledger.ts'))};
      import { DEFAULT_SANDBOX_SPEC } from ${JSON.stringify(path.join(import.meta.dirname, 'sandbox-rules.ts'))};
      import { PathGuard } from ${JSON.stringify(path.join(import.meta.dirname, '..', 'fs', 'path-guard.ts'))};
      const { ledger } = await ProcessLedger.open(${JSON.stringify(dir)});
      const tools = createShellTools({ ledger, sandbox: { ...DEFAULT_SANDBOX_SPEC, mode: 'off' } });
      const guard = await PathGuard.open(${JSON.stringify(dir)});
      const ctx = { workspace: { id: 'w', name: 'w', root: ${JSON.stringify(dir)} }, guard, signal: new AbortController().signal,
        callId: 'c', onOutput: () => true, whenDrained: () => Promise.resolve() };
      const { sessionId } = await tools.handlers.shell_start({ command: 'sh', cols: 80, rows: 24 }, ctx);
      await tools.handlers.shell_write({ sessionId, input: "trap '' HUP; sleep ${marker} &\\n", waitMs: 300 }, ctx);`;
    const file = path.join(dir, 'host.mts');
    await writeFile(file, script);
    const host = spawn(path.join(process.cwd(), 'node_modules', '.bin', 'tsx'), [file], {
      stdio: 'ignore',
      detached: true,
    });
    try {
      await waitFor(async () => (await markedProcesses(marker)).length === 1, 30_000, 'the job to start');
      await waitFor(
        async () => (await readFile(path.join(dir!, PROCESS_LEDGER_FILE), 'utf8').catch(() => '[]')) !== '[]',
        5000,
        'the ledger entry',
      );
    } finally {
      process.kill(-host.pid!, 'SIGKILL');
    }
    // The crash leaves the HUP-ignoring job running.
    await waitFor(async () => (await readFile(`/proc/${host.pid}/stat`, 'utf8').catch(() => 'Z')).includes('Z'), 5000);
    expect(await markedProcesses(marker)).toHaveLength(1);

    const { killed } = await ProcessLedger.open(dir, 200);
    expect(killed).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await markedProcesses(marker)).length === 0, 5000, 'the leftover to die');
    expect(JSON.parse(await readFile(path.join(dir, PROCESS_LEDGER_FILE), 'utf8'))).toEqual([]);
  }, 60_000);

  it('leaves alone a process that reused a recorded pid', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tether-ledger-'));
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    // This test process: alive, but started at another time than the record says.
    await writeFile(path.join(dir, PROCESS_LEDGER_FILE), JSON.stringify([{ pid: process.pid, startTicks: 1, bootId }]));
    const { killed } = await ProcessLedger.open(dir, 200);
    expect(killed).toBe(0);
  });
});
