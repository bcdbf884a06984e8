import type { DesktopEvent, DesktopEventPayload, DesktopMethod, DesktopResult } from '@tether/shared';

/** Options of a `HostApi` subscriber. */
export interface SubscribeOptions {
  /**
   * True for a front end that shows `confirm:request` events to a person and answers them
   * (a window, the browser UI). While at least one is attached, `ask` calls are put to it;
   * with none attached (and no terminal prompt) they fail with `confirmation_unavailable`.
   */
  answersConfirmations?: boolean;
}

/** A listener for host events. */
export type HostEventListener = <E extends DesktopEvent>(event: E, payload: DesktopEventPayload<E>) => void;

/**
 * The host side of the DesktopApi contract (shared/src/desktop-api.ts). Transports (the
 * Electron MessagePort, the headless UI WebSocket) pass raw requests in and events out; the
 * host validates every request's params with DESKTOP_REQUESTS[method].params.
 */
export interface HostApi {
  /** Runs one request. Rejects with a TetherError (`invalid_args`, `not_found`, …) on failure. */
  request<M extends DesktopMethod>(method: M, params: unknown): Promise<DesktopResult<M>>;
  /** Receives every host event until the returned function is called. */
  subscribe(listener: HostEventListener, options?: SubscribeOptions): () => void;
}
