import {
  DEFAULT_SHELL_WAIT_MS,
  MAX_SHELL_SESSIONS_PER_WORKSPACE,
  SHELL_SESSION_BUFFER_BYTES,
  SHELL_SESSION_IDLE_MS,
  TetherError,
} from '@tether/shared';
import type { ToolContext, ToolHandlers } from '../tools/tool-context.js';
import { KILL_GRACE_MS } from './process-tree.js';
import { PtyLauncher, resolveCwd, type Confinement, type PtyLauncherOptions } from './pty-launcher.js';
import { runCommand, type RunningCommand } from './run-command.js';
import type { ProcessMonitor } from './process-monitor.js';
import { EXITED_SESSION_LINGER_MS, ShellSession } from './shell-session.js';

/** Settings of the shell tools; every default is the named limit in @tether/shared or this folder. */
export interface ShellToolsOptions extends PtyLauncherOptions {
  /** Reap a session after this long without a read or write; default SHELL_SESSION_IDLE_MS. */
  idleMs?: number;
  /** Unread output kept per session; default SHELL_SESSION_BUFFER_BYTES. */
  sessionBufferBytes?: number;
  /** Sessions per workspace; default MAX_SHELL_SESSIONS_PER_WORKSPACE. */
  maxSessionsPerWorkspace?: number;
  /** SIGTERM-to-SIGKILL grace when killing a tree; default KILL_GRACE_MS. */
  killGraceMs?: number;
  /** How long an exited session stays after its final output was read; default EXITED_SESSION_LINGER_MS. */
  exitedLingerMs?: number;
  /** Where running commands and sessions are shown to the person (with a Stop that asks nothing). */
  monitor?: ProcessMonitor;
}

/** The shell tools of the host and the handles their owner needs. */
export interface ShellTools {
  handlers: ToolHandlers;
  /** Kills every session and command of a workspace (it was removed or paused). */
  killWorkspaceSessions(workspaceId: string): Promise<void>;
  /** How a workspace's commands are confined (for the workspace card and the confirmation). */
  confinement(workspaceId: string, root: string): Promise<Confinement>;
  /** The command and workspace-relative cwd of a live session, for the question before typing into it. */
  sessionInfo(workspaceId: string, sessionId: string): { command: string; cwd: string } | undefined;
  /** Kills every process tree, clears every timer; later calls fail `unavailable`. */
  dispose(): Promise<void>;
}

/**
 * Creates run_command and the shell_* session tools. Sessions are kept per workspace, and a
 * session id from another workspace is `session_not_found` there.
 *
 * Decisions a reader should know (details next to the code):
 * - Commands run through the person's shell in a pty (xterm-256color, 120 columns), in a cwd
 *   the path guard accepted, with an allow-listed environment (command-env.ts); a caller's
 *   `env` may not set PATH, loader or start-up hook variables (`invalid_args`).
 * - run_command leaves nothing running: timeout and cancel kill the whole tree (group,
 *   session and parent-chain descendants, SIGTERM then SIGKILL); after a normal exit,
 *   background jobs still in the command's process group are killed too.
 * - Commands and sessions run in the OS sandbox by default (sandbox.ts, seatbelt.ts): writes
 *   only in the workspace, the secret places hidden (sandbox-rules.ts), network only through
 *   the host's filtering proxy (net-proxy.ts), own pid namespace. Where the OS has none, or
 *   the person switched it off, they run unconfined, and `confinement()` says so.
 */
export function createShellTools(options: ShellToolsOptions = {}): ShellTools {
  const launcher = new PtyLauncher(options);
  const killGraceMs = options.killGraceMs ?? KILL_GRACE_MS;
  const maxSessions = options.maxSessionsPerWorkspace ?? MAX_SHELL_SESSIONS_PER_WORKSPACE;
  const sessions = new Map<string, Map<string, ShellSession>>();
  const runs = new Set<RunningCommand>();
  /** Sessions being spawned per workspace: they hold a slot, so concurrent starts cannot pass the cap together. */
  const starting = new Map<string, number>();
  const pending = new Set<Promise<unknown>>();
  let disposed = false;

  /** Keeps a kill in flight visible to dispose(), so it can wait for it. */
  const track = <T>(work: Promise<T>): Promise<T> => {
    pending.add(work);
    void work.finally(() => pending.delete(work)).catch(() => undefined);
    return work;
  };

  const checkOpen = (): void => {
    if (disposed) throw new TetherError('unavailable', 'The host is shutting down.');
  };

  const workspaceSessions = (workspaceId: string): Map<string, ShellSession> => {
    let map = sessions.get(workspaceId);
    if (!map) {
      map = new Map();
      sessions.set(workspaceId, map);
    }
    return map;
  };

  const findSession = (ctx: ToolContext, sessionId: string): ShellSession => {
    const session = sessions.get(ctx.workspace.id)?.get(sessionId);
    if (!session) throw new TetherError('session_not_found', undefined, { sessionId });
    return session;
  };

  const forget = (session: ShellSession): void => {
    const map = sessions.get(session.workspaceId);
    map?.delete(session.id);
    if (map?.size === 0) sessions.delete(session.workspaceId);
  };

  const handlers: ToolHandlers = {
    run_command: async (args, ctx) => {
      checkOpen();
      const monitor = options.monitor;
      let shownId: string | undefined;
      // The person sees the same output the caller is sent.
      const seen: ToolContext = monitor
        ? {
            ...ctx,
            onOutput: (chunk) => {
              if (shownId) monitor.output(shownId, chunk);
              return ctx.onOutput(chunk);
            },
          }
        : ctx;
      try {
        const result = await runCommand(launcher, args, seen, {
          killGraceMs,
          started: (run) => {
            runs.add(run);
            shownId = monitor?.started(
              { workspaceId: ctx.workspace.id, kind: 'command', command: args.command, cwd: args.cwd ?? '.' },
              () => run.stop(new TetherError('cancelled', 'The person stopped the command.')),
            );
            // dispose() ran while this command was being spawned: it missed it, so stop it here.
            if (disposed) void run.stop(new TetherError('unavailable', 'The host shut down while the command ran.'));
          },
          finished: (run) => runs.delete(run),
        });
        if (shownId) monitor?.ended(shownId, result.exitCode);
        return result;
      } catch (err) {
        if (shownId) monitor?.ended(shownId, null);
        throw err;
      }
    },

    shell_start: async (args, ctx) => {
      checkOpen();
      const workspaceId = ctx.workspace.id;
      const running = [...(sessions.get(workspaceId)?.values() ?? [])].filter((s) => !s.hasExited).length;
      const pendingStarts = starting.get(workspaceId) ?? 0;
      if (running + pendingStarts >= maxSessions) {
        throw new TetherError(
          'busy',
          `At most ${maxSessions} shell sessions may run in one workspace; kill one first.`,
        );
      }
      starting.set(workspaceId, pendingStarts + 1);
      let cwd: { abs: string; rel: string };
      let pty: Awaited<ReturnType<PtyLauncher['launch']>>;
      try {
        cwd = await resolveCwd(ctx, args.cwd);
        pty = await launcher.launch({
          workspaceId,
          root: ctx.workspace.root,
          cwd: cwd.abs,
          command: args.command,
          env: args.env,
          cols: args.cols,
          rows: args.rows,
        });
      } finally {
        const left = (starting.get(workspaceId) ?? 1) - 1;
        if (left > 0) starting.set(workspaceId, left);
        else starting.delete(workspaceId);
      }
      const monitor = options.monitor;
      // Known once the session exists; output before that (microseconds) is not shown.
      const shown: { id?: string | undefined } = {};
      const session: ShellSession = new ShellSession(pty, {
        onOutput: (text) => shown.id && monitor?.output(shown.id, text),
        onExit: (code) => shown.id && monitor?.ended(shown.id, code),
        workspaceId: ctx.workspace.id,
        command: args.command ?? launcher.shell,
        cwd: cwd.rel,
        idleMs: options.idleMs ?? SHELL_SESSION_IDLE_MS,
        bufferBytes: options.sessionBufferBytes ?? SHELL_SESSION_BUFFER_BYTES,
        killGraceMs,
        exitedLingerMs: options.exitedLingerMs ?? EXITED_SESSION_LINGER_MS,
        onRemove: (s) => {
          forget(s);
          void track(s.dispose());
        },
      });
      workspaceSessions(ctx.workspace.id).set(session.id, session);
      shown.id = monitor?.started(
        { workspaceId, kind: 'session', command: args.command ?? launcher.shell, cwd: cwd.rel },
        () => track(session.kill()).then(() => undefined),
      );
      if (disposed) {
        await session.dispose(); // dispose() ran while we were spawning
        checkOpen();
      }
      return session.info();
    },

    shell_write: async (args, ctx) => {
      checkOpen();
      return findSession(ctx, args.sessionId).write(args.input, args.waitMs ?? DEFAULT_SHELL_WAIT_MS, ctx.signal);
    },

    shell_read: async (args, ctx) => {
      checkOpen();
      return findSession(ctx, args.sessionId).read(args.waitMs ?? DEFAULT_SHELL_WAIT_MS, ctx.signal);
    },

    shell_kill: async (args, ctx) => {
      checkOpen();
      const session = findSession(ctx, args.sessionId);
      const killed = await track(session.kill());
      return { sessionId: session.id, killed };
    },

    shell_list: async (_args, ctx) => {
      checkOpen();
      return { sessions: [...(sessions.get(ctx.workspace.id)?.values() ?? [])].map((s) => s.info()) };
    },
  };

  const killWorkspaceSessions = async (workspaceId: string): Promise<void> => {
    const work: Promise<unknown>[] = [...(sessions.get(workspaceId)?.values() ?? [])].map((s) => s.dispose());
    for (const run of runs) {
      if (run.workspaceId === workspaceId) {
        work.push(run.stop(new TetherError('cancelled', 'The workspace was closed while the command ran.')));
      }
    }
    await track(Promise.allSettled(work));
    await launcher.releaseWorkspace(workspaceId);
  };

  return {
    handlers,
    killWorkspaceSessions,
    confinement: (workspaceId, root) => launcher.confinement(workspaceId, root),
    sessionInfo: (workspaceId, sessionId) => {
      const session = sessions.get(workspaceId)?.get(sessionId);
      if (!session) return undefined;
      const { command, cwd } = session.info();
      return { command, cwd };
    },
    dispose: async () => {
      disposed = true;
      const work: Promise<unknown>[] = [...sessions.values()].flatMap((map) =>
        [...map.values()].map((s) => s.dispose()),
      );
      for (const run of runs)
        work.push(run.stop(new TetherError('unavailable', 'The host shut down while the command ran.')));
      await Promise.allSettled(work);
      await Promise.allSettled([...pending]);
      await launcher.dispose();
    },
  };
}
