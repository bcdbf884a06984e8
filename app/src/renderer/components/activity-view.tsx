import { Fragment, useEffect, useId, useRef, useState } from 'react';
import {
  ERROR_CODES,
  printable,
  TOOL_NAMES,
  type AuditEntry,
  type DesktopApi,
  type ErrorCode,
  type WorkspaceView,
} from '@tether/shared';
import { messageOf } from '../use-desktop.js';
import { DiffView } from './diff-view.js';
import { toolLabel } from './tool-switches.js';

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

/** What came of a call, in words for the person; the code follows in small print. */
const ERROR_TEXT: Partial<Record<ErrorCode, string>> = {
  confirmation_denied: 'Denied by you',
  confirmation_timeout: 'No answer in time',
  confirmation_unavailable: 'Nobody was there to ask',
  policy_denied: "Refused: the workspace's rules deny it",
  tool_disabled: 'Refused: the tool is switched off',
  runtime_paused: 'Refused: the workspace is paused',
  path_outside_workspace: 'Refused: outside the workspace',
  not_found: 'Not found',
  invalid_args: 'Invalid request',
  cancelled: 'Cancelled',
  timeout: 'Ran out of time',
  interrupted: 'Interrupted',
  too_large: 'Too large',
  conflict: 'Conflict',
  already_exists: 'Already exists',
  permission_denied: 'The system denied access',
  runtime_error: 'The folder was not available',
};

/** The decision filter's choices: the questions a person asks of the log. */
const DECISION_FILTERS = {
  denied: { label: 'Denied by you', decisions: ['denied'] },
  unanswered: { label: 'No answer', decisions: ['timeout', 'unavailable'] },
  remembered: { label: 'Ran under a standing approval', decisions: ['remembered'] },
  confirmed: { label: 'Allowed by you', decisions: ['confirmed'] },
  refused: { label: 'Refused by your settings', decisions: ['policy_denied', 'disabled', 'paused'] },
} as const satisfies Record<string, { label: string; decisions: readonly AuditEntry['decision'][] }>;
type DecisionFilter = keyof typeof DECISION_FILTERS;

interface Filters {
  workspaceId: string;
  tool: string;
  outcome: '' | 'ok' | 'error';
  decision: '' | DecisionFilter;
}

/** The audit log, newest first, filterable by workspace, tool and outcome, updated live. */
export function ActivityView({ api, workspaces }: { api: DesktopApi; workspaces: WorkspaceView[] }) {
  const [filters, setFilters] = useState<Filters>({ workspaceId: '', tool: '', outcome: '', decision: '' });
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (entryId: string) =>
    setOpen((set) => {
      const next = new Set(set);
      if (!next.delete(entryId)) next.add(entryId);
      return next;
    });
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
        ...(filters.decision ? { decisions: [...DECISION_FILTERS[filters.decision].decisions] } : {}),
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
  const filtered = Boolean(filters.workspaceId || filters.tool || filters.outcome || filters.decision);
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
                {toolLabel(t)}
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
        <label>
          Decision
          <select value={filters.decision} onChange={(e) => set({ decision: e.target.value as Filters['decision'] })}>
            <option value="">Any decision</option>
            {(Object.keys(DECISION_FILTERS) as DecisionFilter[]).map((d) => (
              <option key={d} value={d}>
                {DECISION_FILTERS[d].label}
              </option>
            ))}
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
            <button
              type="button"
              className="secondary"
              onClick={() => set({ workspaceId: '', tool: '', outcome: '', decision: '' })}
            >
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
              {entries.map((e) => {
                const expanded = open.has(e.id);
                const detailId = `${id}-detail-${e.id}`;
                return (
                  <Fragment key={e.id}>
                    <tr>
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
                        {e.summary ? printable(e.summary) : <span className="muted">—</span>}
                      </td>
                      <td data-label="Outcome">
                        <span className="outcome">
                          {e.outcome === 'ok' ? (
                            <span className="badge ok">ok · {formatMs(e.durationMs - (e.waitMs ?? 0))}</span>
                          ) : (
                            <span className="badge bad">{errorText(e.errorCode)}</span>
                          )}
                          {e.exitCode !== undefined && (
                            <span className={`badge ${e.exitCode === 0 ? 'ok' : 'bad'}`}>
                              {e.exitCode === null ? 'ended by a signal' : `exit ${e.exitCode}`}
                            </span>
                          )}
                          {e.outcome === 'error' && e.errorCode && (
                            <span className="small muted mono">{e.errorCode}</span>
                          )}
                          <span className="small muted nowrap">
                            {e.refusedAt === 'relay' ? 'refused at the relay' : DECISION_TEXT[e.decision]}
                          </span>
                          {e.waitMs !== undefined && (
                            <span className="small muted nowrap">
                              waited {formatMs(e.waitMs)} for you
                              {e.outcome === 'ok' ? `, ran ${formatMs(e.durationMs - e.waitMs)}` : ''}
                            </span>
                          )}
                          {e.detail && (
                            <button
                              type="button"
                              className="link small"
                              aria-expanded={expanded}
                              aria-controls={expanded ? detailId : undefined}
                              onClick={() => toggle(e.id)}
                            >
                              {expanded ? 'Hide details' : 'Details'}
                            </button>
                          )}
                        </span>
                      </td>
                    </tr>
                    {expanded && e.detail && (
                      <tr className="activity-detail" id={detailId}>
                        <td colSpan={6}>
                          <EntryDetail entry={e} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
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
    (!f.outcome || e.outcome === f.outcome) &&
    (!f.decision || (DECISION_FILTERS[f.decision].decisions as readonly string[]).includes(e.decision))
  );
}

/** What an entry opens to: the answer given, the diff of a write, the head and tail of a command's output. */
function EntryDetail({ entry: e }: { entry: AuditEntry }) {
  const d = e.detail ?? {};
  return (
    <div className="entry-detail stack-tight">
      {d.answer && <p className="small">{d.answer}</p>}
      {d.diff !== undefined && (
        <div>
          <DiffView diff={d.diff} />
          {d.diffTruncated && <p className="small muted">The rest of the diff is not kept in the log.</p>}
        </div>
      )}
      {d.outputHead !== undefined && (
        <div>
          <p className="small muted">Output{d.outputTail !== undefined ? ' (start and end)' : ''}</p>
          <pre className="output" tabIndex={0} aria-label="Output">
            {printable(d.outputHead, { keepNewlines: true })}
            {d.outputTail !== undefined && (
              <>
                <span className="muted">
                  {'\n'}… {d.outputOmitted ? `${d.outputOmitted} characters left out` : ''} …{'\n'}
                </span>
                {printable(d.outputTail, { keepNewlines: true })}
              </>
            )}
          </pre>
        </div>
      )}
    </div>
  );
}

function errorText(code: ErrorCode | undefined): string {
  if (!code) return 'Failed';
  return ERROR_TEXT[code] ?? ERROR_CODES[code].message.replace(/\.$/, '');
}

/** A duration for people: ms under a second, then seconds, then minutes. */
function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
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
