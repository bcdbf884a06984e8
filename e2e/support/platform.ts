import { expect } from '@playwright/test';

/** A runtime as the platform API lists it (shared/src/api.ts RuntimeView, the fields used here). */
export interface RuntimeInfo {
  id: string;
  state: string;
  reason?: string;
  workspace: { id: string; name: string; description: string };
  capabilities?: { policy: Record<string, string>; tools: string[] };
}

/** What a platform call came back with: the HTTP status and the JSON body. */
export interface CallOutcome {
  status: number;
  body: { callId?: string; result?: unknown; error?: { code: string; message: string } };
}

/** The platform side of the relay's HTTP API, with a platform key, as an agent backend uses it. */
export class Platform {
  constructor(
    private readonly relayUrl: string,
    private readonly key: string,
  ) {}

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' };
  }

  async runtimes(): Promise<RuntimeInfo[]> {
    const res = await fetch(`${this.relayUrl}/v1/runtimes`, { headers: this.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as RuntimeInfo[] | { runtimes: RuntimeInfo[] };
    return Array.isArray(body) ? body : body.runtimes;
  }

  async runtime(id: string): Promise<RuntimeInfo> {
    const res = await fetch(`${this.relayUrl}/v1/runtimes/${encodeURIComponent(id)}`, { headers: this.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as RuntimeInfo | { runtime: RuntimeInfo };
    return 'runtime' in body ? body.runtime : body;
  }

  /** Polls until the runtime of the workspace named `name` is in `state`; returns it. */
  async waitForRuntime(name: string, state: string): Promise<RuntimeInfo> {
    let found: RuntimeInfo | undefined;
    await expect
      .poll(
        async () => {
          found = (await this.runtimes()).find((r) => r.workspace.name === name);
          return found?.state;
        },
        { message: `runtime "${name}" becomes ${state}`, timeout: 20_000 },
      )
      .toBe(state);
    return found!;
  }

  /** Sends one tool call; resolves when the relay answers (after any confirmation). */
  async call(runtimeId: string, tool: string, args: Record<string, unknown>): Promise<CallOutcome> {
    const res = await fetch(`${this.relayUrl}/v1/runtimes/${encodeURIComponent(runtimeId)}/calls`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ tool, args }),
    });
    return { status: res.status, body: (await res.json()) as CallOutcome['body'] };
  }
}
