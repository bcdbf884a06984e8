import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, type RelayHandle, type RelayOptions } from '../relay-server.js';

/** An HTTP answer with its body parsed as JSON when it is JSON. */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read bodies of many shapes
  body: any;
}

/** A relay on port 0 in a temp data dir, with org `acme`, a desktop token and a platform key. */
export interface TestRelay {
  relay: RelayHandle;
  dataDir: string;
  desktopToken: string;
  platformKey: string;
  /** Calls the platform API; `token` defaults to the platform key, null sends none. */
  api(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<ApiAnswer>;
  /** Closes the relay and deletes the data dir (unless it was given). */
  dispose(): Promise<void>;
}

/** Starts a relay for tests. With `dataDir` given (a restart) no org or token is made. */
export async function startTestRelay(options: Partial<RelayOptions> = {}, dataDir?: string): Promise<TestRelay> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'tether-relay-')));
  const relay = await startRelay({ dataDir: dir, port: 0, logLevel: 'silent', ...options });
  let desktopToken = '';
  let platformKey = '';
  if (!dataDir) {
    await relay.admin.createOrg('acme');
    desktopToken = (await relay.admin.createToken({ org: 'acme', kind: 'desktop', name: 'laptop' })).token;
    platformKey = (await relay.admin.createToken({ org: 'acme', kind: 'platform', name: 'agent-backend' })).token;
  }
  const t: TestRelay = {
    relay,
    dataDir: dir,
    desktopToken,
    platformKey,
    async api(path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
      const token = init.token === undefined ? t.platformKey : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body = init.body;
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(init.json);
      }
      const res = await fetch(relay.url + path, { ...init, headers, body: body ?? null });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (metrics, SSE)
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async dispose() {
      await relay.close();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads of many shapes
  data: any;
}

/**
 * Reads an SSE response as it arrives. `next(name)` waits for the next event of that name;
 * `close()` aborts the request.
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  private cursor = 0;
  private waiters = new Set<() => void>();
  ended = false;
  readonly done: Promise<void>;

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.done = this.read()
      .catch(() => undefined)
      .finally(() => {
        this.ended = true;
        this.waiters.forEach((w) => w());
      });
  }

  /** Opens an SSE request (GET, or POST with a JSON body). */
  static async open(url: string, token: string, init: { method?: string; json?: unknown } = {}): Promise<SseReader> {
    const controller = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      signal: controller.signal,
      body: init.json !== undefined ? JSON.stringify(init.json) : null,
    });
    return new SseReader(response, controller);
  }

  private async read(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const record = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of record.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue; // a keepalive comment
        this.events.push({ event, data: JSON.parse(data.join('\n')) });
        this.waiters.forEach((w) => w());
      }
    }
  }

  /** The next event named `event` (after the last one returned), waiting up to `timeoutMs`. */
  async next(event: string, timeoutMs = 10_000): Promise<SseEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = this.cursor; i < this.events.length; i++) {
          if (this.events[i]!.event === event) {
            this.cursor = i + 1;
            cleanup();
            return resolve(this.events[i]!);
          }
        }
        if (this.ended) {
          cleanup();
          reject(new Error(`the stream ended without a ${event} event`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${event} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Aborts the request (the client going away). */
  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}

/** Polls `read` until `accept` holds (no fixed sleeps in tests), or fails after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T> | T,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await read();
    if (accept(last)) return last;
    if (Date.now() > until)
      throw new Error(`${what} not reached within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
