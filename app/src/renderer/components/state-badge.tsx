import { printable } from '@tether/shared';

const LABELS = {
  running: 'Running',
  paused: 'Paused',
  error: 'Error',
  stopped: 'Stopped',
  archived: 'Archived',
  offline: 'Offline',
} as const;

/** A workspace's state as a colored badge, with its reason when there is one. */
export function StateBadge({ state, reason }: { state: keyof typeof LABELS; reason?: string | undefined }) {
  return (
    <span className="badge-wrap">
      <span className={`badge state-${state}`}>{LABELS[state]}</span>
      {reason && <span className={`small ${state === 'error' ? 'reason' : 'muted'}`}>{printable(reason)}</span>}
    </span>
  );
}
