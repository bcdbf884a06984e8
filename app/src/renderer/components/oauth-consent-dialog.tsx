import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import {
  CATEGORIES,
  OAUTH_APPROVAL_CHOICES,
  formatShortCode,
  printable,
  type Category,
  type DesktopApi,
  type OAuthConsent,
  type WorkspaceView,
} from '@tether/shared';
import { messageOf } from '../use-desktop.js';

const CATEGORY_TEXT: Record<Category, string> = {
  read: 'Read files (read, list, search)',
  write: 'Change files (write, edit, move, delete)',
  shell: 'Run commands',
};

/**
 * An MCP client (claude.ai, ChatGPT, an IDE) asks through the relay to use this device's
 * workspaces. The person types the code the client's authorize page shows (so they approve the
 * browser in front of them, not a request someone else started), picks the workspaces, the tool
 * categories and for how long. Everything about the client came from the relay: shown with
 * `printable`. The host checks all of it again before answering.
 */
export function OAuthConsentDialog({
  api,
  consent: c,
  workspaces,
  offline = false,
}: {
  api: DesktopApi;
  consent: OAuthConsent;
  workspaces: WorkspaceView[];
  offline?: boolean;
}) {
  const id = useId();
  // A request for one runtime's MCP URL can only get that runtime's workspace.
  const choosable = c.runtimeId
    ? workspaces.filter((w) => w.runtimeId === c.runtimeId)
    : workspaces.filter((w) => w.runtimeId);
  const [chosen, setChosen] = useState<Set<string>>(new Set(choosable.length === 1 ? [choosable[0]!.id] : []));
  const [categories, setCategories] = useState<Set<Category>>(
    new Set(c.requestedCategories.length > 0 ? c.requestedCategories.filter((x) => x === 'read') : ['read']),
  );
  const [ttl, setTtl] = useState(OAUTH_APPROVAL_CHOICES[1]!.seconds);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const codeRef = useRef<HTMLInputElement>(null);
  useEffect(() => codeRef.current?.focus(), []);

  const toggle = <T,>(set: Set<T>, value: T, on: boolean): Set<T> => {
    const next = new Set(set);
    if (on) next.add(value);
    else next.delete(value);
    return next;
  };

  async function answer(approve: boolean) {
    setBusy(true);
    setError(undefined);
    try {
      await api.request(
        'oauth:answer',
        approve
          ? {
              requestId: c.requestId,
              approve: true,
              shortCode: code,
              workspaceIds: [...chosen],
              categories: CATEGORIES.filter((x) => categories.has(x)),
              ttlSeconds: ttl,
            }
          : { requestId: c.requestId, approve: false },
      );
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    void answer(true);
  }

  const ready = code.trim() !== '' && chosen.size > 0 && categories.size > 0 && !busy && !offline;
  return (
    <div className="overlay">
      <form
        className="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-desc`}
        onSubmit={submit}
      >
        <header className="dialog-head">
          <span className="badge">MCP client</span>
        </header>
        <h2 id={`${id}-title`}>{printable(c.clientName)} asks to use your workspaces</h2>
        <p id={`${id}-desc`} className="muted">
          A sign-in page for this client is open in a browser. It returns to{' '}
          <strong>{printable(c.redirectHost)}</strong>. If you did not just connect a client, deny.
        </p>
        <p className="small muted detail-line">Client id: {printable(c.clientId)}</p>
        <div>
          <label htmlFor={`${id}-code`}>Type the code that page shows</label>
          <input
            id={`${id}-code`}
            ref={codeRef}
            className="mono"
            value={code}
            onChange={(e) => {
              setCode(e.target.value);
              setError(undefined);
            }}
            placeholder={formatShortCode('XXXXXXXX')}
            autoComplete="off"
            spellCheck={false}
            maxLength={16}
          />
        </div>
        <fieldset>
          <legend>Workspaces it may use</legend>
          {choosable.length === 0 && (
            <p className="muted">None of this device’s workspaces is connected for this request.</p>
          )}
          {choosable.map((w) => (
            <label key={w.id} className="check">
              <input
                type="checkbox"
                checked={chosen.has(w.id)}
                onChange={(e) => setChosen(toggle(chosen, w.id, e.target.checked))}
              />
              {printable(w.name)}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>What it may do there</legend>
          {CATEGORIES.map((cat) => (
            <label key={cat} className="check">
              <input
                type="checkbox"
                checked={categories.has(cat)}
                onChange={(e) => setCategories(toggle(categories, cat, e.target.checked))}
              />
              {CATEGORY_TEXT[cat]}
              {c.requestedCategories.includes(cat) && <span className="muted small"> (asked for)</span>}
            </label>
          ))}
          <p className="small muted">Each workspace’s own policy still applies: what asks there still asks.</p>
        </fieldset>
        <div>
          <label htmlFor={`${id}-ttl`}>For how long</label>
          <select id={`${id}-ttl`} value={ttl} onChange={(e) => setTtl(Number(e.target.value))}>
            {OAUTH_APPROVAL_CHOICES.map((choice) => (
              <option key={choice.seconds} value={choice.seconds}>
                {choice.label}
              </option>
            ))}
          </select>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="secondary" disabled={busy || offline} onClick={() => void answer(false)}>
            Deny
          </button>
          <span className="grow" />
          <button type="submit" className="primary" disabled={!ready}>
            Approve
          </button>
        </div>
      </form>
    </div>
  );
}
