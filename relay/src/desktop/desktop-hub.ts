import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE_CODES, errorValue, type ErrorCode, type OAuthAuthorization } from '@tether/shared';
import { authenticateToken } from '../auth.js';
import type { Bus, BusMessage, NodeBroadcast } from '../bus/bus.js';
import { BOOKKEEPING_EVERY_TICKS, type RelayLimits } from '../relay-limits.js';
import type { RuntimeDirectory } from '../runtime-directory.js';
import type { Store, TokenRecord } from '../store/store.js';
import { LocalLimits, type ConnectionSlots } from '../http/shared-limits.js';
import { newId } from '../tokens.js';
import { DesktopSession, type DesktopOAuth } from './desktop-session.js';
import { relayHostsFor } from './device-proof.js';

/** How long a closing handshake may take at shutdown before the socket is cut. */
const CLOSE_HANDSHAKE_MS = 2_000;

/** The one path desktops connect to. */
export const CONNECT_PATH = '/v1/connect';

export interface DesktopHubDeps {
  store: Store;
  bus: Bus;
  directory: RuntimeDirectory;
  limits: RelayLimits;
  heartbeatIntervalMs: number;
  logger: FastifyBaseLogger;
  /**
   * Told of each upgrade refused for its token, so the server can throttle guessing per client
   * address: true when it answered the socket itself (429), else the hub answers 401.
   */
  onUnauthorized?: (req: IncomingMessage, socket: Duplex) => Promise<boolean>;
  /** Told of each upgrade whose token passed (its connection is no longer an unauthenticated one). */
  onAuthenticated?: (req: IncomingMessage) => void;
  /** Told of each upgrade refused by a limit (metrics), with the limit's name. */
  onLimited?: (limit: string) => void;
  /** OAuth consent on desktops: requests shown, answers taken, approved clients listed. */
  oauth?: DesktopOAuth & { list(orgId: string): Promise<OAuthAuthorization[]> };
  /** The hosts desktops reach this relay at (RelayOptions.publicHosts): what device proofs must name. */
  publicHosts?: readonly string[] | undefined;
  /**
   * Slots of maxConnectionsPerDesktopToken: this process's own count by default; in a cluster,
   * counted in Redis over every node.
   */
  tokenSlots?: ConnectionSlots;
}

/**
 * Desktop connections of this node, the ws way (STYLE.md 10): `noServer`, the token is
 * checked on the HTTP upgrade and a bad one gets 401 before any frame, an explicit
 * maxPayload, one heartbeat timer for every socket.
 */
export class DesktopHub {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, DesktopSession>();
  /** Sessions by org and device: a hello looks up the device's older sessions, not every socket (15,000 hellos would be quadratic). */
  private readonly byDevice = new Map<string, Set<DesktopSession>>();
  /** Open desktop sockets by desktop token id: maxConnectionsPerDesktopToken (over every node in a cluster). */
  private readonly tokenSlots: ConnectionSlots;
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: Array<() => void> = [];
  private accepting = true;
  private ticks = 0;

  constructor(private readonly deps: DesktopHubDeps) {
    this.tokenSlots = deps.tokenSlots ?? new LocalLimits().slots();
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.timer = setInterval(() => void this.tick(), deps.heartbeatIntervalMs);
    this.timer.unref();
    this.unsubscribe.push(deps.bus.onMessage((m) => this.onBusMessage(m)));
    this.unsubscribe.push(deps.bus.onBroadcast((m) => this.onBroadcast(m)));
  }

  /** Open desktop sockets on this node. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  /** The server's `upgrade` listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== CONNECT_PATH) return reject(socket, 'not_found');
    if (!this.accepting) return reject(socket, 'unavailable');
    if (this.sessions.size >= this.deps.limits.maxConnections)
      return reject(socket, 'unavailable', 'too many desktop connections');
    authenticateToken(this.deps.store, req.headers.authorization, ['desktop'])
      .then(
        async (token) => {
          if (!token) {
            if (await this.deps.onUnauthorized?.(req, socket)) return;
            return reject(socket, 'unauthorized');
          }
          if (socket.destroyed || !this.accepting) return reject(socket, 'unavailable');
          const perToken = this.deps.limits.maxConnectionsPerDesktopToken;
          const slot = newId('sock_', 8);
          if (!(await this.tokenSlots.acquire(token.id, slot, perToken))) {
            this.deps.onLimited?.('connections_per_desktop_token');
            return reject(
              socket,
              'rate_limited',
              `${perToken} connections are open with this desktop token (limit maxConnectionsPerDesktopToken)`,
              { limit: 'connections_per_desktop_token', max: perToken },
            );
          }
          if (socket.destroyed || !this.accepting) {
            this.tokenSlots.release(token.id, slot);
            return reject(socket, 'unavailable');
          }
          this.deps.onAuthenticated?.(req);
          // The slot goes back when the session closes, or with the socket if the handshake fails.
          let accepted = false;
          socket.once('close', () => {
            if (!accepted) this.tokenSlots.release(token.id, slot);
          });
          this.wss.handleUpgrade(req, socket, head, (ws) => {
            accepted = true;
            this.accept(ws, token, relayHostsFor(this.deps.publicHosts, req.headers.host), slot);
          });
        },
        (err: unknown) => {
          this.deps.logger.error(
            { err: err instanceof Error ? err.message : String(err) },
            'desktop authentication failed',
          );
          reject(socket, 'internal');
        },
      )
      .catch((err: unknown) => {
        this.deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'desktop upgrade failed');
        if (!socket.destroyed) reject(socket, 'internal');
      });
  }

  private accept(ws: WebSocket, token: TokenRecord, relayHosts: string[], slot: string): void {
    const session = new DesktopSession(ws, token, {
      ...this.deps,
      relayHosts,
      onHello: async (s) => {
        const key = deviceKey(s.orgId, s.device!.deviceId);
        let set = this.byDevice.get(key);
        if (!set) this.byDevice.set(key, (set = new Set()));
        set.add(s);
        // A newer connection of the same device wins, on whichever node the older one lives.
        await this.deps.bus.broadcast({
          kind: 'device-replaced',
          orgId: s.orgId,
          deviceId: s.device!.deviceId,
          sessionId: s.id,
          helloAt: s.helloAt,
        });
      },
      onClosed: (s) => {
        this.sessions.delete(s.id);
        this.tokenSlots.release(s.token.id, slot);
        if (!s.device) return;
        const key = deviceKey(s.orgId, s.device.deviceId);
        const set = this.byDevice.get(key);
        set?.delete(s);
        if (set?.size === 0) this.byDevice.delete(key);
      },
    });
    this.sessions.set(session.id, session);
  }

  /**
   * One heartbeat for every socket; every BOOKKEEPING_EVERY_TICKS ticks, two store round trips
   * for all of them (not two per socket): lastSeenAt of connected devices, and revocations made
   * by another process (the CLI).
   */
  private async tick(): Promise<void> {
    const sessions = [...this.sessions.values()];
    sessions.forEach((s) => s.heartbeat());
    if (this.ticks++ % BOOKKEEPING_EVERY_TICKS !== 0) return;
    const live = sessions.filter((s) => s.live);
    try {
      await this.deps.store.touchDevices(
        live.map((s) => ({ orgId: s.orgId, deviceId: s.device!.deviceId })),
        new Date().toISOString(),
      );
      const revoked = new Set(await this.deps.store.revokedTokenIds([...new Set(sessions.map((s) => s.token.id))]));
      for (const s of sessions) if (revoked.has(s.token.id)) s.close(CLOSE_CODES.unauthorized, 'token revoked');
    } catch (err) {
      this.deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'heartbeat bookkeeping failed');
    }
  }

  private onBusMessage(message: BusMessage): void {
    if (message.kind === 'call') {
      void this.deps.bus.locate(message.call.runtimeId).then((presence) => {
        const session =
          presence && presence.nodeId === this.deps.bus.nodeId ? this.sessions.get(presence.sessionId) : undefined;
        if (session) return session.deliver(message.call, message.origin);
        return this.deps.bus.send(message.origin, {
          kind: 'result',
          callId: message.call.id,
          result: { ok: false, error: errorValue('runtime_offline') },
        });
      });
    } else if (message.kind === 'refused') {
      void this.deps.bus.locate(message.notice.runtimeId).then((presence) => {
        const session =
          presence && presence.nodeId === this.deps.bus.nodeId ? this.sessions.get(presence.sessionId) : undefined;
        session?.notifyRefused(message.notice);
      });
    } else if (message.kind === 'cancel') {
      // The call went to the session holding the runtime; during a replacement an older session
      // of the same device may still have it in flight, so every session of that device hears it.
      void this.deps.bus.locate(message.runtimeId).then((presence) => {
        const holder = presence ? this.sessions.get(presence.sessionId) : undefined;
        if (message.orphan === true) return holder?.cancel(message.callId, message.reason, true);
        if (!holder?.device) return holder?.cancel(message.callId, message.reason);
        for (const session of this.byDevice.get(deviceKey(holder.orgId, holder.device.deviceId)) ?? [])
          session.cancel(message.callId, message.reason);
      });
    }
  }

  private onBroadcast(message: NodeBroadcast): void {
    if (message.kind === 'device-replaced') {
      for (const session of this.byDevice.get(deviceKey(message.orgId, message.deviceId)) ?? []) {
        if (isOlder(session, message)) session.replace();
      }
    } else if (message.kind === 'device-claim-refused') {
      for (const session of this.byDevice.get(deviceKey(message.orgId, message.deviceId)) ?? [])
        session.noticeClaimRefused(message.at);
    } else if (message.kind === 'oauth-consent' || message.kind === 'oauth-consent-closed') {
      const frame =
        message.kind === 'oauth-consent'
          ? ({ type: 'oauth_consent', consent: message.consent } as const)
          : ({ type: 'oauth_consent_closed', requestId: message.requestId, outcome: message.outcome } as const);
      for (const session of this.sessionsOfOrg(message.orgId)) session.sendFrame(frame);
    } else if (message.kind === 'oauth-changed') {
      const sessions = this.sessionsOfOrg(message.orgId);
      if (sessions.length === 0 || !this.deps.oauth) return;
      this.deps.oauth.list(message.orgId).then(
        (authorizations) => {
          for (const session of sessions) session.sendFrame({ type: 'oauth_authorizations', authorizations });
        },
        (err: unknown) =>
          this.deps.logger.error(
            { err: err instanceof Error ? err.message : String(err) },
            'listing OAuth clients failed',
          ),
      );
    } else if (message.kind === 'token-revoked') {
      // Rare: a scan of every socket is fine.
      for (const session of this.sessions.values())
        if (session.token.id === message.tokenId) session.close(CLOSE_CODES.unauthorized, 'token revoked');
    }
  }

  /** The greeted sessions of an org (rare events: a scan of every socket is fine). */
  private sessionsOfOrg(orgId: string): DesktopSession[] {
    return [...this.sessions.values()].filter((s) => s.orgId === orgId && s.live);
  }

  /** New upgrades get 503 from now on. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Closes every desktop socket with `code` (1001 on shutdown: they reconnect) and waits until their runtimes are detached. */
  async dispose(code: number = CLOSE_CODES.goingAway, reason = 'relay shutting down'): Promise<void> {
    this.stopAccepting();
    clearInterval(this.timer);
    this.unsubscribe.forEach((u) => u());
    const sessions = [...this.sessions.values()];
    for (const s of sessions) s.close(code, reason);
    // A desktop that does not answer the close handshake is cut rather than waited for (ws waits 30 s).
    const cut = setTimeout(() => sessions.forEach((s) => s.terminate()), CLOSE_HANDSHAKE_MS);
    await Promise.all(sessions.map((s) => s.closed));
    clearTimeout(cut);
    this.wss.close();
  }
}

function deviceKey(orgId: string, deviceId: string): string {
  return `${orgId}\u0000${deviceId}`;
}

/** Whether `session` said hello before the one announced (ties broken by id), so that two simultaneous hellos do not close each other. */
function isOlder(session: DesktopSession, newer: { sessionId: string; helloAt: number }): boolean {
  if (session.id === newer.sessionId) return false;
  return session.helloAt < newer.helloAt || (session.helloAt === newer.helloAt && session.id < newer.sessionId);
}

/** Refuses an upgrade with a plain HTTP answer; no WebSocket frame is ever read. */
function reject(socket: Duplex, code: ErrorCode, message?: string, details?: Record<string, unknown>): void {
  if (socket.destroyed) return;
  const value = errorValue(code, message, details);
  const body = JSON.stringify({ error: value });
  const status =
    {
      unauthorized: '401 Unauthorized',
      not_found: '404 Not Found',
      rate_limited: '429 Too Many Requests',
      unavailable: '503 Service Unavailable',
      internal: '500 Internal Server Error',
    }[code as string] ?? '400 Bad Request';
  // As ws's abortHandshake: flush the answer, then drop the socket.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
