import { realpath, stat } from 'node:fs/promises';
import { TetherError, type Allowance, type AllowanceScope, type AppEvent, type WorkspaceState } from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import { PathGuard } from '../fs/path-guard.js';
import type { PolicySubject } from '../policy/policy-engine.js';
import type { ToolContext, ToolHandlers } from '../tools/tool-context.js';
import { FileWatcher } from '../watch/file-watcher.js';

/** How often each workspace checks its own health by default: a vanished folder shows within seconds. */
export const HEALTH_INTERVAL_MS = 5_000;

/** Longest a self-check may take before the workspace counts as unhealthy (a hung network mount). */
export const HEALTH_CHECK_TIMEOUT_MS = 15_000;

/** Longest health reason kept (the announcement schema allows 1000 characters). */
const MAX_REASON_CHARS = 900;

/** What a runtime reports to its owner. */
export interface WorkspaceRuntimeHooks {
  /** State, reason or config (with its allowances) changed. */
  changed(runtime: WorkspaceRuntime): void;
  /** Records a standing allowance of this workspace in the config. */
  addAllowance(scope: AllowanceScope, expiresAt: number | null): Promise<Allowance>;
  /** The health state changed (an AppEvent of kind `health`). */
  health(event: Extract<AppEvent, { kind: 'health' }>): void;
  /** A batch of file changes (an AppEvent of kind `files`). */
  files(event: Extract<AppEvent, { kind: 'files' }>): void;
}

/** Options of a runtime. */
export interface WorkspaceRuntimeOptions {
  healthIntervalMs: number;
  fileEvents: boolean;
  /** The tool handlers the self-check runs `stat` and `list_dir` through (the real tool path). */
  handlers: ToolHandlers;
}

/**
 * One workspace while the app runs: its config, its path guard, its health and its file
 * watcher. A root that disappears, becomes unreadable or is swapped for a link to elsewhere
 * puts this workspace (only this one) in `error` with the reason; it recovers by itself when
 * the same folder is back.
 */
export class WorkspaceRuntime implements PolicySubject {
  config: WorkspaceConfig;
  /** The path guard of the root; null while the workspace is in error. */
  guard: PathGuard | null = null;
  state: WorkspaceState = 'running';
  reason: string | undefined;
  /**
   * The root's real path: the config stores the real path when the folder is added, so a root
   * that later resolves elsewhere (swapped for a symbolic link) is refused, not followed.
   */
  readonly pinnedRoot: string;
  private healthError: string | null = null;
  private watcher: FileWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  /** The run queued behind `checking` for calls made while it ran. */
  private checkAgain: Promise<void> | null = null;
  private disposed = false;

  constructor(
    config: WorkspaceConfig,
    private readonly hooks: WorkspaceRuntimeHooks,
    private readonly options: WorkspaceRuntimeOptions,
  ) {
    this.config = config;
    this.pinnedRoot = config.root;
    this.state = config.paused ? 'paused' : 'running';
  }

  /** Runs the first health check (opening the guard and watcher) and starts the periodic one. */
  async start(): Promise<void> {
    await this.checkHealth();
    this.schedule();
  }

  /** Resolves when the file watcher finished its initial scan (at once without one). */
  async whenWatching(): Promise<void> {
    await this.watcher?.ready;
  }

  /** Records a standing allowance (through the set, which persists it and applies the new config). */
  addAllowance(scope: AllowanceScope, expiresAt: number | null): Promise<Allowance> {
    return this.hooks.addAllowance(scope, expiresAt);
  }

  /** Applies a changed config (name, policy, pause, watch globs…). */
  applyConfig(next: WorkspaceConfig): void {
    const prev = this.config;
    this.config = next;
    if (JSON.stringify(prev.watchIgnore) !== JSON.stringify(next.watchIgnore) && this.watcher) {
      void this.restartWatcher();
    }
    this.refreshState();
    this.hooks.changed(this);
  }

  /**
   * Checks the root: it must still resolve to the pinned real path, be a readable directory,
   * and answer `stat` and `list_dir` through the real tool handlers. Calls made while a check
   * runs share one more run after it: the running one may have looked before whatever made the
   * caller ask (a folder removed meanwhile was reported running).
   */
  checkHealth(): Promise<void> {
    if (this.checking) {
      this.checkAgain ??= this.checking
        .catch(() => undefined)
        .then(() => {
          this.checkAgain = null;
          return this.checkHealth();
        });
      return this.checkAgain;
    }
    this.checking = this.runCheck().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  /** Stops the watcher and the health timer. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.guard = null; // a removed workspace runs nothing more, even for a call already past its checks
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.checking?.catch(() => undefined);
    await this.watcher?.dispose();
    this.watcher = null;
  }

  private schedule(): void {
    if (this.disposed) return;
    this.timer = setTimeout(() => {
      void this.checkHealth().finally(() => this.schedule());
    }, this.options.healthIntervalMs);
    this.timer.unref();
  }

  private async runCheck(): Promise<void> {
    const problem = await this.probe();
    if (this.disposed) return;
    if (problem !== null) {
      this.guard = null;
      await this.watcher?.dispose();
      this.watcher = null;
      this.setHealth(problem);
      return;
    }
    if (this.options.fileEvents && !this.watcher) this.startWatcher(this.pinnedRoot);
    this.setHealth(null);
  }

  /** Null when healthy, else the reason in words. */
  private async probe(): Promise<string | null> {
    const root = this.config.root;
    let real: string;
    try {
      real = await realpath(root);
      if (!(await stat(real)).isDirectory()) return 'The workspace folder is no longer a directory.';
    } catch (err) {
      return describeFsError(err);
    }
    if (real !== this.pinnedRoot) {
      // Never name where it leads now: that place is outside the workspace, and this reason goes to the relay.
      return 'The workspace folder now leads to another folder (it was replaced or re-linked); refusing to follow it.';
    }
    try {
      // A fresh guard after a failure: the folder may be a new directory at the same path.
      const guard = this.guard ?? (await PathGuard.open(real));
      await this.selfCheck(guard, real);
      this.guard = guard;
      return null;
    } catch (err) {
      // A folder being deleted fails the self-check half-way: say what it has become, not which step failed.
      const gone = await stat(root).then(
        () => null,
        (statErr: unknown) => describeFsError(statErr),
      );
      if (gone !== null) return gone;
      if (err instanceof TetherError) {
        // The guard pins the folder's identity: a different folder now at the same path. No path in the
        // reason: it goes to the relay.
        if (err.details?.reason === 'root_replaced') return 'The workspace folder was replaced by another folder.';
        return `The self-check failed: ${err.message}`;
      }
      return describeFsError(err);
    }
  }

  /** `stat .` and `list_dir .` through the same handlers tool calls use. */
  private async selfCheck(guard: PathGuard, root: string): Promise<void> {
    const { stat: statTool, list_dir: listTool } = this.options.handlers;
    const signal = AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS);
    const ctx: ToolContext = {
      workspace: { id: this.config.id, name: this.config.name, root },
      guard,
      signal,
      callId: `health-${this.config.id}`,
      onOutput: () => true,
      whenDrained: () => Promise.resolve(),
    };
    if (statTool) {
      const info = await statTool({ path: '.' }, ctx);
      if (info.type !== 'dir') throw new TetherError('not_a_directory', 'The workspace folder is not a directory.');
    }
    if (listTool) await listTool({ path: '.', depth: 1, includeHidden: false, respectGitignore: false }, ctx);
  }

  private setHealth(problem: string | null): void {
    const reason = problem === null ? null : problem.slice(0, MAX_REASON_CHARS);
    if (reason === this.healthError) return;
    this.healthError = reason;
    this.refreshState();
    this.hooks.changed(this);
  }

  private refreshState(): void {
    const state: WorkspaceState = this.healthError !== null ? 'error' : this.config.paused ? 'paused' : 'running';
    const reason = this.healthError ?? undefined;
    if (state === this.state && reason === this.reason) return;
    this.state = state;
    this.reason = reason;
    const event: Extract<AppEvent, { kind: 'health' }> = { kind: 'health', workspaceId: this.config.id, state };
    if (reason !== undefined) event.reason = reason;
    this.hooks.health(event);
  }

  private startWatcher(root: string): void {
    this.watcher = new FileWatcher({
      root,
      workspaceId: this.config.id,
      ignore: this.config.watchIgnore,
      onBatch: (event) => this.hooks.files(event),
      // The watcher noticing trouble (the root gone, a permission change) triggers a check now.
      onTrouble: () => void this.checkHealth(),
    });
  }

  private async restartWatcher(): Promise<void> {
    await this.watcher?.dispose();
    this.watcher = null;
    if (!this.disposed && this.healthError === null && this.options.fileEvents) this.startWatcher(this.pinnedRoot);
  }
}

/**
 * The reason in words, without the folder's path: it is sent to the relay in health events and
 * announcements, and the platform must never learn where a runtime is (the UI shows the path).
 */
function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'The workspace folder no longer exists.';
  if (code === 'EACCES' || code === 'EPERM') return 'The workspace folder cannot be read (permission denied).';
  if (code === 'ENOTDIR') return 'The workspace folder is no longer a directory.';
  if (code === 'ELOOP') return 'The workspace folder is a symbolic link loop.';
  return `The workspace folder cannot be used (${code ?? 'unexpected error'}).`;
}
