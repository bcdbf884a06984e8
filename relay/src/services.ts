import type { CallRequest, Result, RuntimeState, RuntimeView, ToolName } from '@tether/shared';
import type { RuntimeEvent } from './bus/bus.js';

/**
 * Who is asking, once a platform key or grant has been checked. The org always scopes
 * what is visible; a grant further narrows to some runtimes and tools.
 */
export interface Principal {
  kind: 'platform' | 'grant';
  orgId: string;
  /** Id of the platform key or of the grant. */
  tokenId: string;
  /** The platform key behind it: its own id, or the key that minted the grant (rate limits count per key). */
  keyId: string;
  /** The platform key's name or the grant's label: shown to the person as the caller. */
  label: string;
  /** Runtimes a grant may use; null for a platform key (all of its org's runtimes). */
  runtimeIds: string[] | null;
  /** Tools a grant may use; null when not restricted. */
  tools: ToolName[] | null;
  /** An OAuth access token's resource (an MCP URL): at an MCP URL it is accepted only there. */
  audience?: string | null;
}

/**
 * What the core needs of a cancellation signal. An AbortSignal fits; the HTTP route passes a
 * lighter one (an AbortController per request was ~2% of the relay's CPU under load).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** How a caller follows and stops a call. */
export interface CallOptions {
  /** Aborting cancels the call (a `cancel` frame goes to the desktop) and it fails with `cancelled`. */
  signal?: CancelSignal;
  /** Status and output chunks while the call runs. */
  onProgress?: (p: { status: 'awaiting_confirmation' | 'running' | 'output'; chunk?: string }) => void;
}

/**
 * The relay's core, as the HTTP routes and the MCP endpoint use it. One implementation
 * (`RelayCore`); the MCP plugin codes against this interface only.
 */
export interface RelayServices {
  /** null → answer 401 */
  authenticatePlatform(authorization: string | undefined): Promise<Principal | null>;
  /** null when the principal may not see it (other org, not in grant) → 404 */
  getRuntime(principal: Principal, runtimeId: string): Promise<RuntimeView | null>;
  /** The runtimes the principal may see (a grant: only its own), optionally of one state. */
  listRuntimes(principal: Principal, state?: RuntimeState): Promise<RuntimeView[]>;
  /** Validates args against the tool schema, checks grant scope and runtime state, routes via the Bus, waits for the result. */
  callTool(
    principal: Principal,
    runtimeId: string,
    request: CallRequest,
    options?: CallOptions,
  ): Promise<{ callId: string } & Result<unknown>>;
  /**
   * Tells the desktop holding the runtime about a call refused before delivery for the
   * person's own setting (the tool off, its category denied), for its activity log.
   */
  /**
   * What happens to a runtime (its state, file changes from the desktop's watcher), from
   * whichever node holds it (the Bus). Callers check visibility first. Returns unsubscribe.
   */
  subscribeRuntime(runtimeId: string, handler: (event: RuntimeEvent) => void): () => void;
  reportRefused?(
    principal: Principal,
    runtimeId: string,
    tool: ToolName,
    callId: string,
    code: 'runtime_paused' | 'tool_disabled' | 'policy_denied',
  ): void;
}
