import type { SharedLimits } from '../http/shared-limits.js';
import type { FileChange, OAuthConsent, Result, RuntimeState, ToolName } from '@tether/shared';

/** A call on its way from the node that took the HTTP request to the node holding the runtime. */
export interface RoutedCall {
  id: string;
  orgId: string;
  runtimeId: string;
  tool: ToolName;
  args: unknown;
  deadline: number;
  caller: string;
  /**
   * For a retry of an idempotency key the call log knows: its first attempt, epoch ms. Absent
   * for a first attempt (the desktop's clock is then not compared with the relay's at all).
   */
  firstAt?: number;
  /** Not a call to run: asks the desktop for the result of this call id (`lookup` frame). */
  lookup?: boolean;
}

/** Node-to-node messages. `call`/`cancel` go to the holder of a runtime; the rest back to the call's origin. */
export type BusMessage =
  | { kind: 'call'; origin: string; call: RoutedCall }
  /**
   * Stop a call on the desktop. `orphan`: no relay node waits on it any more (it outlived the
   * relay that sent it, a restart), so the session holding the runtime never handed it over and
   * sends the desktop the cancel anyway.
   */
  | { kind: 'cancel'; callId: string; runtimeId: string; reason: string; orphan?: boolean }
  /** The holder handed the call to a desktop session (so the origin knows when a reconnect must re-deliver it). */
  | { kind: 'delivered'; callId: string; sessionId: string }
  | { kind: 'progress'; callId: string; status: 'awaiting_confirmation' | 'running' | 'output'; chunk?: string }
  | { kind: 'result'; callId: string; result: Result<unknown> }
  /** The answer to a `cancel-call` broadcast with `replyTo`: the origin of the call had it in flight and cancelled it. */
  | { kind: 'cancel-answer'; requestId: string }
  /** To the holder of a runtime: a call to it was refused here before delivery, for the desktop's activity log. */
  | { kind: 'refused'; notice: RefusalNotice };

/** A call the relay refused before it reached the desktop (see the `refused` frame). */
export interface RefusalNotice {
  callId: string;
  runtimeId: string;
  tool: ToolName;
  caller: string;
  code: 'runtime_paused' | 'tool_disabled' | 'policy_denied';
  at: number;
}

/** Where a runtime's connection lives. */
export interface Presence {
  nodeId: string;
  sessionId: string;
}

/** What happens to a runtime, for `GET /v1/runtimes/{id}/events` and for re-delivery after a reconnect. */
export type RuntimeEvent =
  | { type: 'state'; runtimeId: string; state: RuntimeState; reason?: string; lastSeenAt: string; sessionId?: string }
  | { type: 'files'; runtimeId: string; changes: FileChange[]; dropped: number };

/** Broadcasts between nodes that are not about one runtime. */
export type NodeBroadcast =
  /** A newer connection of this device exists: older sessions close with `replaced`. */
  | { kind: 'device-replaced'; orgId: string; deviceId: string; sessionId: string; helloAt: number }
  /**
   * A platform cancel that reached a node other than the call's origin. With `replyTo`, the
   * origin answers `cancel-answer` (the asking node had no call log row to go by yet).
   */
  | {
      kind: 'cancel-call';
      orgId: string;
      callId: string;
      runtimeId: string;
      /** Set when a grant cancels: only a call made with this token may be cancelled. */
      tokenId?: string;
      replyTo?: { nodeId: string; requestId: string };
    }
  /** A token was revoked: sessions using it close with `unauthorized`. */
  | { kind: 'token-revoked'; tokenId: string }
  /** An MCP client asks for access: the org's desktops are shown the request. */
  | { kind: 'oauth-consent'; orgId: string; consent: OAuthConsent }
  /** A consent request was settled: the org's desktops stop showing it. */
  | { kind: 'oauth-consent-closed'; orgId: string; requestId: string; outcome: 'approved' | 'denied' | 'expired' }
  /** The org's approved MCP clients changed: its desktops get the new list. */
  | { kind: 'oauth-changed'; orgId: string }
  /**
   * An MCP `notifications/cancelled` no call of the receiving node matched: the call may run on
   * another node (the MCP endpoints are stateless, the cancel's POST may land anywhere).
   * `scope` is the runtime id, or `*` for the org-wide endpoint.
   */
  | { kind: 'mcp-cancel'; tokenId: string; scope: string; requestId: string | number }
  /** A hello for this device was refused for its key (4412): the device's live sessions are told (`notice`). */
  | { kind: 'device-claim-refused'; orgId: string; deviceId: string; at: string };

/**
 * Routing and presence between relay nodes: in-process (LocalBus) for one relay process, Redis
 * (RedisBus: pub/sub for messages and events, keys with a TTL for presence) for a cluster.
 */
export interface Bus {
  /** This node's id, the address of `send`. */
  readonly nodeId: string;
  /** False while the medium cannot be reached (readiness); an in-process bus has no such state. */
  readonly healthy?: boolean;
  /** Records that `sessionId` on this node holds the runtime (a newer claim wins). */
  claim(runtimeId: string, sessionId: string): Promise<void>;
  /** Drops the claim if `sessionId` still holds it; true when it did (so the runtime is now offline). */
  release(runtimeId: string, sessionId: string): Promise<boolean>;
  /** Who holds the runtime now, or null when no desktop connection has it. */
  locate(runtimeId: string): Promise<Presence | null>;
  /** Delivers a message to one node's `onMessage` handlers. */
  send(nodeId: string, message: BusMessage): Promise<void>;
  onMessage(handler: (message: BusMessage) => void): () => void;
  /** Runtime events, to every node's subscribers of that runtime and of `'*'`. */
  publish(event: RuntimeEvent): Promise<void>;
  subscribe(runtimeId: string | '*', handler: (event: RuntimeEvent) => void): () => void;
  /** Broadcasts to every node (this one included). */
  broadcast(message: NodeBroadcast): Promise<void>;
  onBroadcast(handler: (message: NodeBroadcast) => void): () => void;
  /**
   * Where rate limits and connection caps are counted when they must hold over every node on
   * this bus (RedisBus: in Redis). Absent: each node counts alone, in memory (LocalLimits).
   */
  sharedLimits?(options?: { onFallback?: () => void }): SharedLimits;
  /** Leaves the bus: drops this node's claims and handlers. */
  dispose(): Promise<void>;
}
