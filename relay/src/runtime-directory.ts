import type { Device, RuntimeState, RuntimeView, WorkspaceAnnouncement, WorkspaceState } from '@tether/shared';
import type { Bus } from './bus/bus.js';
import { RUNTIME_CACHE_MAX_ENTRIES, RUNTIME_CACHE_TTL_MS } from './relay-limits.js';
import type { RuntimeRecord, Store } from './store/store.js';
import { stableId } from './tokens.js';

/** Reason recorded when a desktop stops announcing a workspace. */
const REMOVED_REASON = 'the workspace was removed from the desktop app';
/** Reason recorded when the platform archives a runtime. */
const PLATFORM_ARCHIVED_REASON = 'archived by the platform';

/** The runtime id of a workspace: a hash of org, device and workspace, so it survives reconnects and relay restarts. */
export function runtimeIdOf(orgId: string, deviceId: string, workspaceId: string): string {
  return stableId('rt_', orgId, deviceId, workspaceId);
}

/** The platform's view of a runtime record: never a path, never a token. */
export function toRuntimeView(r: RuntimeRecord): RuntimeView {
  const view: RuntimeView = {
    id: r.id,
    state: r.state,
    lastSeenAt: r.lastSeenAt,
    device: { id: r.deviceId, name: r.deviceName, os: r.deviceOs },
    workspace: { id: r.workspaceId, name: r.name, description: r.description },
    capabilities: r.capabilities,
  };
  if (r.reason !== null) view.reason = r.reason;
  return view;
}

/** A desktop session as the directory needs it. */
export interface AnnouncingSession {
  orgId: string;
  sessionId: string;
  device: Device;
}

/**
 * Runtime state transitions, in one place: each writes the store, moves presence on the
 * Bus and publishes a `state` event (SSE subscribers, re-delivery of calls after a reconnect).
 *
 * States: an announced workspace is `running`, `paused` or `error` as the desktop says; a
 * disconnected one is `stopped`; one the desktop no longer announces is `archived` (and
 * comes back if announced again); one the platform archived stays `archived`.
 */
export class RuntimeDirectory {
  /** Per-device queue: a replaced session's detach must not interleave with its successor's announce. */
  private readonly deviceLocks = new Map<string, Promise<void>>();
  /** Records read for calls, each for RUNTIME_CACHE_TTL_MS (see `lookup`). */
  private readonly cached = new Map<string, { record: RuntimeRecord; until: number }>();
  /** Bumped on every change of a runtime, so a read that raced with a change is not cached. */
  private generation = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
  ) {
    // A state change anywhere (this node or another on the bus) drops the cached record at once.
    this.unsubscribe = bus.subscribe('*', (event) => {
      if (event.type === 'state') this.forget(event.runtimeId);
    });
  }

  /**
   * A runtime record for the call path: from memory when read within RUNTIME_CACHE_TTL_MS and
   * not changed since, else from the store. Its `lastSeenAt` may be behind (heartbeats write
   * the store only): views of a runtime read the store.
   */
  async lookup(runtimeId: string, now = Date.now()): Promise<RuntimeRecord | null> {
    const hit = this.cached.get(runtimeId);
    if (hit && hit.until > now) return hit.record;
    const generation = this.generation;
    const record = await this.store.getRuntime(runtimeId);
    if (record && generation === this.generation) {
      if (this.cached.size >= RUNTIME_CACHE_MAX_ENTRIES) this.makeRoom(now);
      this.cached.set(runtimeId, { record, until: now + RUNTIME_CACHE_TTL_MS });
    }
    return record;
  }

  private forget(runtimeId: string): void {
    this.generation++;
    this.cached.delete(runtimeId);
  }

  private makeRoom(now: number): void {
    for (const [id, entry] of this.cached) if (entry.until <= now) this.cached.delete(id);
    if (this.cached.size >= RUNTIME_CACHE_MAX_ENTRIES) this.cached.clear();
  }

  /** Stops listening to the bus and drops what is cached. */
  dispose(): void {
    this.unsubscribe();
    this.cached.clear();
  }

  /** Runs `fn` after every earlier operation on the same device has finished. */
  async withDevice<T>(orgId: string, deviceId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${orgId}\u0000${deviceId}`;
    const before = this.deviceLocks.get(key) ?? Promise.resolve();
    const run = before.then(fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.deviceLocks.set(key, settled);
    void settled.then(() => {
      if (this.deviceLocks.get(key) === settled) this.deviceLocks.delete(key);
    });
    return run;
  }

  /**
   * Records a full announcement (`hello` or `workspaces`) of a device's workspaces.
   * `attach` (on `hello`) publishes every runtime, so origins re-deliver calls to the new session.
   */
  async announce(
    session: AnnouncingSession,
    workspaces: WorkspaceAnnouncement[],
    attach: boolean,
  ): Promise<Array<{ workspaceId: string; runtimeId: string }>> {
    const now = new Date().toISOString();
    const existing = new Map(
      (await this.store.listRuntimes(session.orgId, { deviceId: session.device.deviceId })).map((r) => [r.id, r]),
    );
    const bindings: Array<{ workspaceId: string; runtimeId: string }> = [];
    for (const ws of workspaces) {
      const id = runtimeIdOf(session.orgId, session.device.deviceId, ws.workspaceId);
      const prev = existing.get(id);
      existing.delete(id);
      const sticky = prev?.state === 'archived' && prev.archivedBy === 'platform';
      const state: RuntimeState = sticky ? 'archived' : ws.state;
      const reason = sticky ? prev.reason : reasonOf(ws.state, ws.reason);
      const record = await this.store.upsertRuntime({
        id,
        orgId: session.orgId,
        deviceId: session.device.deviceId,
        deviceName: session.device.name,
        deviceOs: session.device.os,
        workspaceId: ws.workspaceId,
        name: ws.name,
        description: ws.description,
        capabilities: ws.capabilities,
        state,
        reason,
        archivedBy: sticky ? 'platform' : null,
        lastSeenAt: now,
      });
      // After the write: a lookup that read the old row meanwhile sees the generation moved and does not keep it.
      this.forget(id);
      await this.bus.claim(id, session.sessionId);
      bindings.push({ workspaceId: ws.workspaceId, runtimeId: id });
      if (attach || prev?.state !== record.state || prev.reason !== record.reason)
        await this.publishState(record, session.sessionId);
    }
    for (const gone of existing.values()) {
      await this.bus.release(gone.id, session.sessionId);
      if (gone.state === 'archived') continue;
      const record = await this.store.setRuntimeState(gone.id, 'archived', REMOVED_REASON, 'desktop', now);
      this.forget(gone.id);
      if (record) await this.publishState(record);
    }
    return bindings;
  }

  /** A workspace's health changed while connected (`event` frame of kind `health`). */
  async setHealth(runtimeId: string, state: WorkspaceState, reason: string | undefined): Promise<void> {
    const prev = await this.store.getRuntime(runtimeId);
    if (!prev || prev.state === 'archived') return;
    const record = await this.store.setRuntimeState(
      runtimeId,
      state,
      reasonOf(state, reason),
      null,
      new Date().toISOString(),
    );
    this.forget(runtimeId);
    if (record && (record.state !== prev.state || record.reason !== prev.reason)) await this.publishState(record);
  }

  /**
   * The session holding these runtimes is gone: those it still held become `stopped`. A session
   * `replaced` by a newer connection of its device only lets go of its presence: the state is the
   * newer session's to write. On a cluster the two may live on different nodes, whose per-device
   * queues do not order one against the other; writing `stopped` here could land after the newer
   * session's `running` (which it claimed after this release) and leave a connected runtime
   * `stopped` for good.
   */
  async detach(sessionId: string, runtimeIds: Iterable<string>, options: { replaced?: boolean } = {}): Promise<void> {
    const now = new Date().toISOString();
    for (const id of runtimeIds) {
      if (!(await this.bus.release(id, sessionId))) continue; // a newer session holds it
      if (options.replaced) continue;
      const prev = await this.store.getRuntime(id);
      if (!prev || prev.state === 'archived') continue;
      const record = await this.store.setRuntimeState(id, 'stopped', null, null, now);
      this.forget(id);
      if (record) await this.publishState(record);
    }
  }

  /** The platform archives a runtime; it stays archived even if its desktop announces it again. */
  async archive(runtimeId: string): Promise<RuntimeRecord | null> {
    const record = await this.store.setRuntimeState(
      runtimeId,
      'archived',
      PLATFORM_ARCHIVED_REASON,
      'platform',
      new Date().toISOString(),
    );
    this.forget(runtimeId);
    if (record) await this.publishState(record);
    return record;
  }

  /**
   * A cluster's sweep: runtimes still live in the store that no node has refreshed since
   * `seenBefore` and that no node holds on the bus (their node died) become `stopped`.
   * Returns how many.
   */
  async stopAbandoned(seenBefore: string, limit: number): Promise<number> {
    const free: string[] = [];
    for (const id of await this.store.staleRuntimes(seenBefore, limit)) if (!(await this.bus.locate(id))) free.push(id);
    const stopped = await this.store.stopStaleRuntimes(free, seenBefore, new Date().toISOString());
    for (const record of stopped) {
      this.forget(record.id);
      await this.publishState(record);
    }
    return stopped.length;
  }

  private async publishState(record: RuntimeRecord, sessionId?: string): Promise<void> {
    await this.bus.publish({
      type: 'state',
      runtimeId: record.id,
      state: record.state,
      ...(record.reason !== null ? { reason: record.reason } : {}),
      lastSeenAt: record.lastSeenAt,
      ...(sessionId !== undefined ? { sessionId } : {}),
    });
  }
}

function reasonOf(state: WorkspaceState, reason: string | undefined): string | null {
  if (state === 'error') return reason && reason.length > 0 ? reason : 'the desktop reported an error without a reason';
  return null;
}
