import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { killProcessTree } from './process-tree.js';

/** The ledger's file in the config dir. */
export const PROCESS_LEDGER_FILE = 'processes.json';

/** One unsandboxed pty this host started: its leader, and when it started (so a reused pid is not mistaken for it). */
interface LedgerEntry {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  startTicks: number;
  bootId: string;
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

/** Start time and session of a process, or null when it is gone. */
async function procInfo(pid: number): Promise<{ startTicks: number; session: number } | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(0) ppid(1) pgrp(2) session(3) … starttime is field 22 overall, index 19 here.
    return { startTicks: Number(fields[19]), session: Number(fields[3]) };
  } catch {
    return null;
  }
}

/**
 * The unsandboxed process trees this host has running, on disk (Linux). An unsandboxed pty
 * is a session leader; when the host crashes, what it started keeps running (a HUP-ignoring
 * server, a `nohup` job). The next host start reads the ledger and kills, for each entry, every
 * process still in that session or process group (a reused pid is told apart by its start
 * time, so a stranger's session is never touched). A `setsid` child left its session and is
 * not found once its parent is gone: the sandbox's pid namespace is what catches those. Sandboxed commands need none of this: their pid namespace dies
 * with the host.
 */
export class ProcessLedger {
  private readonly entries = new Map<number, LedgerEntry>();
  private writing: Promise<void> = Promise.resolve();
  private boot = '';

  private constructor(readonly file: string) {}

  /** Opens the ledger in `dir`, first killing what a previous host left running. Returns the count of processes killed too. */
  static async open(dir: string, killGraceMs = 500): Promise<{ ledger: ProcessLedger; killed: number }> {
    const ledger = new ProcessLedger(path.join(dir, PROCESS_LEDGER_FILE));
    ledger.boot = await bootId();
    let killed = 0;
    if (process.platform === 'linux') {
      const previous = await readFile(ledger.file, 'utf8').then(
        (t) => JSON.parse(t) as LedgerEntry[],
        () => [] as LedgerEntry[],
      );
      for (const entry of Array.isArray(previous) ? previous : []) {
        if (typeof entry?.pid !== 'number' || entry.bootId !== ledger.boot) continue;
        killed += await killLeftovers(entry, killGraceMs);
      }
    }
    await ledger.save();
    return { ledger, killed };
  }

  /** Records a pty leader this host just started. */
  async add(pid: number): Promise<void> {
    if (process.platform !== 'linux') return;
    const info = await procInfo(pid);
    if (!info) return;
    this.entries.set(pid, { pid, startTicks: info.startTicks, bootId: this.boot });
    await this.save();
  }

  /** Forgets a pty whose tree was ended. */
  async remove(pid: number): Promise<void> {
    if (!this.entries.delete(pid)) return;
    await this.save();
  }

  private save(): Promise<void> {
    const snapshot = JSON.stringify([...this.entries.values()]);
    this.writing = this.writing.then(async () => {
      const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.file);
    });
    return this.writing.catch(() => undefined);
  }
}

/**
 * Kills what is left of a recorded tree; returns how many of its processes were alive. A
 * session (and group) id is its leader's pid: while the leader lives with the recorded start
 * time, or while that pid is free, every member is ours. A pid now held by a process that
 * started at another time was reused: that session is someone else's, and is left alone.
 */
async function killLeftovers(entry: LedgerEntry, graceMs: number): Promise<number> {
  const leader = await procInfo(entry.pid);
  if (leader && leader.startTicks !== entry.startTicks) return 0;
  const names = await readdir('/proc').catch(() => [] as string[]);
  let alive = 0;
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const info = await procInfo(Number(name));
    if (info && (info.session === entry.pid || Number(name) === entry.pid)) alive++;
  }
  if (alive > 0) await killProcessTree(entry.pid, graceMs);
  return alive;
}
