import { EventEmitter } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename } from 'node:path';
import {
  DEFAULT_POLICY,
  MAX_NAME_CHARS,
  MAX_WORKSPACES_PER_DEVICE,
  TOOL_NAMES,
  CATEGORIES,
  MAX_ALLOWANCES_PER_WORKSPACE,
  TetherError,
  categoryOfScope,
  sameScope,
  type Allowance,
  type AllowanceScope,
  type AppEvent,
  type SandboxView,
  type Policy,
  type ToolName,
  type WorkspaceAnnouncement,
  type WorkspaceView,
} from '@tether/shared';
import { newId, type ConfigStore, type WorkspaceConfig } from '../config/config-store.js';
import { createFsTools } from '../fs/fs-tools.js';
import type { ToolHandlers } from '../tools/tool-context.js';
import { absoluteRootOf, checkRootIsSafe, overlapWarning, overlapsOf, type RootGuardContext } from './root-guard.js';
import { HEALTH_INTERVAL_MS, WorkspaceRuntime } from './workspace-runtime.js';

/** Options of `WorkspaceSet.open`. */
export interface WorkspaceSetOptions {
  /** Interval of each workspace's self-check (default HEALTH_INTERVAL_MS). */
  healthIntervalMs?: number;
  /** Watch files and emit 'files' events (default true). */
  fileEvents?: boolean;
  /** Handlers the self-check runs `stat`/`list_dir` through (default: the real fs tools). */
  handlers?: ToolHandlers;
  /** How a workspace's commands are confined, for its view (default: not shown). */
  sandboxView?: (config: WorkspaceConfig) => SandboxView | undefined;
  /** What roots are checked against (default: this machine's home folder and platform, no protected paths). */
  rootGuard?: Partial<RootGuardContext>;
  /** Lets every add skip the root check (`--allow-any-folder`: the person chose it at start). */
  allowAnyFolder?: boolean;
}

/** What a workspace may be added with. */
export interface WorkspaceAddInput {
  /** An absolute path or one starting with `~`; relative paths are refused. */
  root: string;
  /** Adds the whole disk, the home folder or a system folder anyway (the person asked for it explicitly). */
  allowAnyFolder?: boolean | undefined;
  name?: string | undefined;
  description?: string | undefined;
  policy?: Policy | undefined;
}

/** What may change on a workspace. The root may not: a different folder is a different workspace. */
export interface WorkspacePatch {
  name?: string | undefined;
  description?: string | undefined;
  policy?: Policy | undefined;
  disabledTools?: ToolName[] | undefined;
  paused?: boolean | undefined;
  watchIgnore?: string[] | undefined;
  sandbox?: 'os' | 'off' | undefined;
  network?: 'internet' | 'none' | 'domains' | undefined;
  allowDomains?: string[] | undefined;
  hidePaths?: string[] | undefined;
}

/** Events of the set. */
export interface WorkspaceSetEvents {
  /** Any add, update, remove or state change. */
  changed: [];
  files: [Extract<AppEvent, { kind: 'files' }>];
  health: [Extract<AppEvent, { kind: 'health' }>];
  /** A workspace was removed (its sessions and pending work should end). */
  removed: [string];
}

/**
 * The person's workspaces while the app runs, kept in step with the config file: add, edit
 * and remove go through here (and are persisted); each workspace has its own runtime with
 * health checks and a file watcher.
 */
export class WorkspaceSet extends EventEmitter<WorkspaceSetEvents> {
  private readonly runtimes = new Map<string, WorkspaceRuntime>();
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly runtimeOptions: { healthIntervalMs: number; fileEvents: boolean; handlers: ToolHandlers };
  private readonly sandboxView: WorkspaceSetOptions['sandboxView'];
  private readonly rootGuard: RootGuardContext;
  private readonly allowAnyFolder: boolean;

  private constructor(
    private readonly config: ConfigStore,
    options: WorkspaceSetOptions,
    handlers: ToolHandlers,
  ) {
    super();
    this.runtimeOptions = {
      healthIntervalMs: options.healthIntervalMs ?? HEALTH_INTERVAL_MS,
      fileEvents: options.fileEvents ?? true,
      handlers,
    };
    this.sandboxView = options.sandboxView;
    this.rootGuard = {
      home: options.rootGuard?.home ?? homedir(),
      platform: options.rootGuard?.platform ?? process.platform,
      protectedPaths: options.rootGuard?.protectedPaths ?? [],
    };
    this.allowAnyFolder = options.allowAnyFolder === true;
  }

  /** Builds the runtimes of every configured workspace and runs their first health check. */
  static async open(config: ConfigStore, options: WorkspaceSetOptions = {}): Promise<WorkspaceSet> {
    const set = new WorkspaceSet(config, options, options.handlers ?? createFsTools());
    const started = config.get().workspaces.map((w) => set.startRuntime(w));
    await Promise.all(started);
    return set;
  }

  /** Every workspace, in config order. */
  list(): WorkspaceRuntime[] {
    return [...this.runtimes.values()];
  }

  /** One workspace by id. */
  get(id: string): WorkspaceRuntime | undefined {
    return this.runtimes.get(id);
  }

  /**
   * Adds a folder. Rejects with `invalid_args` (a relative path), `not_found` (no such path),
   * `not_a_directory`, `unsafe_workspace_root` (the whole disk, the home folder, a system
   * folder or Tether's own config, unless `allowAnyFolder`), `already_exists` (the same real
   * folder is already a workspace) or `conflict` (too many).
   */
  add(input: WorkspaceAddInput): Promise<WorkspaceRuntime> {
    return this.serialized(async () => {
      const absolute = absoluteRootOf(input.root, this.rootGuard);
      // The typed path and the real one: a link to `/` is the whole disk too.
      const checked = !(input.allowAnyFolder ?? this.allowAnyFolder);
      if (checked) checkRootIsSafe(absolute, this.rootGuard);
      const root = await realRootOf(absolute);
      if (checked) checkRootIsSafe(root, this.rootGuard);
      const existing = this.list().find((r) => r.config.root === root);
      if (existing)
        throw new TetherError('already_exists', `${root} is already the workspace "${existing.config.name}".`, {
          workspaceId: existing.config.id,
        });
      if (this.runtimes.size >= MAX_WORKSPACES_PER_DEVICE)
        throw new TetherError('conflict', `At most ${MAX_WORKSPACES_PER_DEVICE} workspaces per device.`);
      const workspace: WorkspaceConfig = {
        id: newId('ws'),
        name: (input.name ?? (basename(root) || root)).slice(0, MAX_NAME_CHARS),
        description: input.description ?? '',
        root,
        policy: { ...(input.policy ?? DEFAULT_POLICY) },
        disabledTools: [],
        paused: false,
        watchIgnore: [],
        sandbox: 'os',
        network: 'internet',
        allowDomains: [],
        hidePaths: [],
        allowances: [],
      };
      await this.config.update((draft) => {
        draft.workspaces.push(workspace);
      });
      const runtime = await this.startRuntime(workspace);
      this.emit('changed');
      return runtime;
    });
  }

  /** Changes a workspace's settings (persisted). Rejects with `not_found` for an unknown id. */
  update(id: string, patch: WorkspacePatch): Promise<WorkspaceRuntime> {
    return this.serialized(async () => {
      const runtime = this.runtimes.get(id);
      if (!runtime) throw new TetherError('not_found', `There is no workspace ${id}.`);
      const next = await this.config.update((draft) => {
        const w = draft.workspaces.find((x) => x.id === id);
        if (!w) return;
        if (patch.name !== undefined) w.name = patch.name;
        if (patch.description !== undefined) w.description = patch.description;
        if (patch.policy !== undefined) {
          // A person who just changed how a category is treated means it now: its allowances end.
          const changed = CATEGORIES.filter((c) => w.policy[c] !== patch.policy![c]);
          w.allowances = w.allowances.filter((a) => !changed.includes(categoryOfScope(a.scope)));
          w.policy = { ...patch.policy };
        }
        // Pausing ends the timed allowances; the ones kept until revoked stay.
        if (patch.paused === true && !w.paused) w.allowances = w.allowances.filter((a) => a.expiresAt === null);
        if (patch.disabledTools !== undefined) w.disabledTools = [...new Set(patch.disabledTools)];
        if (patch.paused !== undefined) w.paused = patch.paused;
        if (patch.watchIgnore !== undefined) w.watchIgnore = [...patch.watchIgnore];
        if (patch.sandbox !== undefined) w.sandbox = patch.sandbox;
        if (patch.network !== undefined) w.network = patch.network;
        if (patch.allowDomains !== undefined) w.allowDomains = [...new Set(patch.allowDomains)];
        if (patch.hidePaths !== undefined) w.hidePaths = [...new Set(patch.hidePaths)];
      });
      const updated = next.workspaces.find((x) => x.id === id);
      if (updated) runtime.applyConfig(updated);
      return runtime;
    });
  }

  /**
   * Records a standing allowance of a workspace (persisted; expired ones are pruned then). A
   * live allowance with the same scope is replaced, so the list never holds two of one rule.
   * Rejects with `conflict` past MAX_ALLOWANCES_PER_WORKSPACE.
   */
  addAllowance(id: string, scope: AllowanceScope, expiresAt: number | null): Promise<Allowance> {
    return this.serialized(async () => {
      const runtime = this.runtimes.get(id);
      if (!runtime) throw new TetherError('not_found', `There is no workspace ${id}.`);
      const now = Date.now();
      const allowance: Allowance = { id: newId('alw'), scope, createdAt: now, expiresAt };
      const next = await this.config.update((draft) => {
        const w = draft.workspaces.find((x) => x.id === id);
        if (!w) return;
        const kept = w.allowances.filter(
          (a) => (a.expiresAt === null || a.expiresAt > now) && !sameScope(a.scope, scope),
        );
        if (kept.length >= MAX_ALLOWANCES_PER_WORKSPACE)
          throw new TetherError('conflict', `At most ${MAX_ALLOWANCES_PER_WORKSPACE} allowances per workspace.`);
        w.allowances = [...kept, allowance];
      });
      const updated = next.workspaces.find((x) => x.id === id);
      if (updated) runtime.applyConfig(updated);
      return allowance;
    });
  }

  /** Ends one allowance (`allowanceId`) or all of a workspace's (undefined); resolves with how many ended. */
  revokeAllowances(id: string, allowanceId?: string): Promise<number> {
    return this.serialized(async () => {
      const runtime = this.runtimes.get(id);
      if (!runtime) throw new TetherError('not_found', `There is no workspace ${id}.`);
      let revoked = 0;
      const next = await this.config.update((draft) => {
        const w = draft.workspaces.find((x) => x.id === id);
        if (!w) return;
        const kept = w.allowances.filter((a) => allowanceId !== undefined && a.id !== allowanceId);
        revoked = w.allowances.length - kept.length;
        w.allowances = kept;
      });
      const updated = next.workspaces.find((x) => x.id === id);
      if (updated) runtime.applyConfig(updated);
      return revoked;
    });
  }

  /** Removes a workspace (persisted); false when there was none with that id. */
  remove(id: string): Promise<boolean> {
    return this.serialized(async () => {
      const runtime = this.runtimes.get(id);
      if (!runtime) return false;
      await this.config.update((draft) => {
        draft.workspaces = draft.workspaces.filter((w) => w.id !== id);
      });
      this.runtimes.delete(id);
      await runtime.dispose();
      this.emit('removed', id);
      this.emit('changed');
      return true;
    });
  }

  /**
   * Warnings about a workspace's folder for the person: that it is one no workspace should be
   * (added with `allowAnyFolder`, or before these checks existed), and one per other workspace
   * it is inside of or holds (the same files reachable under two sets of rules).
   */
  warningsOf(id: string): string[] {
    const runtime = this.runtimes.get(id);
    if (!runtime) return [];
    const warnings: string[] = [];
    try {
      checkRootIsSafe(runtime.config.root, this.rootGuard);
    } catch (err) {
      if (!(err instanceof TetherError)) throw err;
      warnings.push(err.message.replace(/ \(To add it anyway.*$/, ''));
    }
    const others = this.list()
      .filter((r) => r !== runtime)
      .map((r) => ({ id: r.config.id, name: r.config.name, root: r.config.root }));
    return [...warnings, ...overlapsOf(runtime.config.root, others, this.rootGuard.platform).map(overlapWarning)];
  }

  /** The workspaces as announced to the relay: never their root paths. */
  announcements(): WorkspaceAnnouncement[] {
    return this.list().map((r) => {
      const a: WorkspaceAnnouncement = {
        workspaceId: r.config.id,
        name: r.config.name,
        description: r.config.description,
        state: r.state,
        capabilities: {
          policy: { ...r.config.policy },
          tools: TOOL_NAMES.filter((t) => !r.config.disabledTools.includes(t)),
        },
      };
      if (r.reason !== undefined) a.reason = r.reason;
      return a;
    });
  }

  /** The workspaces as the UI shows them (without `runtimeId`, which the relay connection knows). */
  views(now: number = Date.now()): WorkspaceView[] {
    return this.list().map((r) => {
      const v: WorkspaceView = {
        id: r.config.id,
        name: r.config.name,
        description: r.config.description,
        root: r.config.root,
        policy: { ...r.config.policy },
        disabledTools: [...r.config.disabledTools],
        paused: r.config.paused,
        state: r.state,
        allowances: [],
      };
      if (r.reason !== undefined) v.reason = r.reason;
      const sandbox = this.sandboxView?.(r.config);
      if (sandbox) v.sandbox = sandbox;
      return { ...v, allowances: r.config.allowances.filter((a) => a.expiresAt === null || a.expiresAt > now) };
    });
  }

  /** Stops every watcher and health check. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue.catch(() => undefined);
    const all = this.list();
    this.runtimes.clear();
    await Promise.all(all.map((r) => r.dispose()));
    this.removeAllListeners();
  }

  private async startRuntime(config: WorkspaceConfig): Promise<WorkspaceRuntime> {
    const runtime = new WorkspaceRuntime(
      config,
      {
        addAllowance: (scope, expiresAt) => this.addAllowance(config.id, scope, expiresAt),
        changed: () => {
          if (!this.disposed && this.runtimes.get(config.id) === runtime) this.emit('changed');
        },
        health: (event) => {
          if (!this.disposed && this.runtimes.get(config.id) === runtime) this.emit('health', event);
        },
        files: (event) => {
          if (!this.disposed && this.runtimes.get(config.id) === runtime) this.emit('files', event);
        },
      },
      this.runtimeOptions,
    );
    this.runtimes.set(config.id, runtime);
    await runtime.start();
    return runtime;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new TetherError('unavailable', 'The workspace set is closed.'));
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** Resolves an absolute folder path to its real path, or refuses with a coded error. */
async function realRootOf(absolute: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TetherError('not_found', `There is no folder ${absolute}.`);
    if (code === 'ENOTDIR') throw new TetherError('not_a_directory', `${absolute} is not a folder.`);
    throw new TetherError('not_found', `${absolute} cannot be opened (${code ?? 'unknown error'}).`);
  }
  if (!(await stat(real)).isDirectory()) throw new TetherError('not_a_directory', `${absolute} is not a folder.`);
  return real;
}
