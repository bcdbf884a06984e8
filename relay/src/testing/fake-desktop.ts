import WebSocket from 'ws';
import {
  DEFAULT_POLICY,
  PROTOCOL_VERSION,
  TOOL_NAMES,
  parseRelayFrame,
  type AppFrame,
  type CallFrame,
  type Device,
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
  /** Answers each call; return undefined to leave it unanswered. */
  onCall: ((call: CallFrame, desktop: FakeDesktop) => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
    ws.on('message', (data) => {
      const parsed = parseRelayFrame(data.toString());
      if (!parsed.ok) throw new Error(`the relay sent a bad frame: ${parsed.error.message}`);
      this.frames.push(parsed.frame);
      if (parsed.frame.type === 'call' && this.onCall) this.onCall(parsed.frame, this);
      this.waiters.forEach((w) => w());
    });
    ws.on('error', () => undefined);
  }

  /** Opens a connection with a desktop token. `autoPong: false` plays a peer whose heartbeat died. */
  static async connect(wsUrl: string, token: string, options: { autoPong?: boolean } = {}): Promise<FakeDesktop> {
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      autoPong: options.autoPong ?? true,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return new FakeDesktop(ws);
  }

  /** Sends `hello` and waits for `welcome`. */
  async hello(device: Device, workspaces: WorkspaceAnnouncement[]): Promise<WelcomeFrame> {
    this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, device, appVersion: '0.1.0-test', workspaces });
    return this.next('welcome');
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
