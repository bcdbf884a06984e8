import { MAX_FINISHED_PROCESSES, PROCESS_OUTPUT_TAIL_CHARS, runCommandArgs, shellStartArgs } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessMonitor } from './process-monitor.js';
import { createShellTools, type ShellTools } from './shell-tools.js';
import { expectNoProcessesLeft, tempWorkspace, toolContext, waitFor, type TempWorkspace } from './test-fixtures.js';

describe('ProcessMonitor', () => {
  it('keeps the tail of the output and forgets the oldest finished processes', async () => {
    const monitor = new ProcessMonitor();
    const id = monitor.started({ workspaceId: 'w', kind: 'command', command: 'x', cwd: '.' }, async () => {});
    monitor.output(id, 'a'.repeat(PROCESS_OUTPUT_TAIL_CHARS));
    monitor.output(id, 'tail');
    expect(monitor.list()[0]!.output).toHaveLength(PROCESS_OUTPUT_TAIL_CHARS);
    expect(monitor.list()[0]!.output.endsWith('tail')).toBe(true);
    monitor.ended(id, 0);
    for (let i = 0; i < MAX_FINISHED_PROCESSES; i++) {
      monitor.ended(
        monitor.started({ workspaceId: 'w', kind: 'command', command: `c${i}`, cwd: '.' }, async () => {}),
        0,
      );
    }
    expect(monitor.list()).toHaveLength(MAX_FINISHED_PROCESSES);
    expect(monitor.list().map((p) => p.command)).not.toContain('x');
    expect(await monitor.stop(id)).toBe(false);
    monitor.dispose();
  });
});

describe('createShellTools with a monitor', () => {
  let ws: TempWorkspace;
  let tools: ShellTools;
  let monitor: ProcessMonitor;
  beforeEach(async () => {
    ws = await tempWorkspace();
    monitor = new ProcessMonitor();
    tools = createShellTools({ monitor });
  });
  afterEach(async () => {
    await tools.dispose();
    monitor.dispose();
    await ws.remove();
    await expectNoProcessesLeft();
  });

  it('shows a command with its streamed output and exit code', async () => {
    const ended: number[] = [];
    monitor.on('ended', (p) => ended.push(p.exitCode ?? -1));
    const ctx = toolContext(ws);
    const result = await tools.handlers.run_command!(
      runCommandArgs.parse({ command: 'echo seen-by-person; exit 3' }),
      ctx,
    );
    expect(result.exitCode).toBe(3);
    const [shown] = monitor.list();
    expect(shown).toMatchObject({
      kind: 'command',
      command: 'echo seen-by-person; exit 3',
      cwd: '.',
      exitCode: 3,
      stopped: false,
    });
    expect(shown!.output).toContain('seen-by-person');
    expect(shown!.endedAt).toBeGreaterThanOrEqual(shown!.startedAt);
    expect(ended).toEqual([3]);
  });

  it('stops a running command when the person asks: the call fails cancelled', async () => {
    const ctx = toolContext(ws);
    const running = tools.handlers.run_command!(runCommandArgs.parse({ command: 'echo started; sleep 30' }), ctx);
    await waitFor(() => monitor.list()[0]?.output.includes('started') ?? false);
    expect(await monitor.stop(monitor.list()[0]!.id)).toBe(true);
    await expect(running).rejects.toMatchObject({ code: 'cancelled', message: 'The person stopped the command.' });
    expect(monitor.list()[0]).toMatchObject({ stopped: true, exitCode: null });
    expect(monitor.list()[0]!.endedAt).toBeDefined();
  });

  it('shows a session with its output, and stops it', async () => {
    const ctx = toolContext(ws);
    const { sessionId } = await tools.handlers.shell_start!(shellStartArgs.parse({ command: 'sh' }), ctx);
    await tools.handlers.shell_write!({ sessionId, input: 'echo live-$((40+2))\n' }, ctx);
    await waitFor(() => monitor.list()[0]?.output.includes('live-42') ?? false);
    expect(monitor.list()[0]).toMatchObject({ kind: 'session', command: 'sh', cwd: '.' });
    expect(tools.sessionInfo(ws.id, sessionId)).toEqual({ command: 'sh', cwd: '.' });
    await monitor.stop(monitor.list()[0]!.id);
    await waitFor(() => monitor.list()[0]?.endedAt !== undefined);
  });
});
