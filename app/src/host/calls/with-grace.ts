/**
 * How long a handler may keep running after its signal fired before the call is answered
 * anyway (its slot stays taken until it really ends): a stuck handler must not hold a caller.
 */
export const ABORT_GRACE_MS = 5_000;

/**
 * Waits for the handler; once the signal fires, waits at most ABORT_GRACE_MS more and then
 * rejects with the signal's reason (the call is answered `cancelled`/`timeout`), telling
 * `onGiveUp` so the caller can keep the handler's slot until it really ends.
 */
export function withGrace<T>(
  work: Promise<T>,
  signal: AbortSignal,
  onGiveUp: () => void,
  graceMs: number = ABORT_GRACE_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    const onAbort = (): void => {
      timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        onGiveUp();
        reject(signal.reason);
      }, graceMs);
    };
    const finish = (): void => {
      signal.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        finish();
        if (!settled) {
          settled = true;
          resolve(v);
        }
      },
      (e: unknown) => {
        finish();
        if (!settled) {
          settled = true;
          reject(e);
        }
      },
    );
  });
}
