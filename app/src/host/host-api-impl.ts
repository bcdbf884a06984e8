import {
  DESKTOP_REQUESTS,
  TetherError,
  invalidArgs,
  type DesktopEvent,
  type DesktopEventPayload,
  type DesktopMethod,
  type DesktopResult,
  type DesktopState,
  type WorkspaceView,
} from '@tether/shared';
import type { z } from 'zod';
import type { AuditLog } from './audit/audit-log.js';
import type { ConfigStore } from './config/config-store.js';
import type { HostApi, HostEventListener, SubscribeOptions } from './host-api.js';
import type { OAuthConsents } from './oauth/oauth-consents.js';
import type { ConfirmationBroker, ConfirmationFrontend } from './policy/confirmation-broker.js';
import type { ProcessMonitor } from './pty/process-monitor.js';
import { connectUrlOf } from './relay-client/connect-url.js';
import type { RelayClient } from './relay-client/relay-client.js';
import { checkTokenShape, probeDesktopToken } from './relay-client/token-probe.js';
import type { TokenStore } from './token/token-store.js';
import type { WorkspaceRuntime } from './workspaces/workspace-runtime.js';
import type { WorkspaceSet } from './workspaces/workspace-set.js';

/** The duration the dialog offers first for a standing allowance until the person picks one. */
export const DEFAULT_ALLOW_DURATION_MINUTES = 15;

/** `state:changed` is sent at most this often: a health check or reconnect changes several things at once. */
export const STATE_EVENT_DEBOUNCE_MS = 25;

/** Where the token in use came from (DesktopState.tokenStore). */
export type TokenSource = DesktopState['tokenStore'];

/** What the HostApi works on: the host's parts, opened by `startHost`. */
export interface HostApiDeps {
  config: ConfigStore;
  tokens: TokenStore;
  /** The token in use at start and where it came from (`memory`: --token or TETHER_TOKEN). */
  token: { value: string | undefined; source: TokenSource };
  workspaces: WorkspaceSet;
  broker: ConfirmationBroker;
  audit: AuditLog;
  relay: RelayClient;
  /** Running commands and sessions (absent: none are shown). */
  processes?: ProcessMonitor;
  /** Under the desktop app or a plain process (default `headless`). */
  mode?: 'desktop' | 'headless';
  /** MCP clients asking for access (OAuth) and the approved ones. */
  oauth: OAuthConsents;
  /** Called after a workspace is removed (its shell sessions end). */
  onWorkspaceRemoved?: (id: string) => void;
  /** The device key's fingerprint now (it changes when the device is re-paired). */
  deviceKeyFingerprint?: () => string;
  /** Gives this install a new device id and key and reconnects (`device:repair`). */
  repairDevice?: () => Promise<void>;
  log?: (line: string) => void;
  /** Accept an unencrypted relay URL that is not on this machine (`--insecure-relay`). */
  allowInsecureRelay?: boolean;
}

/** A request's params after validation (defaults applied). */
type ParsedParams<M extends DesktopMethod> = z.output<(typeof DESKTOP_REQUESTS)[M]['params']>;
type Handlers = { [M in DesktopMethod]: (params: ParsedParams<M>) => Promise<DesktopResult<M>> };

/**
 * The host side of the DesktopApi: every request validated with its shared schema (a bad one
 * is `invalid_args`), every change of connection, workspaces or pending confirmations pushed as
 * `state:changed` (debounced a little), and confirmation and activity events passed on. A
 * subscriber that answers confirmations counts as a front end of the broker while subscribed.
 */
export class HostApiImpl implements HostApi {
  private readonly listeners = new Map<HostEventListener, { answersConfirmations: boolean }>();
  private readonly unwire: Array<() => void> = [];
  private tokenSource: TokenSource;
  private stateTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly handlers: Handlers;

  constructor(private readonly deps: HostApiDeps) {
    this.tokenSource = deps.token.value ? deps.token.source : 'none';
    const on = <A extends unknown[]>(emitter: NodeJS.EventEmitter, event: string, fn: (...args: A) => void): void => {
      emitter.on(event, fn as (...args: unknown[]) => void);
      this.unwire.push(() => emitter.off(event, fn as (...args: unknown[]) => void));
    };
    const changed = (): void => this.scheduleState();
    on(deps.workspaces, 'changed', changed);
    on(deps.relay, 'status', changed);
    on(deps.relay, 'runtimes', changed);
    on(deps.broker, 'request', (req: DesktopEventPayload<'confirm:request'>) => {
      // Front-end subscribers get it through their ConfirmationFrontend (with the ones already open).
      this.emit('confirm:request', req, (options) => !options.answersConfirmations);
      this.scheduleState();
    });
    on(deps.broker, 'resolved', (payload: DesktopEventPayload<'confirm:resolved'>) => {
      this.emit('confirm:resolved', payload);
      this.scheduleState();
    });
    // A waiting question's countdown started: every front end gets it again with its new times.
    on(deps.broker, 'started', (req: DesktopEventPayload<'confirm:request'>) => {
      this.emit('confirm:request', req);
      this.scheduleState();
    });
    on(deps.broker, 'missed', changed);
    on(deps.oauth, 'changed', changed);
    on(deps.oauth, 'request', (consent: DesktopEventPayload<'oauth:request'>) => this.emit('oauth:request', consent));
    on(deps.audit, 'appended', (entry: DesktopEventPayload<'activity:appended'>) =>
      this.emit('activity:appended', entry),
    );
    if (deps.processes) {
      on(deps.processes, 'started', (p: DesktopEventPayload<'process:started'>) => this.emit('process:started', p));
      on(deps.processes, 'output', (p: DesktopEventPayload<'process:output'>) => this.emit('process:output', p));
      on(deps.processes, 'ended', (p: DesktopEventPayload<'process:ended'>) => this.emit('process:ended', p));
    }
    this.handlers = this.createHandlers();
  }

  async request<M extends DesktopMethod>(method: M, params: unknown): Promise<DesktopResult<M>> {
    if (this.disposed) throw new TetherError('unavailable', 'The desktop host is shutting down.');
    if (typeof method !== 'string' || !Object.hasOwn(DESKTOP_REQUESTS, method)) {
      throw new TetherError('invalid_request', `There is no method "${String(method)}".`);
    }
    const parsed = DESKTOP_REQUESTS[method].params.safeParse(params ?? {});
    if (!parsed.success) {
      const value = invalidArgs(parsed.error);
      throw new TetherError('invalid_args', value.message, value.details);
    }
    const handler = this.handlers[method] as (p: unknown) => Promise<DesktopResult<M>>;
    return handler(parsed.data);
  }

  subscribe(listener: HostEventListener, options: SubscribeOptions = {}): () => void {
    const answersConfirmations = options.answersConfirmations === true;
    this.listeners.set(listener, { answersConfirmations });
    let detach: (() => void) | undefined;
    if (answersConfirmations) {
      const frontend: ConfirmationFrontend = {
        present: (req) => safely(() => listener('confirm:request', req)),
        // `confirm:resolved` reaches every subscriber from the broker's 'resolved' event.
        dismiss: () => {},
      };
      detach = this.deps.broker.addFrontend(frontend);
    }
    return () => {
      this.listeners.delete(listener);
      detach?.();
    };
  }

  /** The whole state the UI shows. */
  state(): DesktopState {
    const config = this.deps.config.get();
    const status = this.deps.relay.status;
    const connection: DesktopState['connection'] = {
      state: status.state,
      relayUrl: config.relayUrl,
      enabled: status.enabled,
    };
    if (status.reason !== undefined) connection.reason = status.reason;
    if (status.alert !== undefined) connection.alert = status.alert;
    if (status.claimRefusedAt !== undefined) connection.claimRefusedAt = status.claimRefusedAt;
    const device: DesktopState['device'] = { id: config.deviceId, name: config.deviceName };
    const fingerprint = this.deps.deviceKeyFingerprint?.();
    if (fingerprint !== undefined) device.keyFingerprint = fingerprint;
    return {
      connection,
      device,
      hasToken: this.tokenSource !== 'none',
      tokenStore: this.tokenSource,
      settings: {
        relayUrl: config.relayUrl,
        deviceName: config.deviceName,
        launchAtLogin: config.launchAtLogin,
        keepAwake: config.keepAwake,
        connectOnStart: config.connectOnStart,
      },
      workspaces: this.deps.workspaces.views().map((v) => this.withRuntimeId(v)),
      pendingConfirmations: this.deps.broker.pending(),
      missedConfirmations: this.deps.broker.missed(),
      lastAllowDuration: config.lastAllowDuration ?? DEFAULT_ALLOW_DURATION_MINUTES,
      hostMode: this.deps.mode ?? 'headless',
      oauthRequests: this.deps.oauth.pending(),
      oauthClients: this.deps.oauth.clients(),
    };
  }

  /** Stops the events; requests are refused afterwards. */
  dispose(): void {
    this.disposed = true;
    if (this.stateTimer) clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    for (const unwire of this.unwire.splice(0)) unwire();
    this.listeners.clear();
  }

  private createHandlers(): Handlers {
    const { config, workspaces, relay, broker, audit } = this.deps;
    return {
      'state:get': async () => this.state(),
      'connection:set': async ({ enabled }) => {
        relay.setEnabled(enabled);
        return this.state();
      },
      'settings:update': async (p) => {
        if (p.relayUrl !== undefined) {
          try {
            connectUrlOf(p.relayUrl, { allowInsecure: this.deps.allowInsecureRelay === true });
          } catch (err) {
            throw new TetherError('invalid_args', (err as Error).message, {
              fields: [{ path: 'relayUrl', message: (err as Error).message }],
            });
          }
        }
        if (p.token !== undefined && /\s/.test(p.token.trim())) {
          throw new TetherError('invalid_args', 'The token must not contain spaces or line breaks.', {
            fields: [{ path: 'token', message: 'contains whitespace' }],
          });
        }
        const before = config.get();
        if (p.token !== undefined) {
          checkTokenShape(p.token.trim());
          // Replacing a token in use: the relay is asked first, so a refused one never takes the
          // working one's place. (A first token is tried by connecting; its refusal shows there.)
          if (this.tokenSource !== 'none')
            await probeDesktopToken({
              relayUrl: p.relayUrl ?? before.relayUrl,
              token: p.token.trim(),
              caFile: before.caFile,
            });
        }
        await config.update((draft) => {
          if (p.relayUrl !== undefined) draft.relayUrl = p.relayUrl;
          if (p.deviceName !== undefined) draft.deviceName = p.deviceName;
          if (p.launchAtLogin !== undefined) draft.launchAtLogin = p.launchAtLogin;
          if (p.keepAwake !== undefined) draft.keepAwake = p.keepAwake;
          if (p.connectOnStart !== undefined) draft.connectOnStart = p.connectOnStart;
        });
        const change: { relayUrl?: string; token?: string } = {};
        if (p.relayUrl !== undefined && p.relayUrl !== before.relayUrl) change.relayUrl = p.relayUrl;
        if (p.token !== undefined) {
          await this.deps.tokens.set(p.token);
          this.tokenSource = this.deps.tokens.kind;
          change.token = p.token.trim();
          this.deps.log?.(
            `the desktop token was replaced (kept in the ${this.deps.tokens.kind === 'keychain' ? 'OS keychain' : 'token file'})`,
          );
        }
        if (change.relayUrl !== undefined || change.token !== undefined) relay.configure(change);
        this.scheduleState();
        return this.state();
      },
      'workspace:add': async (p) => {
        const runtime = await workspaces.add({
          root: p.root,
          name: p.name,
          description: p.description,
          policy: p.policy,
        });
        const warnings = workspaces.warningsOf(runtime.config.id);
        return warnings.length > 0 ? { ...this.viewOf(runtime), warnings } : this.viewOf(runtime);
      },
      'workspace:update': async ({ id, askAgain, ...patch }) => {
        const runtime = await workspaces.update(id, patch);
        if (askAgain) await workspaces.revokeAllowances(id);
        return this.viewOf(runtime);
      },
      'workspace:remove': async ({ id }) => {
        // The relay archives the runtime once the next `workspaces` frame no longer names it.
        const removed = await workspaces.remove(id);
        if (removed) this.deps.onWorkspaceRemoved?.(id);
        return { removed };
      },
      'activity:list': async (p) => ({ entries: await audit.list(p) }),
      'confirm:answer': async (p) => {
        const accepted = broker.answer(p);
        if (accepted && p.decision === 'allow_rule') {
          // Offered first next time: a person who picks "until I revoke" or 60 minutes means it.
          const duration = p.lasting ? 'lasting' : (p.minutes ?? DEFAULT_ALLOW_DURATION_MINUTES);
          if (config.get().lastAllowDuration !== duration) {
            await config
              .update((draft) => {
                draft.lastAllowDuration = duration;
              })
              .catch((err: unknown) =>
                this.deps.log?.(`could not save the chosen duration: ${(err as Error).message}`),
              );
            this.scheduleState();
          }
        }
        return { accepted };
      },
      'allowance:revoke': async ({ workspaceId, id }) => ({
        revoked: (await workspaces.revokeAllowances(workspaceId, id)) > 0,
      }),
      'confirm:dismissMissed': async () => ({ dismissed: broker.dismissMissed() }),
      'process:list': async () => ({ processes: this.deps.processes?.list() ?? [] }),
      // Stopping takes away, never adds: it needs no question.
      'process:stop': async ({ id }) => ({ stopped: (await this.deps.processes?.stop(id)) ?? false }),
      'oauth:answer': async (p) => this.deps.oauth.answer(p),
      'oauth:revoke': async ({ authorizationId }) => this.deps.oauth.revoke(authorizationId),
      'device:repair': async () => {
        if (!this.deps.repairDevice) throw new TetherError('unavailable', 'This host cannot re-pair its device.');
        await this.deps.repairDevice();
        this.scheduleState();
        return this.state();
      },
    };
  }

  private viewOf(runtime: WorkspaceRuntime): WorkspaceView {
    const view = this.deps.workspaces.views().find((v) => v.id === runtime.config.id);
    if (!view) throw new TetherError('not_found', `The workspace ${runtime.config.id} is gone.`);
    return this.withRuntimeId(view);
  }

  private withRuntimeId(view: WorkspaceView): WorkspaceView {
    const binding = this.deps.relay.runtimes.find((b) => b.workspaceId === view.id);
    return binding ? { ...view, runtimeId: binding.runtimeId } : view;
  }

  private scheduleState(): void {
    if (this.disposed || this.stateTimer) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = undefined;
      if (!this.disposed) this.emit('state:changed', this.state());
    }, STATE_EVENT_DEBOUNCE_MS);
  }

  private emit<E extends DesktopEvent>(
    event: E,
    payload: DesktopEventPayload<E>,
    filter?: (options: { answersConfirmations: boolean }) => boolean,
  ): void {
    for (const [listener, options] of [...this.listeners]) {
      if (filter && !filter(options)) continue;
      safely(() => listener(event, payload));
    }
  }
}

/** One subscriber that throws must not keep the event from the others. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The subscriber's own problem (a closed transport); the host carries on.
  }
}
