import { useEffect, useId, useRef, useState } from 'react';
import { printable, TOOL_NAMES, type AuditEntry, type DesktopApi, type WorkspaceView } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/** How many entries the view loads and keeps at first (live appends push the oldest out). */
const ACTIVITY_PAGE_SIZE = 200;
/** The most it loads after "Show older" (the host's `activity:list` maximum). */
const ACTIVITY_MAX_ENTRIES = 1000;

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
  const [limit, setLimit] = useState(ACTIVITY_PAGE_SIZE);
  const id = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let live = true;
    setLoaded(false);
    // Entries that arrive live while the list is loading would be lost when it lands: keep them.
    // Only until it lands: after that the state has them, and the tab may stay open for days.
    let arrived: AuditEntry[] | null = [];
    const off = api.on('activity:appended', (entry) => {
      if (!matches(entry, filters)) return;
      arrived?.push(entry);
      setEntries((list) => merge(list, [entry], limit));
    });
    api
      .request('activity:list', {
        limit,
        ...(filters.workspaceId ? { workspaceId: filters.workspaceId } : {}),
        ...(filters.tool ? { tool: filters.tool } : {}),
        ...(filters.outcome ? { outcome: filters.outcome } : {}),
      })
      .then(
        (r) => {
          if (!live) return;
          setEntries(merge(r.entries, arrived ?? [], limit));
          arrived = null;
          setError(undefined);
          setLoaded(true);
        },
        (err: unknown) => live && setError(messageOf(err)),
      );
    return () => {
      live = false;
      off();
    };
  }, [api, filters, limit]);

  const set = (patch: Partial<Filters>) => {
    setLimit(ACTIVITY_PAGE_SIZE);
    setFilters((f) => ({ ...f, ...patch }));
  };
  const filtered = Boolean(filters.workspaceId || filters.tool || filters.outcome);
  // A full page means there may be older entries than those shown.
  const capped = entries.length >= limit;
  const now = new Date();
  // "Show older calls" goes away once everything is shown, and focus would fall to the page's
  // top: it moves to the heading instead.
  useEffect(() => {
    if (loaded && !capped && document.activeElement === document.body && limit > ACTIVITY_PAGE_SIZE)
      headingRef.current?.focus();
  }, [loaded, capped, limit]);

  return (
    <section aria-labelledby={`${id}-title`} className="stack">
      <div className="section-head">
        <h2 id={`${id}-title`} ref={headingRef} tabIndex={-1}>
          Activity
        </h2>
        <span className="muted small" aria-live="polite">
          {!loaded
            ? 'Loading…'
            : capped
              ? `the latest ${entries.length} calls`
              : `${entries.length} ${entries.length === 1 ? 'call' : 'calls'}`}
        </span>
      </div>
      <div className="card filters" role="search" aria-label="Filter activity">
        <label>
          Workspace
          <select value={filters.workspaceId} onChange={(e) => set({ workspaceId: e.target.value })}>
            <option value="">All workspaces</option>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {printable(w.name)}
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
        filtered ? (
          <div className="empty">
            <p>No calls match these filters.</p>
            <button type="button" className="secondary" onClick={() => set({ workspaceId: '', tool: '', outcome: '' })}>
              Clear filters
            </button>
          </div>
        ) : (
          <p className="empty">No calls yet. When an agent uses one of your workspaces, each call shows up here.</p>
        )
      ) : (
        <div className="card table-wrap">
          <table className="activity">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Workspace</th>
                <th scope="col">Caller</th>
                <th scope="col">Tool</th>
                <th scope="col">What</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {/* Names, summaries and callers come from the platform and from file names: printable()
                  keeps bidi and control characters from disguising them here as in the dialog. */}
              {entries.map((e) => (
                <tr key={e.id}>
                  <td className="nowrap small" data-label="Time" title={e.time}>
                    {formatTime(e.time, now)}
                  </td>
                  <td className="small" data-label="Workspace">
                    {printable(e.workspaceName)}
                  </td>
                  <td className="small caller" data-label="Caller" title={printable(e.caller)}>
                    {printable(e.caller)}
                  </td>
                  <td className="mono small" data-label="Tool">
                    {printable(e.tool)}
                  </td>
                  <td className="mono small summary" data-label="What" title={printable(e.summary)}>
                    {printable(e.summary)}
                  </td>
                  <td data-label="Outcome">
                    <span className="outcome">
                      {e.outcome === 'ok' ? (
                        <span className="badge ok">ok · {e.durationMs} ms</span>
                      ) : (
                        <span className="badge bad mono">{e.errorCode ?? 'error'}</span>
                      )}
                      <span className="small muted nowrap">{DECISION_TEXT[e.decision]}</span>
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {loaded && capped && limit < ACTIVITY_MAX_ENTRIES && (
        <div className="row center">
          <button
            type="button"
            className="secondary"
            onClick={() => setLimit((l) => Math.min(ACTIVITY_MAX_ENTRIES, l + ACTIVITY_PAGE_SIZE))}
          >
            Show older calls
          </button>
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
function merge(list: AuditEntry[], more: AuditEntry[], limit: number): AuditEntry[] {
  const byId = new Map(list.map((e) => [e.id, e]));
  for (const e of more) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0)).slice(0, limit);
}

/** The time of day, with the date too when it is not today's (an audit log spans days). */
function formatTime(iso: string, now: Date): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return printable(iso);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === now.toDateString()
    ? time
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })}, ${time}`;
}
