import { useEffect, useId, useState } from 'react';
import { TOOL_NAMES, type AuditEntry, type DesktopApi, type WorkspaceView } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/** How many entries the view loads and keeps (live appends push the oldest out). */
const ACTIVITY_VIEW_LIMIT = 200;

const DECISION_TEXT: Record<AuditEntry['decision'], string> = {
  allowed: 'allowed by policy',
  confirmed: 'you allowed',
  remembered: 'allowed (for a while)',
  denied: 'you denied',
  policy_denied: 'denied by policy',
  disabled: 'tool off',
  paused: 'paused',
  timeout: 'no answer',
  unavailable: 'nobody to ask',
  invalid: 'invalid',
};

interface Filters {
  workspaceId: string;
  tool: string;
  outcome: '' | 'ok' | 'error';
}

/** The audit log, newest first, filterable by workspace, tool and outcome, updated live. */
export function ActivityView({ api, workspaces }: { api: DesktopApi; workspaces: WorkspaceView[] }) {
  const [filters, setFilters] = useState<Filters>({ workspaceId: '', tool: '', outcome: '' });
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [error, setError] = useState<string>();
  const [loaded, setLoaded] = useState(false);
  const id = useId();

  useEffect(() => {
    let live = true;
    setLoaded(false);
    // Entries that arrive live while the list is loading would be lost when it lands: keep them.
    const arrived: AuditEntry[] = [];
    const off = api.on('activity:appended', (entry) => {
      if (!matches(entry, filters)) return;
      arrived.push(entry);
      setEntries((list) => merge(list, [entry]));
    });
    api
      .request('activity:list', {
        limit: ACTIVITY_VIEW_LIMIT,
        ...(filters.workspaceId ? { workspaceId: filters.workspaceId } : {}),
        ...(filters.tool ? { tool: filters.tool } : {}),
        ...(filters.outcome ? { outcome: filters.outcome } : {}),
      })
      .then(
        (r) => {
          if (!live) return;
          setEntries(merge(r.entries, arrived));
          setError(undefined);
          setLoaded(true);
        },
        (err: unknown) => live && setError(messageOf(err)),
      );
    return () => {
      live = false;
      off();
    };
  }, [api, filters]);

  const set = (patch: Partial<Filters>) => setFilters((f) => ({ ...f, ...patch }));

  return (
    <section aria-labelledby={`${id}-title`} className="stack">
      <div className="section-head">
        <h2 id={`${id}-title`}>Activity</h2>
        <span className="muted small" aria-live="polite">
          {loaded ? `${entries.length} ${entries.length === 1 ? 'call' : 'calls'}` : 'Loading…'}
        </span>
      </div>
      <div className="card filters" role="search" aria-label="Filter activity">
        <label>
          Workspace
          <select value={filters.workspaceId} onChange={(e) => set({ workspaceId: e.target.value })}>
            <option value="">All workspaces</option>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tool
          <select value={filters.tool} onChange={(e) => set({ tool: e.target.value })}>
            <option value="">All tools</option>
            {TOOL_NAMES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Outcome
          <select value={filters.outcome} onChange={(e) => set({ outcome: e.target.value as Filters['outcome'] })}>
            <option value="">Any outcome</option>
            <option value="ok">Succeeded</option>
            <option value="error">Failed</option>
          </select>
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {entries.length === 0 && loaded ? (
        <p className="empty">
          No calls yet{filters.workspaceId || filters.tool || filters.outcome ? ' match these filters' : ''}.
        </p>
      ) : (
        <div className="card table-wrap">
          <table className="activity">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Workspace</th>
                <th scope="col">Tool</th>
                <th scope="col">What</th>
                <th scope="col">Decision</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td className="nowrap small" title={e.time}>
                    {formatTime(e.time)}
                  </td>
                  <td className="small">{e.workspaceName}</td>
                  <td className="mono small">{e.tool}</td>
                  <td className="mono small summary" title={`${e.summary}\ncaller: ${e.caller}`}>
                    {e.summary}
                  </td>
                  <td className="small nowrap">{DECISION_TEXT[e.decision]}</td>
                  <td>
                    {e.outcome === 'ok' ? (
                      <span className="badge ok">ok · {e.durationMs} ms</span>
                    ) : (
                      <span className="badge bad mono">{e.errorCode ?? 'error'}</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function matches(e: AuditEntry, f: Filters): boolean {
  return (
    (!f.workspaceId || e.workspaceId === f.workspaceId) &&
    (!f.tool || e.tool === f.tool) &&
    (!f.outcome || e.outcome === f.outcome)
  );
}

/** Both lists without duplicates, newest first, capped. */
function merge(list: AuditEntry[], more: AuditEntry[]): AuditEntry[] {
  const byId = new Map(list.map((e) => [e.id, e]));
  for (const e of more) byId.set(e.id, e);
  return [...byId.values()]
    .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0))
    .slice(0, ACTIVITY_VIEW_LIMIT);
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
