import { useEffect, useId, useRef, useState } from 'react';
import {
  CATEGORIES,
  categoryOfScope,
  describeScope,
  printable,
  type Allowance,
  type DesktopApi,
  type DesktopParams,
  type WorkspaceView,
} from '@tether/shared';
import { messageOf } from '../use-desktop.js';
import { SandboxSettings } from './sandbox-settings.js';
import { PolicyMeaning } from './policy-meaning.js';
import { RuntimeAccess } from './runtime-access.js';
import { StateBadge } from './state-badge.js';
import { ToolSwitches } from './tool-switches.js';
import { WorkspaceEditor } from './workspace-editor.js';

const DECISION_TEXT = { allow: 'Allow', ask: 'Ask me', deny: 'Deny' } as const;
const CATEGORY_TEXT = { read: 'Read files', write: 'Change files', shell: 'Run commands' } as const;

/**
 * One workspace: state, policy per category, tool switches, pause/resume, edit, remove.
 * `online` is whether the relay connection is up: a running workspace is then reachable.
 */
export function WorkspaceCard({
  api,
  workspace: w,
  online,
  relayUrl,
}: {
  api: DesktopApi;
  workspace: WorkspaceView;
  online: boolean;
  /** The relay's address, for the platform's URLs (RuntimeAccess). */
  relayUrl?: string | undefined;
}) {
  const [editing, setEditing] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [error, setError] = useState<string>();
  const id = useId();
  const editRef = useRef<HTMLButtonElement>(null);
  const removeRef = useRef<HTMLButtonElement>(null);
  // Keyboard users land back where they were when the editor or the remove step closes.
  const reopened = useRef({ editing, confirmRemove });
  useEffect(() => {
    if (reopened.current.editing && !editing) editRef.current?.focus();
    if (reopened.current.confirmRemove && !confirmRemove) removeRef.current?.focus();
    reopened.current = { editing, confirmRemove };
  }, [editing, confirmRemove]);

  async function update(params: Omit<DesktopParams<'workspace:update'>, 'id'>): Promise<boolean> {
    setError(undefined);
    try {
      await api.request('workspace:update', { id: w.id, ...params });
      return true;
    } catch (err) {
      setError(messageOf(err));
      return false;
    }
  }

  async function remove() {
    setError(undefined);
    try {
      await api.request('workspace:remove', { id: w.id });
    } catch (err) {
      setError(messageOf(err));
      setConfirmRemove(false);
    }
  }

  // Only the live ones; the host sends no state when one ends, so render again then.
  const [, setExpired] = useState(0);
  const live = w.allowances.filter((a) => a.expiresAt === null || a.expiresAt > Date.now());
  const nextEnd = Math.min(...live.map((a) => a.expiresAt ?? Infinity));
  useEffect(() => {
    if (!Number.isFinite(nextEnd)) return;
    const timer = setTimeout(() => setExpired((n) => n + 1), Math.max(0, nextEnd - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [nextEnd]);

  async function revoke(a: Allowance) {
    setError(undefined);
    try {
      await api.request('allowance:revoke', { workspaceId: w.id, id: a.id });
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <article className="card workspace" aria-labelledby={`${id}-name`}>
      <header className="workspace-head">
        <div className="grow">
          {/* Names default to the folder's name, which can hold any character: printable(). */}
          <h3 id={`${id}-name`}>{printable(w.name)}</h3>
          <p className="mono small muted" title="Folder">
            {printable(w.root)}
          </p>
        </div>
        {w.paused || w.state !== 'running' || online ? (
          <StateBadge state={w.paused ? 'paused' : w.state} reason={w.reason} />
        ) : (
          <StateBadge state="offline" reason="Agents cannot reach it until Tether is connected to the relay." />
        )}
      </header>
      {w.paused && w.state !== 'error' && (
        <p className="note small">Paused: agents see this workspace, but every call fails until you resume it.</p>
      )}
      {w.state === 'error' && (
        // Every health error is about the folder, and the host checks it again by itself.
        <p className="note small">
          Agents cannot use this workspace until its folder is back. Tether checks again by itself: put the folder back
          (or fix its permissions) and it resumes, or remove the workspace.
        </p>
      )}
      {w.description && !editing && <p className="description">{printable(w.description)}</p>}
      {live.length > 0 && (
        <section className="allowances note small" aria-label={`Standing allowances of ${printable(w.name)}`}>
          <div className="row wrap-tight">
            <strong className="grow">Runs without asking</strong>
            <button type="button" className="secondary small-btn" onClick={() => update({ askAgain: true })}>
              Ask again now
            </button>
          </div>
          <ul className="plain">
            {live.map((a) => (
              <li key={a.id} className="row wrap-tight">
                <span className="grow">
                  {capitalize(describeScope(a.scope))} without asking{' '}
                  {a.expiresAt === null
                    ? 'until you revoke it'
                    : `until ${new Date(a.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`}
                  .
                </span>
                <button
                  type="button"
                  className="ghost danger-text small-btn"
                  aria-label={`Revoke: ${describeScope(a.scope)}`}
                  onClick={() => revoke(a)}
                >
                  Revoke
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {editing && (
        <WorkspaceEditor
          workspace={w}
          // A refused change keeps the editor open with what was typed.
          onSave={async (p) => void ((await update(p)) && setEditing(false))}
          onCancel={() => setEditing(false)}
        />
      )}

      <fieldset className="policy">
        <legend>When an agent wants to…</legend>
        {CATEGORIES.map((c) => (
          <label key={c} className="policy-item">
            <span>
              {CATEGORY_TEXT[c]}
              {/* "Ask me" with standing allowances asks less than it says: the count is beside it. */}
              {w.policy[c] === 'ask' && countOf(live, c) > 0 && (
                <span className="policy-allowances small">
                  {' '}
                  (except {countOf(live, c)} standing allowance{countOf(live, c) === 1 ? '' : 's'} above)
                </span>
              )}
            </span>
            <select
              value={w.policy[c]}
              onChange={(e) => update({ policy: { ...w.policy, [c]: e.target.value as keyof typeof DECISION_TEXT } })}
              aria-label={`${CATEGORY_TEXT[c]} in ${printable(w.name)}`}
            >
              {(['allow', 'ask', 'deny'] as const).map((d) => (
                <option key={d} value={d}>
                  {DECISION_TEXT[d]}
                </option>
              ))}
            </select>
          </label>
        ))}
      </fieldset>
      <PolicyMeaning policy={w.policy} />

      <ToolSwitches workspace={w} onChange={(disabledTools) => update({ disabledTools })} />
      {relayUrl !== undefined && <RuntimeAccess workspace={w} relayUrl={relayUrl} />}

      {w.sandbox && <SandboxSettings sandbox={w.sandbox} workspaceName={printable(w.name)} onChange={update} />}

      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <footer className="actions">
        {confirmRemove ? (
          <div
            className="confirm-remove"
            role="group"
            aria-label="Confirm removal"
            onKeyDown={(e) => e.key === 'Escape' && setConfirmRemove(false)}
          >
            <span className="small">
              Remove “{printable(w.name)}”? Its runtime is archived at the relay; your files stay untouched.
            </span>
            <button type="button" className="danger" onClick={remove} autoFocus>
              Remove
            </button>
            <button type="button" className="secondary" onClick={() => setConfirmRemove(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <>
            <button type="button" className="secondary" onClick={() => update({ paused: !w.paused })}>
              {w.paused ? 'Resume' : 'Pause'}
            </button>
            <button
              ref={editRef}
              type="button"
              className="secondary"
              onClick={() => setEditing(true)}
              disabled={editing}
            >
              Edit
            </button>
            <span className="grow" />
            <button ref={removeRef} type="button" className="ghost danger-text" onClick={() => setConfirmRemove(true)}>
              Remove…
            </button>
          </>
        )}
      </footer>
    </article>
  );
}

function countOf(allowances: Allowance[], category: string): number {
  return allowances.filter((a) => categoryOfScope(a.scope) === category).length;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
