/** A JSON-RPC request id. */
type RequestId = string | number;

/**
 * The MCP `tools/call` requests in flight on this relay process, so that a
 * `notifications/cancelled` can stop one. The endpoint is stateless: the cancel arrives in
 * its own HTTP request, at a fresh MCP server that never saw the call, so the SDK's own
 * per-server bookkeeping cannot find it. A call is known by who asked (token id), where
 * (runtime id) and its JSON-RPC id. JSON-RPC ids are only unique per client, and two
 * clients may share a token, so a cancel that matches more than one call stops none.
 * Over several relay nodes a cancel may land on another node than its call: one that
 * matches no call here is broadcast (`mcp-cancel`), and each node applies the same rule to
 * its own calls.
 */
export class McpCallRegistry {
  private readonly calls = new Map<string, Set<AbortController>>();

  private static key(tokenId: string, runtimeId: string, requestId: RequestId): string {
    return `${tokenId}\u0000${runtimeId}\u0000${typeof requestId}:${String(requestId)}`;
  }

  /** Records a call; its signal aborts on a matching cancel. Call `done()` when it ends. */
  register(tokenId: string, runtimeId: string, requestId: RequestId): { signal: AbortSignal; done: () => void } {
    const key = McpCallRegistry.key(tokenId, runtimeId, requestId);
    const controller = new AbortController();
    let set = this.calls.get(key);
    if (!set) this.calls.set(key, (set = new Set()));
    set.add(controller);
    return {
      signal: controller.signal,
      done: () => {
        set.delete(controller);
        if (set.size === 0 && this.calls.get(key) === set) this.calls.delete(key);
      },
    };
  }

  /** Aborts the one call that matches; false when none or several do. */
  cancel(tokenId: string, runtimeId: string, requestId: RequestId): boolean {
    const set = this.calls.get(McpCallRegistry.key(tokenId, runtimeId, requestId));
    if (!set || set.size !== 1) return false;
    for (const controller of set) controller.abort();
    return true;
  }

  /** How many calls in flight match (0: the call, if any, runs on another node). */
  matches(tokenId: string, runtimeId: string, requestId: RequestId): number {
    return this.calls.get(McpCallRegistry.key(tokenId, runtimeId, requestId))?.size ?? 0;
  }

  /** Calls in flight (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.calls.values()) n += set.size;
    return n;
  }
}
