import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSupervisor, type SupervisedProcess } from './host-supervisor.js';
import type { HostStatus } from './tray-model.js';

/** A real Node child process standing in for Electron's UtilityProcess (which needs Electron). */
class NodeProcess implements SupervisedProcess {
  readonly child: ChildProcess;
  constructor(script: string) {
    this.child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  }
  onExit(listener: (code: number | null) => void): void {
    this.child.once('exit', (code) => listener(code));
  }
  kill(): void {
    this.child.kill();
  }
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('HostSupervisor', () => {
  const supervisors: HostSupervisor<NodeProcess>[] = [];
  afterEach(() => {
    for (const supervisor of supervisors.splice(0)) supervisor.dispose();
  });

  function supervise(script: string, options: { maxRestarts?: number; stableAfterMs?: number } = {}) {
    const statuses: HostStatus[] = [];
    const started: number[] = [];
    const supervisor = new HostSupervisor<NodeProcess>({
      spawn: () => new NodeProcess(script),
      onStarted: (_process, generation) => started.push(generation),
      onStatus: (status) => statuses.push(status),
      initialDelayMs: 10,
      maxDelayMs: 40,
      ...options,
    });
    supervisors.push(supervisor);
    return { supervisor, statuses, started };
  }

  describe('start', () => {
    it('restarts a crashing host with backoff, then gives up and reports failed', async () => {
      const { supervisor, statuses, started } = supervise('process.exit(3)', { maxRestarts: 2, stableAfterMs: 60_000 });
      supervisor.start();
      await until(() => statuses.at(-1) === 'failed');
      expect(started).toEqual([1, 2, 3]);
      expect(statuses).toEqual(['running', 'restarting', 'running', 'restarting', 'running', 'failed']);
      expect(supervisor.current).toBeNull();
    });

    it('counts a host that stayed up long enough as healthy again', async () => {
      // Every run lives ~150 ms, longer than stableAfterMs: the crash count never builds up.
      const { supervisor, started, statuses } = supervise('setTimeout(() => process.exit(1), 150)', {
        maxRestarts: 1,
        stableAfterMs: 50,
      });
      supervisor.start();
      await until(() => started.length >= 4);
      expect(statuses).not.toContain('failed');
    });
  });

  describe('stop', () => {
    it('asks the host to exit and does not restart it', async () => {
      const { supervisor, started, statuses } = supervise(
        "process.on('message', (m) => { if (m === 'shutdown') process.exit(0); }); setInterval(() => {}, 1000);",
      );
      supervisor.start();
      const host = supervisor.current;
      if (!host) throw new Error('no host');
      await supervisor.stop((p) => p.child.send('shutdown'), 20_000);
      expect(host.child.exitCode).toBe(0);
      expect(started).toEqual([1]);
      expect(statuses).toEqual(['running']);
    });

    it('kills a host that does not exit within the grace period', async () => {
      const { supervisor } = supervise('setInterval(() => {}, 1000)');
      supervisor.start();
      const host = supervisor.current;
      if (!host) throw new Error('no host');
      await supervisor.stop(() => {}, 100);
      expect(host.child.signalCode).toBe('SIGTERM');
    });
  });
});
