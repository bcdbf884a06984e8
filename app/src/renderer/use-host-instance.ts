import { useEffect, useRef, useState } from 'react';
import type { Connection } from './api/connect.js';
import type { LinkState } from './api/ws-transport.js';

/** How often a tab without its host asks whether a host answers at this address. */
const INSTANCE_POLL_MS = 2000;

/**
 * What a tab without its link can tell about the host at its address:
 * `restarted`: a host answers there, but not the one this tab's key belongs to (a restarted host
 * has a new secret: this tab cannot get back in); `down`: nothing answers; `same`: the host that
 * served this tab answers (a passing hiccup: the link retries); `unknown`: not asked yet.
 */
export type HostPresence = 'unknown' | 'same' | 'restarted' | 'down';

async function instanceAt(): Promise<string | null> {
  try {
    const res = await fetch('./instance.json', { cache: 'no-store' });
    if (!res.ok) return null;
    const body = (await res.json()) as { instance?: unknown };
    return typeof body.instance === 'string' ? body.instance : null;
  } catch {
    return null;
  }
}

/**
 * Asks the headless host's UI server which instance it is (no secret needed), once at load and
 * then while the link is down. Under Electron there is no such question: always `same`.
 */
export function useHostPresence(connection: Connection, link: LinkState): HostPresence {
  const browser = connection.kind === 'browser';
  const [presence, setPresence] = useState<HostPresence>(browser ? 'unknown' : 'same');
  const first = useRef<string | null>(null);
  const everOpen = useRef(false);
  if (link === 'open') everOpen.current = true;

  useEffect(() => {
    if (!browser) return;
    void instanceAt().then((id) => {
      first.current ??= id;
    });
  }, [browser]);

  useEffect(() => {
    if (!browser) return;
    if (link === 'open') {
      setPresence('same');
      return;
    }
    if (link !== 'closed') return;
    let live = true;
    const check = async (): Promise<void> => {
      const id = await instanceAt();
      if (!live) return;
      if (id === null) setPresence('down');
      // A host answers and this tab's key got nowhere with it: another instance than ours, or
      // (never in since load) a key that an earlier instance made.
      else if ((first.current !== null && id !== first.current) || !everOpen.current) setPresence('restarted');
      else setPresence('same');
    };
    void check();
    const timer = setInterval(() => void check(), INSTANCE_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [browser, link]);
  return presence;
}
