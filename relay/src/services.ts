import type { CallRequest, Result, RuntimeState, RuntimeView, ToolErrorValue, ToolName } from '@tether/shared';
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
  /**
   * The call's row in the call log is written before `startCall` resolves (rows are otherwise
   * written in batches): any relay node can then look the call up at once (an MCP task).
   */
  durable?: boolean;
}

/**
 * What a lookup of a call made before answers: its result, that it still runs on the desktop,
 * or why neither can be said now (`not_found`: unknown to this principal, or no longer kept).
 * `tool`, `startedAt` / `finishedAt` (ISO 8601) come from the call log when it knows them.
 */
export type CallLookup =
  | { state: 'finished'; result: Result<unknown>; tool?: ToolName; startedAt?: string; finishedAt?: string }
  | { state: 'running'; tool?: ToolName; startedAt?: string }
  | { error: ToolErrorValue; startedAt?: string };

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
   * Checks and sends a call and resolves once it is on its way (its result is `done`; when it
   * started, `startedAt`, epoch ms), or with the refusal; the call is not bound to the caller's
   * request unless `options.signal` is given.
   */
  startCall(
    principal: Principal,
    runtimeId: string,
    request: CallRequest,
    options?: CallOptions,
  ): Promise<
    { callId: string; done: Promise<Result<unknown>>; startedAt?: number } | { callId: string; error: ToolErrorValue }
  >;
  /**
   * A call made before, by any relay node, as the principal may see it (its org; a grant only
   * its own calls): the desktop holding the runtime answers from what it keeps. Waits up to
   * `waitMs` for a running call to end; never runs or cancels anything.
   */
  lookupCall(principal: Principal, runtimeId: string, callId: string, waitMs: number): Promise<CallLookup>;
  /** Cancels a running call the principal may see, on whichever node waits on it; false when there is none. */
  cancelCall(principal: Principal, runtimeId: string, callId: string): Promise<boolean>;
  /**
   * What happens to a runtime (its state, file changes from the desktop's watcher), from
   * whichever node holds it (the Bus). Callers check visibility first. Returns unsubscribe.
   */
  subscribeRuntime(runtimeId: string, handler: (event: RuntimeEvent) => void): () => void;
  /**
   * Tells the desktop holding the runtime about a call refused before delivery for the
   * person's own setting (the tool off, its category denied), for its activity log.
   */
  reportRefused?(
    principal: Principal,
    runtimeId: string,
    tool: ToolName,
    callId: string,
    code: 'runtime_paused' | 'tool_disabled' | 'policy_denied',
  ): void;
}
