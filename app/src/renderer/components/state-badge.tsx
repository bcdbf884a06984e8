const LABELS = {
  running: 'Running',
  paused: 'Paused',
  error: 'Error',
  stopped: 'Stopped',
  archived: 'Archived',
} as const;

/** A workspace's state as a colored badge, with its reason when there is one. */
export function StateBadge({ state, reason }: { state: keyof typeof LABELS; reason?: string | undefined }) {
  return (
    <span className="badge-wrap">
      <span className={`badge state-${state}`}>{LABELS[state]}</span>
      {reason && <span className="small reason">{reason}</span>}
    </span>
  );
}
