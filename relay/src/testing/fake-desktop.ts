import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import {
  DEFAULT_POLICY,
  PROTOCOL_VERSION,
  TOOL_NAMES,
  deviceProofMessage,
  parseRelayFrame,
  type AppFrame,
  type CallFrame,
  type Device,
  type DeviceProof,
  type RelayFrame,
  type WelcomeFrame,
  type WorkspaceAnnouncement,
} from '@tether/shared';

/** A workspace announcement with every tool on, for tests. */
export function testWorkspace(
  workspaceId: string,
  overrides: Partial<WorkspaceAnnouncement> = {},
): WorkspaceAnnouncement {
  return {
    workspaceId,
    name: `Workspace ${workspaceId}`,
    description: '',
    state: 'running',
    capabilities: { policy: { ...DEFAULT_POLICY }, tools: [...TOOL_NAMES] },
    ...overrides,
  };
}

/** An Ed25519 device key pair, as a desktop makes one at its first run. */
export class FakeDeviceKey {
  readonly publicKey: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey.export({ format: 'jwk' }).x!;
  }

  /** The hello proof for one connection: the signature of its proof message. */
  prove(context: { relayHost: string; deviceId: string; nonce: string }): DeviceProof {
    const message = deviceProofMessage({ ...context, publicKey: this.publicKey });
    return {
      publicKey: this.publicKey,
      relayHost: context.relayHost,
      signature: sign(null, Buffer.from(message), this.privateKey).toString('base64url'),
    };
  }
}

/**
 * One key per device id for the whole test process: a test that connects the same device again
 * (a reconnect, a restart) proves the same key, as a real desktop would. An impostor passes a key of its own.
 */
const deviceKeys = new Map<string, FakeDeviceKey>();
export function deviceKeyOf(deviceId: string): FakeDeviceKey {
  let key = deviceKeys.get(deviceId);
  if (!key) deviceKeys.set(deviceId, (key = new FakeDeviceKey()));
  return key;
}

/** Why a connection attempt failed before any frame: the HTTP status of the refused upgrade. */
export async function refusedUpgradeStatus(wsUrl: string, authorization: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: authorization !== undefined ? { authorization } : {} });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => undefined);
  });
}

/**
 * A real WebSocket client playing a Tether Desktop, for the relay's tests (and the
 * benchmarks): sends frames, records and awaits the relay's frames, answers calls
 * with a handler. Never a mock of the relay: it talks to a real server.
 */
export class FakeDesktop {
  readonly frames: RelayFrame[] = [];
  private readonly waiters = new Set<() => void>();
  private cursor = new Map<string, number>();
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The relay's challenge nonce of this connection (its first frame; kept out of `frames`). */
  readonly challenge: Promise<string>;
  /** Answers each call; return undefined to leave it unanswered. */
  onCall: ((call: CallFrame, desktop: FakeDesktop) => void) | null = null;

  private constructor(
    readonly ws: WebSocket,
    /** The relay's host as this desktop reached it: what its device proof signs. */
    readonly relayHost: string,
  ) {
    let challenged!: (nonce: string) => void;
    this.challenge = new Promise((resolve) => (challenged = resolve));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
    ws.on('message', (data) => {
      const parsed = parseRelayFrame(data.toString());
      if (!parsed.ok) throw new Error(`the relay sent a bad frame: ${parsed.error.message}`);
      if (parsed.frame.type === 'challenge') return challenged(parsed.frame.nonce);
      this.frames.push(parsed.frame);
      if (parsed.frame.type === 'call' && this.onCall) this.onCall(parsed.frame, this);
      this.waiters.forEach((w) => w());
    });
    ws.on('error', () => undefined);
  }

  /** Opens a connection with a desktop token. `autoPong: false` plays a peer whose heartbeat died. */
  static async connect(
    wsUrl: string,
    token: string,
    options: { autoPong?: boolean; hostHeader?: string } = {},
  ): Promise<FakeDesktop> {
    const ws = new WebSocket(wsUrl, {
      // `hostHeader` plays a relay passing a desktop's connection on under a name of its own.
      headers: { authorization: `Bearer ${token}`, ...(options.hostHeader ? { host: options.hostHeader } : {}) },
      autoPong: options.autoPong ?? true,
      rejectUnauthorized: false,
    });
    // Listening before the upgrade completes: the relay's challenge can arrive with the 101 answer.
    const desktop = new FakeDesktop(ws, options.hostHeader ?? new URL(wsUrl).host);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return desktop;
  }

  /**
   * Sends `hello` and waits for `welcome`. The hello proves the device's key (`deviceKeyOf`) for
   * this connection's challenge, unless `key` names another one, or null (a desktop older than device keys).
   */
  async hello(
    device: Device,
    workspaces: WorkspaceAnnouncement[],
    options: { key?: FakeDeviceKey | null } = {},
  ): Promise<WelcomeFrame> {
    await this.sendHello(device, workspaces, options);
    return this.next('welcome');
  }

  /** Sends `hello` (with its device proof, as `hello`) without waiting for an answer; returns the proof. */
  async sendHello(
    device: Device,
    workspaces: WorkspaceAnnouncement[],
    options: { key?: FakeDeviceKey | null } = {},
  ): Promise<DeviceProof | undefined> {
    const key = options.key === undefined ? deviceKeyOf(device.deviceId) : options.key;
    const proof = key?.prove({ relayHost: this.relayHost, deviceId: device.deviceId, nonce: await this.challenge });
    this.send({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      device,
      appVersion: '0.1.0-test',
      workspaces,
      ...(proof ? { proof } : {}),
    });
    return proof;
  }

  send(frame: AppFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The next frame of this type not returned before (by `next`), waiting up to `timeoutMs`. */
  async next<T extends RelayFrame['type']>(
    type: T,
    predicate: (f: Extract<RelayFrame, { type: T }>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<RelayFrame, { type: T }>> {
    const key = type;
    return new Promise((resolve, reject) => {
      const check = () => {
        const from = this.cursor.get(key) ?? 0;
        for (let i = from; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (f.type === type && predicate(f as Extract<RelayFrame, { type: T }>)) {
            this.cursor.set(key, i + 1);
            cleanup();
            resolve(f as Extract<RelayFrame, { type: T }>);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${type} frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Answers a call with a value. */
  succeed(id: string, value: unknown): void {
    this.send({ type: 'result', id, ok: true, value });
  }

  /** Closes (normally) and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}
