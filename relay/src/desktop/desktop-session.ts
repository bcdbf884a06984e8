import type { FastifyBaseLogger } from 'fastify';
import type WebSocket from 'ws';
import {
  CLOSE_CODES,
  MAX_REFUSED_NOTICES_PER_MINUTE,
  MISSED_HEARTBEATS_BEFORE_DEAD,
  REFUSED_NOTICE_WINDOW_MS,
  PROTOCOL_VERSION,
  errorValue,
  parseAppFrame,
  scanJson,
  type AppFrame,
  type Device,
  type ErrorCode,
  type OAuthAnswerFrame,
  type RelayFrame,
  type Result,
} from '@tether/shared';
import type { Bus, RefusalNotice, RoutedCall } from '../bus/bus.js';
import { HEARTBEAT_LATE_INTERVALS, HELLO_TIMEOUT_MS, MAX_QUEUED_FRAMES, type RelayLimits } from '../relay-limits.js';
import type { RuntimeDirectory } from '../runtime-directory.js';
import type { Store, TokenRecord } from '../store/store.js';
import { newId } from '../tokens.js';
import { newChallengeNonce, verifyDeviceProof } from './device-proof.js';
import { rememberResultJson } from './result-json.js';

/** At most one `notice` per this interval per connection: the desktop shows the latest anyway. */
export const DEVICE_NOTICE_INTERVAL_MS = 10_000;

/** What a session needs from the hub that owns it. */
export interface SessionDeps {
  store: Store;
  bus: Bus;
  directory: RuntimeDirectory;
  limits: RelayLimits;
  heartbeatIntervalMs: number;
  logger: FastifyBaseLogger;
  /** The relay hosts this connection's device proof may name (`relayHostsFor`). */
  relayHosts: readonly string[];
  /** Called once the hello is accepted, before the runtimes are announced: the hub replaces older sessions of the device. */
  onHello(session: DesktopSession): Promise<void>;
  /** Called once when the socket has closed and the runtimes were detached. */
  onClosed(session: DesktopSession): void;
  /** OAuth consent on the desktop (relay/src/oauth/desktop-oauth.ts); without it the frames are ignored. */
  oauth?: DesktopOAuth;
}

/** What a session does with the OAuth frames of its desktop. */
export interface DesktopOAuth {
  /** Frames for a desktop that was just welcomed: the org's pending consent requests and approved clients. */
  greet(orgId: string): Promise<RelayFrame[]>;
  /** The person answered a consent request on this desktop. */
  answer(session: DesktopSession, frame: OAuthAnswerFrame): Promise<void>;
  /** The person revoked an approved client on this desktop. */
  revoke(session: DesktopSession, authorizationId: string): Promise<void>;
}

/** A WebSocket close reason is at most 123 bytes. */
function closeReason(text: string): string {
  return Buffer.byteLength(text) <= 123
    ? text
    : Buffer.from(text)
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD+$/, '') + '...';
}

/**
 * One desktop connection: validates its frames, records its runtimes, carries calls to
 * it and their progress and results back to the call's origin node. Frames are handled
 * one at a time in arrival order (store writes are awaited in between).
 */
export class DesktopSession {
  readonly id = newId('ses_');
  device: Device | null = null;
  /** When the hello was accepted (epoch ms): of two sessions of one device, the later hello wins. */
  helloAt = 0;
  /** runtimeId → workspaceId of the workspaces this session announced. */
  private readonly runtimes = new Map<string, string>();
  /** Closed because a newer connection of the same device replaced it. */
  private replaced = false;
  /** Calls handed to the desktop and not answered yet. */
  /**
   * Calls handed to the desktop and not answered yet: the node waiting on each (`origin`), and
   * other nodes that looked it up meanwhile (`watchers`: they hear its result too).
   */
  private readonly inFlight = new Map<string, { runtimeId: string; origin: string; watchers?: Set<string> }>();
  /** How many of `inFlight` are for each runtime (maxInFlightPerRuntime), kept beside it. */
  private readonly inFlightByRuntime = new Map<string, number>();
  /** When the desktop was last heard from (a ping, a pong or any frame), epoch ms. */
  private lastHeardAt = Date.now();
  /** When the desktop last pinged (it does at the heartbeat interval), epoch ms; 0: never. */
  private lastPeerPingAt = 0;
  /** `refused` notices: the current window's start and count, and those left out since the last one sent. */
  private refusedWindowStart = 0;
  private refusedInWindow = 0;
  private refusedDropped = 0;
  /** Result, progress and event frames that failed their schema and were contained (containBadFrame). */
  private badFrames = 0;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private closing = false;
  private helloTimer: NodeJS.Timeout | null;
  /** Resolves once the close was fully handled (runtimes detached). */
  readonly closed: Promise<void>;
  /** This connection's challenge: the hello's device proof signs it, so a proof is good for this connection only. */
  private readonly nonce = newChallengeNonce();
  /** When the last `notice` went out: an impostor's hellos in a loop must not flood the desktop. */
  private lastNoticeAt = 0;

  constructor(
    private readonly ws: WebSocket,
    readonly token: TokenRecord,
    private readonly deps: SessionDeps,
  ) {
    this.helloTimer = setTimeout(() => this.close(CLOSE_CODES.unexpectedFrame, 'no hello in time'), HELLO_TIMEOUT_MS);
    let markClosed!: () => void;
    this.closed = new Promise((resolve) => (markClosed = resolve));
    ws.on('message', (data, isBinary) => {
      this.lastHeardAt = Date.now();
      if (this.closing) return;
      if (isBinary) return this.close(CLOSE_CODES.protocolError, 'binary frames are not part of the protocol');
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : (data as Buffer).toString('utf8');
      this.enqueue(() => this.handleText(text));
    });
    // Auto-answered pings of the desktop are signs of life too (see heartbeat).
    ws.on('pong', () => (this.lastHeardAt = Date.now()));
    ws.on('ping', () => (this.lastHeardAt = this.lastPeerPingAt = Date.now()));
    ws.on('error', (err) => deps.logger.warn({ session: this.id, err: err.message }, 'desktop socket error'));
    ws.on('close', (code) => {
      this.closing = true;
      this.clearHelloTimer();
      deps.logger.info(
        { session: this.id, org: token.orgId, device: this.device?.deviceId, code },
        'desktop disconnected',
      );
      this.enqueue(async () => {
        this.inFlight.clear();
        this.inFlightByRuntime.clear();
        if (this.device) {
          const device = this.device;
          await deps.directory.withDevice(token.orgId, device.deviceId, () =>
            deps.directory.detach(this.id, this.runtimes.keys(), { replaced: this.replaced }),
          );
        }
      });
      void this.queue.then(() => {
        deps.onClosed(this);
        markClosed();
      });
    });
    this.send({ type: 'challenge', nonce: this.nonce });
  }

  private clearHelloTimer(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  get orgId(): string {
    return this.token.orgId;
  }

  /**
   * A newer connection of this device said hello (on this node or another): this one closes
   * with `replaced`, and its runtimes' state is left to the newer one (see RuntimeDirectory.detach).
   */
  replace(): void {
    this.replaced = true;
    this.close(CLOSE_CODES.replaced, 'replaced by a newer connection of this device');
  }

  /** Closes with a documented code; the desktop decides from it whether to reconnect. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.ws.close(code, closeReason(reason));
  }

  /** Cuts the socket without a closing handshake. */
  terminate(): void {
    this.closing = true;
    this.ws.terminate();
  }

  /**
   * Called by the hub's heartbeat timer. The desktop pings at the same interval, so its ping
   * since the last tick makes one of ours redundant: an idle connection costs one ping and one
   * pong per interval, not two of each. A peer that does not ping is pinged at every tick.
   * Silent (no ping, pong or frame) for MISSED_HEARTBEATS_BEFORE_DEAD intervals: dead, cut (a
   * frozen laptop is noticed within one interval more, 9 s at the default 3 s).
   */
  heartbeat(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const silentMs = Date.now() - this.lastHeardAt;
    if (silentMs >= MISSED_HEARTBEATS_BEFORE_DEAD * this.deps.heartbeatIntervalMs) {
      this.deps.logger.info({ session: this.id, silentMs }, 'desktop missed its heartbeats');
      this.closing = true;
      // A dead peer will not complete a closing handshake: send the code for the record, then cut.
      this.ws.close(CLOSE_CODES.heartbeatTimeout, 'no heartbeat');
      this.ws.terminate();
      return;
    }
    if (Date.now() - this.lastPeerPingAt >= this.deps.heartbeatIntervalMs) this.ws.ping();
  }

  /** Whether the socket is open and the desktop has said hello. */
  get live(): boolean {
    return !this.closing && this.device !== null;
  }

  /** Hands a call to the desktop (after any frame being handled), or answers the origin with why not. */
  deliver(call: RoutedCall, origin: string): void {
    this.enqueue(async () => {
      const fail = (code: ErrorCode, message?: string) =>
        this.deps.bus.send(origin, {
          kind: 'result',
          callId: call.id,
          result: { ok: false, error: errorValue(code, message) },
        });
      const workspaceId = this.runtimes.get(call.runtimeId);
      if (this.closing || workspaceId === undefined) return fail('runtime_offline');
      // A frozen or unplugged laptop is noticed after two missed pongs; until then its calls would
      // wait their whole deadline. A heartbeat this late already says: do not hand it new work.
      const silentMs = Date.now() - this.lastHeardAt;
      if (silentMs > this.deps.heartbeatIntervalMs * HEARTBEAT_LATE_INTERVALS)
        return fail(
          'runtime_offline',
          `the desktop has not answered its heartbeat for ${Math.round(silentMs / 1000)} s (frozen, asleep or cut off)`,
        );
      const known = this.inFlight.get(call.id);
      if (known) {
        // Another node asking about a call that runs here (a GET, an MCP task's poll): it runs,
        // and its result goes there too. The same call re-sent while it still runs is dropped.
        if (call.lookup && known.origin !== origin) {
          (known.watchers ??= new Set()).add(origin);
          await this.deps.bus.send(origin, { kind: 'progress', callId: call.id, status: 'running' });
        }
        return;
      }
      const running = this.inFlightByRuntime.get(call.runtimeId) ?? 0;
      if (running >= this.deps.limits.maxInFlightPerRuntime)
        return fail(
          'busy',
          `${running} calls are in flight for this runtime (limit ${this.deps.limits.maxInFlightPerRuntime})`,
        );
      if (this.ws.bufferedAmount > this.deps.limits.maxSendQueueBytes)
        return fail('busy', 'the desktop is not reading its connection fast enough');
      const text = JSON.stringify(
        call.lookup
          ? ({ type: 'lookup', id: call.id, runtimeId: call.runtimeId, workspaceId } satisfies RelayFrame)
          : ({
              type: 'call',
              id: call.id,
              runtimeId: call.runtimeId,
              workspaceId,
              tool: call.tool,
              args: call.args,
              deadline: call.deadline,
              caller: call.caller,
              ...(call.firstAt !== undefined ? { firstAt: call.firstAt } : {}),
            } satisfies RelayFrame),
      );
      // The desktop would close the whole connection over a frame past the limit: refuse this one call instead.
      if (Buffer.byteLength(text) > this.deps.limits.maxFrameBytes)
        return fail('too_large', `the call does not fit in one frame of ${this.deps.limits.maxFrameBytes} bytes`);
      this.inFlight.set(call.id, { runtimeId: call.runtimeId, origin });
      this.inFlightByRuntime.set(call.runtimeId, running + 1);
      // The origin hears "delivered" before the desktop gets the call: were this node to die
      // between the two, the origin re-delivers to the desktop's next session (its journal keeps
      // the call once); the other way round, a call the desktop got would never come again.
      const delivered = this.deps.bus.send(origin, { kind: 'delivered', callId: call.id, sessionId: this.id });
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
      await delivered;
    });
  }

  /** Tells a greeted desktop that a hello for its device was refused for its key (at most once per DEVICE_NOTICE_INTERVAL_MS). */
  noticeClaimRefused(at: string): void {
    if (!this.live) return;
    const now = Date.now();
    if (now - this.lastNoticeAt < DEVICE_NOTICE_INTERVAL_MS) return;
    this.lastNoticeAt = now;
    this.send({ type: 'notice', kind: 'device_claim_refused', at });
  }

  /**
   * Tells the desktop about a call to one of its runtimes that was refused before delivery,
   * at most MAX_REFUSED_NOTICES_PER_MINUTE per window; the next one sent counts those left out.
   */
  notifyRefused(notice: RefusalNotice): void {
    const workspaceId = this.runtimes.get(notice.runtimeId);
    if (!this.live || workspaceId === undefined) return;
    const now = Date.now();
    if (now - this.refusedWindowStart >= REFUSED_NOTICE_WINDOW_MS) {
      this.refusedWindowStart = now;
      this.refusedInWindow = 0;
    }
    if (this.refusedInWindow >= MAX_REFUSED_NOTICES_PER_MINUTE) {
      this.refusedDropped++;
      return;
    }
    this.refusedInWindow++;
    this.send({
      type: 'refused',
      id: notice.callId,
      runtimeId: notice.runtimeId,
      workspaceId,
      tool: notice.tool,
      caller: notice.caller,
      code: notice.code,
      at: notice.at,
      dropped: this.refusedDropped,
    });
    this.refusedDropped = 0;
  }

  /** The runtime id of a workspace this connection announced, if it did. */
  runtimeIdOf(workspaceId: string): string | undefined {
    for (const [runtimeId, ws] of this.runtimes) if (ws === workspaceId) return runtimeId;
    return undefined;
  }

  /** Sends a frame to a greeted desktop, after any frame being handled (OAuth consent and lists). */
  sendFrame(frame: RelayFrame): void {
    this.enqueue(() => {
      if (this.live) this.send(frame);
    });
  }

  /**
   * Tells the desktop to stop a call it was given (by this session; `orphan`: by an earlier
   * connection, for a relay that no longer waits on it). The desktop stops a call it runs by
   * its id whichever connection brought it, and ignores one it does not run.
   */
  cancel(callId: string, reason: string, orphan = false): void {
    if (!this.untrack(callId) && !(orphan && this.live)) return;
    this.send({ type: 'cancel', id: callId, reason });
  }

  /** Sends a call's result to the node waiting on it and to those that looked it up meanwhile. */
  private async answer(
    entry: { origin: string; watchers?: Set<string> },
    callId: string,
    result: Result<unknown>,
  ): Promise<void> {
    const message = { kind: 'result' as const, callId, result };
    // Nobody looked it up: the usual case, on every call's path.
    if (!entry.watchers) return this.deps.bus.send(entry.origin, message);
    const origins = new Set([entry.origin, ...entry.watchers]);
    await Promise.all([...origins].map((node) => this.deps.bus.send(node, message)));
  }

  /** Forgets a call handed to the desktop; false when it was not in flight. */
  private untrack(callId: string): boolean {
    const entry = this.inFlight.get(callId);
    if (!entry) return false;
    this.inFlight.delete(callId);
    const left = (this.inFlightByRuntime.get(entry.runtimeId) ?? 1) - 1;
    if (left > 0) this.inFlightByRuntime.set(entry.runtimeId, left);
    else this.inFlightByRuntime.delete(entry.runtimeId);
    return true;
  }

  private send(frame: RelayFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(frame));
  }

  private enqueue(task: () => Promise<unknown> | void): void {
    if (++this.queued > MAX_QUEUED_FRAMES && !this.ws.isPaused) this.ws.pause();
    this.queue = this.queue.then(task).then(
      () => {
        if (--this.queued <= MAX_QUEUED_FRAMES / 2 && this.ws.isPaused) this.ws.resume();
      },
      (err: unknown) => {
        this.queued--;
        // An unexpected failure ends this connection, never the process.
        this.deps.logger.error(
          { session: this.id, err: err instanceof Error ? err.message : String(err) },
          'desktop frame handling failed',
        );
        this.close(1011, 'internal error');
      },
    );
  }

  private async handleText(text: string): Promise<void> {
    if (this.closing) return;
    const parsed = parseAppFrame(text, this.deps.limits.maxFrameBytes);
    if (!parsed.ok) {
      if (parsed.closeCode === CLOSE_CODES.tooComplex) await this.failRefusedResult(text, parsed.error.message);
      if (parsed.closeCode === CLOSE_CODES.protocolError && (await this.containBadFrame(text, parsed.error.message)))
        return;
      return this.close(parsed.closeCode, parsed.error.message);
    }
    const frame = parsed.frame;
    if (this.device === null && frame.type !== 'hello')
      return this.close(CLOSE_CODES.unexpectedFrame, 'the first frame must be hello');
    switch (frame.type) {
      case 'hello':
        return this.handleHello(frame);
      case 'workspaces': {
        const bindings = await this.announce(frame.workspaces, false);
        this.send({ type: 'runtimes', runtimes: bindings });
        return;
      }
      case 'progress': {
        const entry = this.inFlight.get(frame.id);
        // Unknown ids are late answers to calls already cancelled or timed out: not an error.
        if (!entry) return;
        await this.deps.bus.send(entry.origin, {
          kind: 'progress',
          callId: frame.id,
          status: frame.status,
          ...(frame.chunk !== undefined ? { chunk: frame.chunk } : {}),
        });
        return;
      }
      case 'result': {
        const entry = this.inFlight.get(frame.id);
        if (!entry) return;
        this.untrack(frame.id);
        const span = parsed.spans.value;
        if (frame.ok && span) rememberResultJson(frame.value, text.slice(span[0], span[1]));
        const result = frame.ok
          ? { ok: true as const, value: frame.value }
          : { ok: false as const, error: frame.error };
        await this.answer(entry, frame.id, result);
        return;
      }
      case 'event':
        return this.handleEvents(frame);
      case 'oauth_answer':
        return this.deps.oauth?.answer(this, frame);
      case 'oauth_revoke':
        return this.deps.oauth?.revoke(this, frame.authorizationId);
    }
  }

  /**
   * A result, progress or event frame of a greeted desktop that fails its schema costs only what
   * it is about: its call fails with `internal` naming the problem, or the progress or events are
   * dropped. Closing the connection would stop every runtime of the device over one bad answer
   * (and the relay would deliver the call again, to the same answer). True when contained;
   * anything else (not JSON, an unknown type, a bad hello or workspaces frame) still closes.
   */
  private async containBadFrame(text: string, problem: string): Promise<boolean> {
    if (this.device === null) return false;
    let frame: { type?: unknown; id?: unknown };
    try {
      frame = JSON.parse(text) as { type?: unknown; id?: unknown };
    } catch {
      return false;
    }
    if (typeof frame !== 'object' || frame === null) return false;
    if (frame.type !== 'result' && frame.type !== 'progress' && frame.type !== 'event') return false;
    this.badFrames++;
    // The first few, then one in a hundred: a desktop sending nothing else must not flood the log.
    if (this.badFrames <= 3 || this.badFrames % 100 === 0)
      this.deps.logger.warn(
        { session: this.id, device: this.device.deviceId, type: frame.type, count: this.badFrames, problem },
        'desktop frame failing its schema dropped',
      );
    if (frame.type !== 'result' || typeof frame.id !== 'string') return true;
    const entry = this.inFlight.get(frame.id);
    if (!entry) return true;
    this.untrack(frame.id);
    const error = errorValue('internal', `The desktop's answer did not follow the protocol (${problem}).`);
    await this.answer(entry, frame.id, { ok: false, error });
    return true;
  }

  /**
   * A frame refused for its depth or key count is never parsed, but a result among them names
   * its call at the top level: that call is answered with the reason (instead of waiting for
   * its deadline), before the socket is closed with `tooComplex`.
   */
  private async failRefusedResult(text: string, problem: string): Promise<void> {
    const { topLevel } = scanJson(text);
    if (topLevel.type !== 'result' || topLevel.id === undefined) return;
    const entry = this.inFlight.get(topLevel.id);
    if (!entry) return;
    this.untrack(topLevel.id);
    this.deps.logger.warn({ session: this.id, org: this.orgId, problem }, 'desktop result refused before parsing');
    const error = errorValue('internal', `The desktop's answer was refused (${problem}).`);
    await this.answer(entry, topLevel.id, { ok: false, error });
  }

  private async handleHello(frame: Extract<AppFrame, { type: 'hello' }>): Promise<void> {
    if (this.device !== null) return this.close(CLOSE_CODES.unexpectedFrame, 'hello came twice');
    if (frame.protocolVersion !== PROTOCOL_VERSION)
      return this.close(
        CLOSE_CODES.unsupportedVersion,
        `protocol version ${frame.protocolVersion} is not supported (this relay speaks ${PROTOCOL_VERSION})`,
      );
    this.clearHelloTimer();
    // Before anything else: a hello refused here must not replace the device's rightful connection.
    const proven = this.provenKey(frame);
    if (!proven.ok) return this.refuseDeviceKey(frame.device.deviceId, proven.log, proven.reason);
    const publicKey = proven.publicKey;
    const claim = await this.deps.store.claimDevice({
      orgId: this.orgId,
      deviceId: frame.device.deviceId,
      name: frame.device.name,
      os: frame.device.os,
      appVersion: frame.appVersion,
      lastSeenAt: new Date().toISOString(),
      tokenId: this.token.id,
      publicKey,
    });
    if (!claim.ok && 'keyRefused' in claim)
      return this.refuseDeviceKey(
        frame.device.deviceId,
        { message: 'hello refused: the device is bound to another device key', keyed: publicKey !== null },
        'this device id is bound to another device key; re-pair this device, or have the admin forget its key',
      );
    if (!claim.ok) {
      this.deps.logger.warn(
        {
          session: this.id,
          org: this.orgId,
          device: frame.device.deviceId,
          token: this.token.id,
          boundTo: claim.boundTokenId,
        },
        'hello refused: the device is registered to another desktop token',
      );
      return this.close(
        CLOSE_CODES.deviceClaimed,
        'this device is registered to another desktop token; revoke that token to link the device to this one',
      );
    }
    if (claim.tookOverFrom !== null)
      this.deps.logger.info(
        {
          session: this.id,
          org: this.orgId,
          device: frame.device.deviceId,
          token: this.token.id,
          from: claim.tookOverFrom,
        },
        'device moved to a new desktop token (the old one is no longer valid)',
      );
    if (claim.keyBound)
      this.deps.logger.info(
        { session: this.id, org: this.orgId, device: frame.device.deviceId, token: this.token.id },
        'device bound to its device key',
      );
    if (this.closing) return;
    this.device = frame.device;
    this.helloAt = nextHelloAt();
    await this.deps.onHello(this);
    // A newer hello of the same device may have replaced this session while it waited: it must
    // not attach the runtimes now (they would be taken from the newer session), nor say welcome.
    if (this.closing) return;
    const bindings = await this.announce(frame.workspaces, true);
    this.send({
      type: 'welcome',
      sessionId: this.id,
      runtimes: bindings,
      limits: {
        maxFrameBytes: this.deps.limits.maxFrameBytes,
        maxInFlightPerRuntime: this.deps.limits.maxInFlightPerRuntime,
      },
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
    });
    this.deps.logger.info(
      { session: this.id, org: this.orgId, device: frame.device.deviceId, runtimes: bindings.length },
      'desktop connected',
    );
    if (this.deps.oauth) for (const f of await this.deps.oauth.greet(this.orgId)) this.send(f);
  }

  /**
   * The device key a hello proves for this connection: null for a hello without a proof (a
   * desktop older than device keys; the store decides), or why the proof fails: it names a
   * relay host that is not this relay's, or its signature does not verify for this
   * connection's nonce (a replayed or forged hello).
   */
  private provenKey(
    frame: Extract<AppFrame, { type: 'hello' }>,
  ):
    | { ok: true; publicKey: string | null }
    | { ok: false; log: { message: string; [field: string]: unknown }; reason: string } {
    if (frame.proof === undefined) return { ok: true, publicKey: null };
    const signedFor = frame.proof.relayHost.toLowerCase();
    if (!this.deps.relayHosts.includes(signedFor))
      return {
        ok: false,
        log: {
          message: 'hello refused: its device key proof names another relay host',
          signedFor,
          relayHosts: this.deps.relayHosts,
        },
        reason: `the device key proof is for relay host ${signedFor}, not this relay (a proxy must pass Host, or --public-host name it)`,
      };
    if (!verifyDeviceProof(frame.proof, { deviceId: frame.device.deviceId, nonce: this.nonce }))
      return {
        ok: false,
        log: { message: 'hello refused: its device key proof does not verify for this connection' },
        reason: 'the device key proof does not verify for this connection (a replayed or relayed signature?)',
      };
    return { ok: true, publicKey: frame.proof.publicKey };
  }

  /**
   * Closes with 4412 and tells the device's own connection, on whichever node it lives, that a
   * hello for it was refused: whoever sent it has the desktop token and the device id.
   */
  private async refuseDeviceKey(
    deviceId: string,
    log: { message: string; [field: string]: unknown },
    reason: string,
  ): Promise<void> {
    const { message, ...fields } = log;
    this.deps.logger.warn(
      { session: this.id, org: this.orgId, device: deviceId, token: this.token.id, ...fields },
      message,
    );
    this.close(CLOSE_CODES.deviceKeyRefused, reason);
    await this.deps.bus.broadcast({
      kind: 'device-claim-refused',
      orgId: this.orgId,
      deviceId,
      at: new Date().toISOString(),
    });
  }

  private async announce(workspaces: Parameters<RuntimeDirectory['announce']>[1], attach: boolean) {
    const device = this.device!;
    const seen = new Set<string>();
    for (const ws of workspaces) {
      if (seen.has(ws.workspaceId)) {
        this.close(CLOSE_CODES.protocolError, `workspace ${ws.workspaceId} is announced twice`);
        return [];
      }
      seen.add(ws.workspaceId);
    }
    if (await this.overRuntimeLimit(workspaces)) return [];
    const bindings = await this.deps.directory.withDevice(this.orgId, device.deviceId, () =>
      this.deps.directory.announce({ orgId: this.orgId, sessionId: this.id, device }, workspaces, attach),
    );
    this.runtimes.clear();
    for (const b of bindings) this.runtimes.set(b.runtimeId, b.workspaceId);
    return bindings;
  }

  /**
   * Whether announcing these workspaces would take the org past maxRuntimesPerOrg; then the
   * socket is closed with 4429. Only new workspaces count (a reconnect re-announcing its own is
   * always fine). Checked per frame, so concurrent hellos may pass the cap by a frame's worth.
   */
  private async overRuntimeLimit(workspaces: ReadonlyArray<{ workspaceId: string }>): Promise<boolean> {
    const cap = this.deps.limits.maxRuntimesPerOrg;
    if (cap === 0 || workspaces.length === 0) return false;
    const known = new Set(
      (await this.deps.store.listRuntimes(this.orgId, { deviceId: this.device!.deviceId }))
        .filter((r) => r.state !== 'archived')
        .map((r) => r.workspaceId),
    );
    const fresh = workspaces.filter((w) => !known.has(w.workspaceId)).length;
    if (fresh === 0) return false;
    const active = await this.deps.store.countActiveRuntimes(this.orgId);
    if (active + fresh <= cap) return false;
    this.deps.logger.warn(
      { session: this.id, org: this.orgId, active, fresh, cap },
      'runtime limit of the org reached',
    );
    this.close(CLOSE_CODES.tooManyRuntimes, `the org has ${active} runtimes; the relay's limit is ${cap}`);
    return true;
  }

  private async handleEvents(frame: Extract<AppFrame, { type: 'event' }>): Promise<void> {
    const byWorkspace = new Map([...this.runtimes].map(([runtimeId, workspaceId]) => [workspaceId, runtimeId]));
    for (const event of frame.events) {
      const runtimeId = byWorkspace.get(event.workspaceId);
      if (runtimeId === undefined) continue; // an event for a workspace not announced: ignored, not trusted
      if (event.kind === 'files') {
        await this.deps.bus.publish({ type: 'files', runtimeId, changes: event.changes, dropped: event.dropped });
      } else {
        const device = this.device!;
        await this.deps.directory.withDevice(this.orgId, device.deviceId, () =>
          this.deps.directory.setHealth(runtimeId, event.state, event.reason),
        );
      }
    }
  }
}

let lastHelloAt = 0;

/**
 * The time of a hello, strictly increasing on this node: a newer connection of a device
 * replaces the older one by comparing these, and two hellos in the same millisecond must not
 * tie (with a tie broken by session id, the later hello could find the earlier one "newer" and
 * close neither). A burst of hellos runs this ahead of the clock by at most a millisecond each;
 * it only orders hellos.
 */
function nextHelloAt(): number {
  lastHelloAt = Math.max(Date.now(), lastHelloAt + 1);
  return lastHelloAt;
}
