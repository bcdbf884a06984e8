import { useEffect, useState } from 'react';
import { TetherError, type ConfirmationRequest, type DesktopState } from '@tether/shared';
import type { Connection } from './api/connect.js';
import type { LinkState } from './api/ws-transport.js';

/** The host's state, kept current by `state:changed` and reloaded whenever the link comes back. */
export function useDesktopState(connection: Connection): {
  state: DesktopState | undefined;
  link: LinkState;
  error: string | undefined;
} {
  const [state, setState] = useState<DesktopState>();
  const [link, setLink] = useState<LinkState>(connection.link());
  const [error, setError] = useState<string>();

  useEffect(() => {
    const off = connection.onLink(setLink);
    // The link may have opened between the first render and this subscription.
    setLink(connection.link());
    return off;
  }, [connection]);
  useEffect(() => connection.api.on('state:changed', setState), [connection]);
  useEffect(() => {
    if (link !== 'open') return;
    let live = true;
    connection.api.request('state:get', {}).then(
      (s) => {
        if (!live) return;
        setState(s);
        setError(undefined);
      },
      (err: unknown) => live && setError(messageOf(err)),
    );
    return () => {
      live = false;
    };
  }, [connection, link]);
  return { state, link, error };
}

/**
 * Confirmations waiting for the person, oldest first: the host's list from the state, plus
 * `confirm:request` events that arrive between two states, minus the resolved ones.
 */
export function usePendingConfirmations(
  connection: Connection,
  state: DesktopState | undefined,
): ConfirmationRequest[] {
  const [extra, setExtra] = useState<ConfirmationRequest[]>([]);
  const [resolved, setResolved] = useState<Set<string>>(new Set());
  useEffect(
    () => connection.api.on('confirm:request', (c) => setExtra((list) => [...list.filter((x) => x.id !== c.id), c])),
    [connection],
  );
  useEffect(
    () =>
      connection.api.on('confirm:resolved', ({ confirmationId }) => {
        setResolved((s) => new Set(s).add(confirmationId));
        setExtra((list) => list.filter((x) => x.id !== confirmationId));
      }),
    [connection],
  );
  // A new state is authoritative: it covers every event before it (one ordered channel), those
  // still pending and those resolved meanwhile. Keeping events it lacks left a ghost dialog
  // after the link dropped (a laptop asleep) while the host timed the question out.
  useEffect(() => setExtra([]), [state]);
  // By id, the event's copy over the state's: a waiting question comes again when its countdown starts.
  const byId = new Map<string, ConfirmationRequest>();
  for (const c of [...(state?.pendingConfirmations ?? []), ...extra]) if (!resolved.has(c.id)) byId.set(c.id, c);
  return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt);
}

/** A person-readable message for anything a request rejected with. */
export function messageOf(err: unknown): string {
  if (err instanceof TetherError) return err.message;
  // Under Electron the preload rejects with plain `{ code, message }` data: an Error subclass
  // would lose its code crossing the context bridge (app/src/preload/preload.cts).
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') return message;
  }
  return 'Something went wrong.';
}
