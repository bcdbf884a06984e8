import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MAX_FINISHED_PROCESSES, PROCESS_OUTPUT_TAIL_CHARS, type ProcessView } from '@tether/shared';

interface Entry {
  view: ProcessView;
  stop: () => Promise<void>;
}

/** Events of the monitor (the DesktopApi's `process:*` events). */
export interface ProcessMonitorEvents {
  started: [ProcessView];
  output: [{ id: string; chunk: string }];
  ended: [ProcessView];
}

/**
 * What agents have running, for the person's eyes: every run_command and shell session with
 * the tail of its output, how long it runs, and a way to stop it. Finished ones stay listed
 * (with their exit code) until MAX_FINISHED_PROCESSES newer ones have ended.
 */
export class ProcessMonitor extends EventEmitter<ProcessMonitorEvents> {
  private readonly entries = new Map<string, Entry>();

  /** Records a process that started; returns its id. `stop` kills its whole tree. */
  started(info: Pick<ProcessView, 'workspaceId' | 'kind' | 'command' | 'cwd'>, stop: () => Promise<void>): string {
    const id = `prc_${randomBytes(9).toString('base64url')}`;
    const view: ProcessView = { ...info, id, startedAt: Date.now(), exitCode: null, output: '', stopped: false };
    this.entries.set(id, { view, stop });
    this.emit('started', { ...view });
    return id;
  }

  /** Output of a running process (bounded: the UI keeps the tail). */
  output(id: string, chunk: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.view.endedAt !== undefined || chunk === '') return;
    const text = chunk.length > PROCESS_OUTPUT_TAIL_CHARS ? chunk.slice(-PROCESS_OUTPUT_TAIL_CHARS) : chunk;
    entry.view.output = (entry.view.output + text).slice(-PROCESS_OUTPUT_TAIL_CHARS);
    this.emit('output', { id, chunk: text });
  }

  /** The process ended (exit code null: by a signal). */
  ended(id: string, exitCode: number | null): void {
    const entry = this.entries.get(id);
    if (!entry || entry.view.endedAt !== undefined) return;
    entry.view.endedAt = Date.now();
    entry.view.exitCode = exitCode;
    this.emit('ended', { ...entry.view });
    this.prune();
  }

  /** Stops a running process (the person pressed Stop): false when it is unknown or already ended. */
  async stop(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry || entry.view.endedAt !== undefined) return false;
    entry.view.stopped = true;
    await entry.stop();
    return true;
  }

  /** Running processes and the recently ended ones, oldest first. */
  list(): ProcessView[] {
    return [...this.entries.values()].map((e) => ({ ...e.view }));
  }

  /** Forgets everything (the processes themselves are the shell tools' to end). */
  dispose(): void {
    this.entries.clear();
    this.removeAllListeners();
  }

  private prune(): void {
    const finished = [...this.entries.values()].filter((e) => e.view.endedAt !== undefined);
    for (const e of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_PROCESSES)))
      this.entries.delete(e.view.id);
  }
}
