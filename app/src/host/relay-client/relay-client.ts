import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import {
  CLOSE_CODES,
  FLOW_HIGH_WATERMARK_BYTES,
  HEARTBEAT_INTERVAL_MS,
  MAX_FRAME_BYTES,
  MISSED_HEARTBEATS_BEFORE_DEAD,
  PROTOCOL_VERSION,
  errorValue,
  idSchema,
  jsonBoundsViolation,
  parseRelayFrame,
  scanJson,
  type AppEvent,
  type AppFrame,
  type CallFrame,
  type ConnectionState,
  type Device,
  type DeviceProof,
  type ProgressFrame,
  type Result,
  type ToolErrorValue,
  type WelcomeFrame,
  type WorkspaceAnnouncement,
} from '@tether/shared';
import { Backoff, type BackoffOptions } from './backoff.js';
import { closeFailure, describeNetworkError, type ConnectionAlert, type Failure } from './connection-failure.js';
import { connectUrlOf } from './connect-url.js';
import { DrainWaiters } from './drain-waiters.js';

/** The upgrade plus the `welcome` must arrive within this: a relay that accepts TCP and then says nothing is as good as down. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** Bounds on the heartbeat interval the (untrusted) relay asks for: a tiny one would make the app ping in a loop, a huge one would hide a dead link. */
export const MIN_HEARTBEAT_INTERVAL_MS = 100;
export const MAX_HEARTBEAT_INTERVAL_MS = 5 * 60_000;

/** How long `dispose()` waits for the relay to acknowledge the close before dropping the socket. */
export const CLOSE_GRACE_MS = 1_000;

/** What a call reports while it runs (a `progress` frame without its envelope). */
export type CallProgress = Omit<ProgressFrame, 'type' | 'id'>;

/** Where a running call sends its progress. `progress()` returns false when the socket is behind. */
export interface CallSink {
  progress(progress: CallProgress): boolean;
  whenDrained(): Promise<void>;
}

/** What runs calls: the host's CallRunner (exactly once per call id, policy, confirmation, audit). */
export interface CallDispatcher {
  run(call: CallFrame, sink: CallSink): Promise<Result<unknown>>;
  cancel(callId: string): void;
  /** The result of a call given before, never running anything (a `lookup` frame); absent: `not_found`. */
  lookup?(callId: string, sink: CallSink): Promise<Result<unknown>>;
}

/** A workspace's runtime id, as the relay assigned it. */
export interface RuntimeBinding {
  workspaceId: string;
  runtimeId: string;
}

/** The connection as the person sees it. */
export interface RelayStatus {
  state: ConnectionState;
  /** Why the state is what it is (always set for `error`, and while retrying). */
  reason?: string;
  enabled: boolean;
  relayUrl: string;
  /** Set while the state asks the person to act (with `error`): e.g. re-pair the device. */
  alert?: ConnectionAlert;
  /**
   * When (epoch ms, this machine's clock) the relay last said it refused a hello for this device
   * for its key: someone has the desktop token and the device id. Cleared by a new token.
   */
  claimRefusedAt?: number;
}

/** What proves the device in `hello`: its key (DeviceKey), signing one connection's challenge. */
export interface DeviceProver {
  prove(context: { relayHost: string; deviceId: string; nonce: string }): DeviceProof;
}

/** Options of a `RelayClient`. */
export interface RelayClientOptions {
  relayUrl: string;
  /** The desktop token (`tdt_…`); without one the client stays in `error` until `configure({ token })`. */
  token?: string | undefined;
  /** A PEM file with the CA that signed a self-hosted relay's certificate (wss only; replaces the system CAs). */
  caFile?: string | undefined;
  /** Allow an unencrypted relay that is not on this machine (`--insecure-relay`). */
  allowInsecureRelay?: boolean | undefined;
  /** The device as `hello` names it (read at every connect: the person may rename it). */
  device: () => Device;
  /**
   * The device's key (read at every connect: re-pairing replaces it). With one, `hello` waits for
   * the relay's `challenge` and carries the proof; without, it is sent at once with none (as
   * desktops older than device keys did; the relay then refuses it for a device that has a key).
   */
  deviceKey?: () => DeviceProver;
  appVersion: string;
  /** The current workspace announcements, read for `hello` and for every `workspaces` frame. */
  announcements: () => WorkspaceAnnouncement[];
  calls: CallDispatcher;
  /** Start connected (default true). */
  enabled?: boolean;
  backoff?: BackoffOptions;
  log?: (line: string) => void;
}

/**
 * The desktop's one outbound connection to the relay (DESIGN.md, Wire protocol). Says `hello`,
 * keeps the relay told about workspaces and their events, runs the calls it receives through
 * the CallDispatcher, keeps the link alive with heartbeats and reconnects with backoff. Every
 * frame from the relay is validated (the relay is not trusted); a bad one is logged and ignored.
 * Emits `status` (RelayStatus), `runtimes` (RuntimeBinding[]), `refused` (RefusedFrame: a call
 * the relay refused before delivery, about one of this connection's runtimes) and `oauth` (the
 * OAuth consent frames).
 */
export class RelayClient extends EventEmitter {
  private ws: WebSocket | undefined;
  private welcomed = false;
  /** Whether this connection's hello went out (it answers the first challenge only). */
  private helloSent = false;
  /** The relay's host as this connection reached it: what the device proof names. */
  private relayHost = '';
  private failure: Failure | undefined;
  private state: ConnectionState = 'disconnected';
  private reason: string | undefined;
  private alert: ConnectionAlert | undefined;
  private claimRefusedAt: number | undefined;
  private enabled: boolean;
  private disposed = false;
  private generation = 0;
  private relayUrl: string;
  private token: string | undefined;
  private missedPongs = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Set at welcome: the first pong after it resets the backoff (the relay is up and answering). */
  private resetBackoffOnPong = false;
  /** Closes in a row for a frame of this desktop the relay refused as too large (1009, 4413). */
  private oversizeCloses = 0;
  private readonly backoff: Backoff;
  private readonly drains = new DrainWaiters();
  private bindings: RuntimeBinding[] = [];
  /** The announcements last sent on this connection, so unchanged ones are not sent again. */
  private announced: string | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RelayClientOptions) {
    super();
    this.relayUrl = options.relayUrl;
    this.token = options.token;
    this.enabled = options.enabled ?? true;
    this.backoff = new Backoff(options.backoff);
    this.log = options.log ?? (() => {});
    if (this.enabled) void this.open();
  }

  /** The connection state, its reason, whether it is switched on, and the relay URL. */
  get status(): RelayStatus {
    const status: RelayStatus = { state: this.state, enabled: this.enabled, relayUrl: this.relayUrl };
    if (this.reason !== undefined) status.reason = this.reason;
    if (this.alert !== undefined) status.alert = this.alert;
    if (this.claimRefusedAt !== undefined) status.claimRefusedAt = this.claimRefusedAt;
    return status;
  }

  /** The runtime ids the relay gave this device's workspaces (from `welcome` and `runtimes`). */
  get runtimes(): readonly RuntimeBinding[] {
    return this.bindings;
  }

  /** Connects (true) or disconnects and stays disconnected (false). Connecting again also retries after an `error`. */
  setEnabled(enabled: boolean): void {
    if (this.disposed) return;
    if (enabled && this.enabled && this.state !== 'error' && this.state !== 'disconnected') return;
    this.restart(enabled);
  }

  /** Changes the relay URL and/or token and reconnects with them (when enabled). */
  configure(change: { relayUrl?: string; token?: string | undefined }): void {
    if (this.disposed) return;
    if (change.relayUrl !== undefined) this.relayUrl = change.relayUrl;
    if ('token' in change) {
      this.token = change.token;
      // The leaked token is being replaced: its warning has done its job.
      this.claimRefusedAt = undefined;
    }
    this.restart(this.enabled);
  }

  private restart(enabled: boolean): void {
    this.enabled = enabled;
    this.dropConnection('disconnected by the person');
    this.backoff.reset();
    this.oversizeCloses = 0;
    if (enabled) void this.open();
    else this.setState('disconnected', undefined);
  }

  /** Tells the relay the current workspaces (after the person adds, removes or edits one). */
  sendWorkspaces(): void {
    const ws = this.ws;
    // Before `open` the coming `hello` carries them; after it, a frame keeps the relay current.
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    const workspaces = this.options.announcements();
    const text = JSON.stringify(workspaces);
    if (text === this.announced) return;
    this.announced = text;
    this.send(ws, { type: 'workspaces', workspaces });
  }

  /** Sends an OAuth answer or revocation; false when not connected (nothing is queued for later). */
  sendOAuth(frame: Extract<AppFrame, { type: 'oauth_answer' | 'oauth_revoke' }>): boolean {
    const ws = this.ws;
    if (ws === undefined || !this.welcomed || ws.readyState !== WebSocket.OPEN) return false;
    this.send(ws, frame);
    return true;
  }

  /** Sends file-change and health events (already batched by the WorkspaceSet); dropped while offline. */
  sendEvents(events: AppEvent[]): void {
    const ws = this.ws;
    if (ws === undefined || !this.welcomed) return;
    for (let i = 0; i < events.length; i += 100) {
      this.send(ws, { type: 'event', events: events.slice(i, i + 100) });
    }
  }

  /** Closes the connection and every timer; the client cannot be used afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.enabled = false;
    const ws = this.ws;
    this.dropConnection('the desktop is shutting down');
    this.drains.dispose();
    this.setState('disconnected', undefined);
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, CLOSE_GRACE_MS);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.removeAllListeners();
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.clearTimer('reconnectTimer');
    if (!this.enabled || this.disposed) return;
    if (this.token === undefined || this.token === '') {
      this.setState('error', 'No desktop token: add one in Settings, or pass --token / TETHER_TOKEN');
      return;
    }
    let url: URL;
    try {
      url = connectUrlOf(this.relayUrl, { allowInsecure: this.options.allowInsecureRelay === true });
    } catch (err) {
      this.setState('error', (err as Error).message);
      return;
    }
    // While retrying, keep the last failure as the reason; a fresh start has none (an old error's reason no longer applies).
    if (this.state !== 'connecting') this.setState('connecting', undefined);
    let ca: Buffer | undefined;
    if (this.options.caFile !== undefined && url.protocol === 'wss:') {
      try {
        ca = await readFile(this.options.caFile);
      } catch (err) {
        this.setState(
          'error',
          `Cannot read the CA file ${this.options.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        );
        return;
      }
      if (generation !== this.generation || !this.enabled || this.disposed) return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        headers: { Authorization: `Bearer ${this.token}` },
        maxPayload: MAX_FRAME_BYTES,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        perMessageDeflate: false,
        followRedirects: false,
        ...(ca !== undefined ? { ca } : {}),
      });
    } catch (err) {
      // E.g. a token with characters a header cannot carry; Node's message names the header, not its value.
      this.setState('error', `Cannot connect: ${(err as Error).message}`);
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    this.helloSent = false;
    this.relayHost = url.host;
    this.failure = undefined;
    this.handshakeTimer = setTimeout(() => {
      this.failure = { reason: 'the relay did not answer hello in time', final: false };
      ws.terminate();
    }, HANDSHAKE_TIMEOUT_MS);
    ws.on('unexpected-response', (req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      this.failure =
        status === 401 || status === 403
          ? { reason: `The relay refused the desktop token (HTTP ${status}); add a valid one in Settings`, final: true }
          : {
              reason:
                status === 429
                  ? 'the relay is limiting connections from this address (HTTP 429)'
                  : `the relay answered HTTP ${status} instead of a WebSocket`,
              final: false,
              ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
            };
      req.destroy();
      ws.terminate();
    });
    ws.on('error', (err) => {
      // Always listened to (an unhandled 'error' would crash the host); the close that follows decides.
      this.failure ??= { reason: describeNetworkError(err), final: false };
    });
    ws.on('open', () => {
      // With a device key the hello answers the relay's challenge (its first frame).
      if (this.options.deviceKey === undefined) this.sendHello(ws, undefined);
    });
    ws.on('message', (data, isBinary) => this.onMessage(ws, data, isBinary));
    ws.on('ping', () => (this.missedPongs = 0));
    ws.on('pong', () => {
      this.missedPongs = 0;
      if (ws !== this.ws || !this.welcomed || !this.resetBackoffOnPong) return;
      // Welcomed and a heartbeat went there and back: the relay is up. The next drop starts from
      // the shortest delay (waiting for 30 s of connection first cost 20-29 s after back-to-back restarts).
      this.resetBackoffOnPong = false;
      this.backoff.reset();
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString('utf8')));
  }

  private onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (ws !== this.ws) return;
    this.missedPongs = 0;
    if (isBinary) {
      this.log('relay: ignored a binary frame');
      return;
    }
    const text = rawText(data);
    const parsed = parseRelayFrame(text);
    if (!parsed.ok) {
      this.log(`relay: ignored a bad frame (${parsed.error.message})`);
      if (parsed.closeCode === CLOSE_CODES.tooComplex && this.welcomed) this.refuseUnparsedCall(ws, text, parsed.error);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'challenge') {
      // Without a device key the hello went out at open and carries no proof: nothing to answer.
      if (this.options.deviceKey === undefined) return;
      if (this.helloSent) this.log('relay: ignored a challenge after hello');
      else this.sendHello(ws, frame.nonce);
      return;
    }
    if (frame.type !== 'welcome' && !this.welcomed) {
      this.log(`relay: ignored a ${frame.type} frame before welcome`);
      return;
    }
    switch (frame.type) {
      case 'welcome':
        if (this.welcomed) this.log('relay: ignored a second welcome');
        else this.onWelcome(ws, frame);
        return;
      case 'runtimes':
        this.setBindings(frame.runtimes);
        return;
      case 'call':
        this.dispatch(ws, frame);
        return;
      case 'cancel':
        this.options.calls.cancel(frame.id);
        return;
      case 'lookup':
        this.dispatchLookup(ws, frame.id);
        return;
      case 'notice':
        // The relay's clock is not trusted: the time is when this desktop heard of it.
        this.claimRefusedAt = Date.now();
        this.log('relay: a hello for this device was refused for its key: someone else has the desktop token');
        this.emit('status', this.status);
        return;
      case 'refused':
        // Only about a runtime of this connection, under the workspace it belongs to.
        if (this.bindings.some((b) => b.runtimeId === frame.runtimeId && b.workspaceId === frame.workspaceId))
          this.emit('refused', frame);
        else this.log(`relay: ignored a refused notice for a runtime this device does not hold`);
        break;
      case 'oauth_consent':
      case 'oauth_consent_closed':
      case 'oauth_authorizations':
        // Validated above; the host's OAuthConsents judges them (the relay is not trusted).
        this.emit('oauth', frame);
        return;
    }
  }

  /** Says hello once per connection; with a nonce, proving the device key for this relay and connection. */
  private sendHello(ws: WebSocket, nonce: string | undefined): void {
    if (ws !== this.ws || this.helloSent) return;
    this.helloSent = true;
    const workspaces = this.options.announcements();
    const device = this.options.device();
    this.announced = JSON.stringify(workspaces);
    let proof: DeviceProof | undefined;
    if (nonce !== undefined && this.options.deviceKey !== undefined) {
      proof = this.options.deviceKey().prove({ relayHost: this.relayHost, deviceId: device.deviceId, nonce });
    }
    this.send(ws, {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      device,
      appVersion: this.options.appVersion,
      workspaces,
      ...(proof !== undefined ? { proof } : {}),
    });
  }

  private onWelcome(ws: WebSocket, frame: WelcomeFrame): void {
    this.welcomed = true;
    this.clearTimer('handshakeTimer');
    this.setBindings(frame.runtimes);
    const interval = Math.min(
      MAX_HEARTBEAT_INTERVAL_MS,
      Math.max(MIN_HEARTBEAT_INTERVAL_MS, frame.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS),
    );
    this.missedPongs = 0;
    this.heartbeatTimer = setInterval(() => {
      if (this.missedPongs >= MISSED_HEARTBEATS_BEFORE_DEAD) {
        this.failure = { reason: 'the relay stopped answering heartbeats', final: false };
        ws.terminate();
        return;
      }
      this.missedPongs++;
      ws.ping();
    }, interval);
    this.resetBackoffOnPong = true;
    ws.ping();
    this.setState('connected', undefined);
    this.log(`relay: connected to ${this.relayUrl} (session ${frame.sessionId})`);
  }

  private dispatch(ws: WebSocket, call: CallFrame): void {
    this.answer(ws, call.id, (sink) => this.options.calls.run(call, sink));
  }

  private dispatchLookup(ws: WebSocket, id: string): void {
    const lookup = this.options.calls.lookup?.bind(this.options.calls);
    this.answer(ws, id, (sink) =>
      lookup
        ? lookup(id, sink)
        : Promise.resolve({ ok: false, error: errorValue('not_found', 'This desktop keeps no results.') }),
    );
  }

  /** Runs `work` with a sink on this connection and sends its result as the call's `result` frame. */
  private answer(ws: WebSocket, id: string, work: (sink: CallSink) => Promise<Result<unknown>>): void {
    const sink: CallSink = {
      progress: (progress) => {
        this.send(ws, { type: 'progress', id, ...progress });
        return ws.bufferedAmount <= FLOW_HIGH_WATERMARK_BYTES;
      },
      whenDrained: () => this.drains.wait(ws),
    };
    work(sink).then(
      (result) => this.sendResult(ws, id, result),
      (err: unknown) => {
        this.log(`call ${id}: failed unexpectedly: ${(err as Error)?.message ?? String(err)}`);
        this.sendResult(ws, id, { ok: false, error: errorValue('internal') });
      },
    );
  }

  /**
   * Answers on the connection the call came in on. If that one is gone the result is dropped
   * here: the relay re-delivers the call on the new connection, and the CallRunner answers it
   * from its cache of recent results without running it again.
   */
  private sendResult(ws: WebSocket, id: string, result: Result<unknown>): void {
    const frame: AppFrame = result.ok
      ? { type: 'result', id, ok: true, value: result.value }
      : { type: 'result', id, ok: false, error: result.error };
    // Encoded once: the byte count below and the socket both use these bytes (ws would encode a
    // string again; counting a 2 MiB read's result in JS took longer than reading the file).
    const text = JSON.stringify(frame);
    const data = Buffer.from(text, 'utf8');
    // A frame the relay would refuse would close the connection and get the call re-delivered forever.
    if (data.length > MAX_FRAME_BYTES) {
      this.send(ws, {
        type: 'result',
        id,
        ok: false,
        error: errorValue('too_large', `The result is larger than ${MAX_FRAME_BYTES} bytes`),
      });
      return;
    }
    // Nor one past the depth and key bounds (the relay closes with 4413). The scan skips over
    // strings natively, so it costs little next to the encoding.
    const bounds = jsonBoundsViolation(text);
    if (bounds !== null) {
      this.log(`call ${id}: result refused before sending: ${bounds.message}`);
      this.send(ws, {
        type: 'result',
        id,
        ok: false,
        error: errorValue('too_large', `The result is too complex to send: ${bounds.message}`),
      });
      return;
    }
    this.sendText(ws, data);
  }

  /**
   * A frame refused unparsed for its depth or key count is never run, but when it names a call
   * at its top level that call is answered (`invalid_args`), so the platform is not left waiting
   * for its deadline.
   */
  private refuseUnparsedCall(ws: WebSocket, text: string, error: ToolErrorValue): void {
    const { topLevel } = scanJson(text);
    if (topLevel.type !== 'call' || !idSchema.safeParse(topLevel.id).success) return;
    this.sendResult(ws, topLevel.id!, { ok: false, error: errorValue('invalid_args', error.message) });
  }

  private send(ws: WebSocket, frame: AppFrame): void {
    this.sendText(ws, JSON.stringify(frame));
  }

  /** Sends one text frame: a string, or its UTF-8 bytes already encoded. */
  private sendText(ws: WebSocket, text: string | Buffer): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(text, { binary: false }, (err) => {
      if (err) this.log(`relay: send failed: ${err.message}`);
    });
  }

  private onClose(ws: WebSocket, code: number, closeReason: string): void {
    if (ws !== this.ws) return;
    const failure = this.failure;
    this.dropConnection();
    if (this.disposed) return;
    if (!this.enabled) {
      this.setState('disconnected', undefined);
      return;
    }
    const why = failure ?? closeFailure(code, closeReason);
    if (why.final) {
      this.log(`relay: not reconnecting: ${why.reason}`);
      this.setState('error', why.reason, why.alert);
      return;
    }
    // A frame refused as too large: the same work may make it again at once (a re-delivered
    // call, a re-sent announcement). The welcome's pong reset the backoff, so the floor is the
    // longest backoff, doubling with each such close in a row, up to RETRY_AFTER_MAX_MS.
    this.oversizeCloses = why.oversize === true ? this.oversizeCloses + 1 : 0;
    const oversizeFloorMs =
      this.oversizeCloses > 0
        ? Math.min(this.backoff.ceilingMs * 2 ** Math.min(this.oversizeCloses - 1, 20), RETRY_AFTER_MAX_MS)
        : 0;
    // A relay that says when to come back (429/503 with Retry-After, 4429) is not asked sooner.
    const delayMs = Math.max(this.backoff.next(), why.retryAfterMs ?? 0, oversizeFloorMs);
    this.log(`relay: ${why.reason}; reconnecting in ${delayMs} ms`);
    this.setState('connecting', `${why.reason}; ${retryingIn(delayMs)}`);
    this.reconnectTimer = setTimeout(() => void this.open(), delayMs);
  }

  /** Forgets the current socket and its timers; closes it if it is still open. */
  private dropConnection(closeReason?: string): void {
    this.generation++;
    for (const name of ['reconnectTimer', 'handshakeTimer', 'heartbeatTimer'] as const) this.clearTimer(name);
    this.resetBackoffOnPong = false;
    const ws = this.ws;
    this.ws = undefined;
    this.welcomed = false;
    if (ws === undefined) return;
    this.drains.release(ws);
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, closeReason ?? '');
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  }

  private setBindings(bindings: RuntimeBinding[]): void {
    this.bindings = bindings.map((b) => ({ workspaceId: b.workspaceId, runtimeId: b.runtimeId }));
    this.emit('runtimes', this.bindings);
  }

  private setState(state: ConnectionState, reason: string | undefined, alert?: ConnectionAlert): void {
    if (state === this.state && reason === this.reason && alert === this.alert) return;
    this.state = state;
    this.reason = reason;
    this.alert = alert;
    this.emit('status', this.status);
  }

  private clearTimer(name: 'reconnectTimer' | 'handshakeTimer' | 'heartbeatTimer'): void {
    const timer = this[name];
    if (timer !== undefined) {
      clearTimeout(timer);
      this[name] = undefined;
    }
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** When the next attempt is, for the person: only a wait long enough to notice is spelled out. */
function retryingIn(delayMs: number): string {
  if (delayMs >= 60_000) return `retrying in ${Math.round(delayMs / 60_000)} min`;
  if (delayMs >= 10_000) return `retrying in ${Math.round(delayMs / 1000)} s`;
  return 'retrying';
}

/** The longest Retry-After honoured: a relay cannot park the desktop for longer than this. */
export const RETRY_AFTER_MAX_MS = 10 * 60_000;

/** A Retry-After header (seconds or an HTTP date) in milliseconds from now, capped; undefined if absent or unreadable. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS);
}
