import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

/** Time a process tree gets to exit after SIGTERM before it is SIGKILLed: enough to flush and clean up. */
export const KILL_GRACE_MS = 2000;

/** How often a dying tree is checked; short, because a run_command result waits on it. */
const KILL_POLL_MS = 25;

/** Longest wait for SIGKILLed processes to disappear (they cannot refuse; only a stuck disk can delay it). */
const KILL_CONFIRM_MS = 5000;

interface ProcessEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  zombie: boolean;
}

/** Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses, so fields count from the last `)`. */
function parseStat(text: string): ProcessEntry | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const fields = text.slice(close + 2).split(' ');
  const [state, ppid, pgrp, session] = fields;
  if (!state || ppid === undefined || pgrp === undefined || session === undefined) return null;
  return {
    pid,
    ppid: Number(ppid),
    pgrp: Number(pgrp),
    session: Number(session),
    zombie: state === 'Z' || state === 'X',
  };
}

async function readLinuxProcesses(): Promise<ProcessEntry[]> {
  const names = await readdir('/proc');
  const entries = await Promise.all(
    names
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        try {
          return parseStat(await readFile(`/proc/${name}/stat`, 'utf8'));
        } catch {
          return null; // exited while we were looking
        }
      }),
  );
  return entries.filter((e): e is ProcessEntry => e !== null);
}

function execText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** macOS and other Unixes without /proc: `ps` lists pid, ppid and process group (no session column there). */
async function readPsProcesses(): Promise<ProcessEntry[]> {
  const text = await execText('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat=']);
  const entries: ProcessEntry[] = [];
  for (const line of text.split('\n')) {
    const [pid, ppid, pgid, stat] = line.trim().split(/\s+/);
    if (!pid || !ppid || !pgid) continue;
    entries.push({
      pid: Number(pid),
      ppid: Number(ppid),
      pgrp: Number(pgid),
      session: -1,
      zombie: (stat ?? '').startsWith('Z'),
    });
  }
  return entries;
}

function readProcesses(): Promise<ProcessEntry[]> {
  return process.platform === 'linux' ? readLinuxProcesses() : readPsProcesses();
}

/**
 * Every live process that belongs to the tree led by `leader` (a pty child, hence a session
 * and process-group leader): members of its session or group, plus every descendant (by
 * parent pid) of those and of `known` pids. The parent chain catches children that escaped
 * with `setsid`, as long as it is collected before their parents die.
 */
export async function collectProcessTree(leader: number, known: Iterable<number> = []): Promise<number[]> {
  const all = await readProcesses();
  const children = new Map<number, number[]>();
  for (const p of all) {
    if (p.zombie) continue;
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const alive = new Set(all.filter((p) => !p.zombie).map((p) => p.pid));
  const seeds = [
    leader,
    ...known,
    ...all.filter((p) => !p.zombie && (p.pgrp === leader || p.session === leader)).map((p) => p.pid),
  ];
  const found = new Set<number>();
  const queue = seeds.filter((pid) => alive.has(pid));
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (found.has(pid)) continue;
    found.add(pid);
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  // Never signal ourselves or init, whatever the table said.
  found.delete(process.pid);
  found.delete(1);
  found.delete(0);
  return [...found];
}

/** True while `pid` runs (a zombie counts as gone: it runs nothing and only waits to be reaped). */
export async function isProcessAlive(pid: number): Promise<boolean> {
  if (process.platform === 'linux') {
    try {
      const entry = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
      return entry !== null && !entry.zombie;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True while any process is left in the process group `leader` led: a cheap check (one
 * syscall, no /proc walk) for background jobs a finished command left behind. Processes that
 * moved to a group of their own are not seen here; timeouts and cancels do the full walk.
 */
export function processGroupAlive(leader: number): boolean {
  if (process.platform === 'win32') return false;
  try {
    process.kill(-leader, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalTree(leader: number, pids: readonly number[], signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal); // the whole process group at once
  } catch {
    // the group is already empty
  }
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function waitAllGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = [...pids];
  for (;;) {
    const states = await Promise.all(alive.map((pid) => isProcessAlive(pid)));
    alive = alive.filter((_, i) => states[i]);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await delay(KILL_POLL_MS);
  }
}

/**
 * Kills the whole tree led by `leader`: SIGTERM to its process group and every collected
 * member, then SIGKILL to whatever (including children forked meanwhile) is left after
 * `graceMs`. On Windows, `taskkill /T /F`. Resolves once the processes are gone.
 */
export async function killProcessTree(leader: number, graceMs: number = KILL_GRACE_MS): Promise<void> {
  if (process.platform === 'win32') {
    await execText('taskkill', ['/pid', String(leader), '/T', '/F']).catch(() => undefined);
    return;
  }
  const first = await collectProcessTree(leader);
  if (first.length === 0) return; // the usual end of a command: nothing left to kill
  signalTree(leader, first, 'SIGTERM');
  const left = graceMs > 0 ? await waitAllGone(first, graceMs) : first;
  // Collect again: a process may have forked (or escaped) while dying.
  const second = await collectProcessTree(leader, left);
  if (second.length === 0 && left.length === 0) return;
  signalTree(leader, second, 'SIGKILL');
  await waitAllGone(second, KILL_CONFIRM_MS);
}
