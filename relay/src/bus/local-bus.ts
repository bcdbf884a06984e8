import { newId } from '../tokens.js';
import type { Bus, BusMessage, NodeBroadcast, Presence, RuntimeEvent } from './bus.js';

/**
 * The shared medium of LocalBus nodes in one process: what Redis is for a cluster.
 * One relay process normally has one node; tests put two relays on one network to
 * check that a call arriving at one node reaches a runtime held by the other.
 */
export class LocalBusNetwork {
  readonly presence = new Map<string, Presence>();
  readonly nodes = new Map<string, LocalBus>();
}

/**
 * In-process Bus. Deliveries are asynchronous (queueMicrotask), like a real broker, so
 * nothing relies on a handler running inside the sender's stack.
 */
export class LocalBus implements Bus {
  readonly nodeId: string;
  private readonly messageHandlers = new Set<(message: BusMessage) => void>();
  private readonly eventHandlers = new Map<string, Set<(event: RuntimeEvent) => void>>();
  private readonly broadcastHandlers = new Set<(message: NodeBroadcast) => void>();

  constructor(private readonly network: LocalBusNetwork = new LocalBusNetwork()) {
    this.nodeId = newId('node_', 6);
    network.nodes.set(this.nodeId, this);
  }

  async claim(runtimeId: string, sessionId: string): Promise<void> {
    this.network.presence.set(runtimeId, { nodeId: this.nodeId, sessionId });
  }

  async release(runtimeId: string, sessionId: string): Promise<boolean> {
    const held = this.network.presence.get(runtimeId);
    if (!held || held.sessionId !== sessionId) return false;
    this.network.presence.delete(runtimeId);
    return true;
  }

  async locate(runtimeId: string): Promise<Presence | null> {
    return this.network.presence.get(runtimeId) ?? null;
  }

  async send(nodeId: string, message: BusMessage): Promise<void> {
    const node = this.network.nodes.get(nodeId);
    if (!node) return;
    queueMicrotask(() => {
      for (const handler of node.messageHandlers) handler(message);
    });
  }

  onMessage(handler: (message: BusMessage) => void): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  async publish(event: RuntimeEvent): Promise<void> {
    for (const node of this.network.nodes.values()) {
      const handlers = [...(node.eventHandlers.get(event.runtimeId) ?? []), ...(node.eventHandlers.get('*') ?? [])];
      if (handlers.length > 0) queueMicrotask(() => handlers.forEach((handler) => handler(event)));
    }
  }

  subscribe(runtimeId: string, handler: (event: RuntimeEvent) => void): () => void {
    let set = this.eventHandlers.get(runtimeId);
    if (!set) this.eventHandlers.set(runtimeId, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.eventHandlers.delete(runtimeId);
    };
  }

  async broadcast(message: NodeBroadcast): Promise<void> {
    for (const node of this.network.nodes.values()) {
      const handlers = [...node.broadcastHandlers];
      queueMicrotask(() => handlers.forEach((handler) => handler(message)));
    }
  }

  onBroadcast(handler: (message: NodeBroadcast) => void): () => void {
    this.broadcastHandlers.add(handler);
    return () => this.broadcastHandlers.delete(handler);
  }

  async dispose(): Promise<void> {
    for (const [runtimeId, held] of this.network.presence) {
      if (held.nodeId === this.nodeId) this.network.presence.delete(runtimeId);
    }
    this.network.nodes.delete(this.nodeId);
    this.messageHandlers.clear();
    this.eventHandlers.clear();
    this.broadcastHandlers.clear();
  }
}
