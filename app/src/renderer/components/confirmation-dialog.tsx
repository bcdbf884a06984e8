import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import {
  MAX_DENY_REASON_CHARS,
  callerLabel,
  confirmationSummary,
  describeScope,
  printable,
  type ConfirmationAnswer,
  type ConfirmationRequest,
  type DesktopApi,
  type DesktopState,
} from '@tether/shared';
import { messageOf } from '../use-desktop.js';
import { DiffView } from './diff-view.js';
import { Revealed } from './revealed.js';

/** Choices for how long a standing allowance lasts: minutes, or until the person revokes it. */
export const ALLOW_DURATION_CHOICES = [5, 15, 60, 'lasting'] as const;
type Duration = number | 'lasting';
/**
 * The allow answers (keys and clicks) only work once the dialog has been on screen this long
 * with no key pressed and no click in it: a person typing elsewhere when it pops up (and taking
 * a moment to notice), or clicking twice on "Allow once" while the next queued question takes
 * its place, cannot allow something unseen. Deny works at once.
 */
const ANSWER_ARM_DELAY_MS = 600;

/**
 * The question put to the person before a write or a command: which workspace, which caller
 * (as it names itself: not verified), which tool, and exactly what it touches, with nothing
 * hidden (invisible characters, trailing whitespace and long space runs are marked; long lines
 * wrap), with a countdown to the automatic deny that starts when the question is shown.
 * A standing allowance says exactly what it covers and until when.
 * Shortcuts: A allow once, W allow what is chosen for the chosen time, D or Esc deny.
 */
export function ConfirmationDialog({
  api,
  request: r,
  waiting = [],
  offline = false,
  lastDuration = 15,
}: {
  api: DesktopApi;
  request: ConfirmationRequest;
  /** The questions waiting behind this one, oldest first. */
  waiting?: ConfirmationRequest[];
  /** The page has lost its link to the host: nothing can be answered until it is back. */
  offline?: boolean;
  /** The duration chosen last time (DesktopState.lastAllowDuration), offered first. */
  lastDuration?: DesktopState['lastAllowDuration'];
}) {
  const [duration, setDuration] = useState<Duration>(lastDuration);
  const [offer, setOffer] = useState(0);
  const [reason, setReason] = useState('');
  const [giveReason, setGiveReason] = useState(false);
  const [showWaiting, setShowWaiting] = useState(false);
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [armed, setArmed] = useState(false);
  const dialogRef = useRef<HTMLDivElement>(null);
  const denyRef = useRef<HTMLButtonElement>(null);
  const id = useId();

  const armTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const offlineRef = useRef(offline);
  /** (Re)starts the wait before the allow answers work; offline it waits for the link (see below). */
  function rearm() {
    clearTimeout(armTimer.current);
    // A key, click or return to the window while offline must not arm it: back online, the
    // allow answers would then work at once instead of after the wait.
    if (offlineRef.current) return;
    armTimer.current = setTimeout(() => setArmed(true), ANSWER_ARM_DELAY_MS);
  }

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    denyRef.current?.focus();
    rearm();
    const tick = setInterval(() => setNow(Date.now()), 250);
    // Shown while the window was in the background: the person sees it only when they come back
    // (perhaps typing as they switch), so the wait starts again then.
    const onReturn = () => {
      if (document.visibilityState !== 'visible') return;
      setArmed(false);
      rearm();
    };
    window.addEventListener('focus', onReturn);
    document.addEventListener('visibilitychange', onReturn);
    return () => {
      clearTimeout(armTimer.current);
      clearInterval(tick);
      window.removeEventListener('focus', onReturn);
      document.removeEventListener('visibilitychange', onReturn);
      previous?.focus?.();
    };
  }, []);

  const startedAt = r.startedAt ?? r.createdAt;
  const total = Math.max(1, r.expiresAt - startedAt);
  const left = Math.max(0, r.expiresAt - now);
  const seconds = Math.ceil(left / 1000);
  const scope = r.offers[offer];
  const destructive = r.detail.kind === 'delete';

  // Offline nothing can be answered; back online, the wait starts again like a new question.
  useEffect(() => {
    offlineRef.current = offline;
    setArmed(false);
    rearm();
  }, [offline]);

  async function answer(decision: ConfirmationAnswer['decision']) {
    if (busy || offline || (!armed && decision !== 'deny')) return;
    if (decision === 'allow_rule' && !scope) return;
    setBusy(true);
    setError(undefined);
    const words = reason.trim();
    try {
      await api.request('confirm:answer', {
        confirmationId: r.id,
        decision,
        ...(decision === 'allow_rule'
          ? { offer, ...(duration === 'lasting' ? { lasting: true as const } : { minutes: duration }) }
          : {}),
        ...(decision === 'deny' && words ? { reason: words } : {}),
      });
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    if (e.key === 'Tab') return trapFocus(e, dialogRef.current);
    if (e.key === 'Escape') {
      e.preventDefault();
      return void answer('deny');
    }
    const tag = (e.target as HTMLElement).tagName;
    // Enter in the reason field sends the deny with it.
    if (tag === 'INPUT' && e.key === 'Enter') {
      e.preventDefault();
      return void answer('deny');
    }
    // Still typing what was meant for something else: wait for a pause first.
    if (!armed) return rearm();
    if (e.ctrlKey || e.metaKey || e.altKey || tag === 'INPUT') return;
    const key = e.key.toLowerCase();
    // In a select, letters pick options; only D still answers there, and denying is always safe.
    if (tag === 'SELECT' && key !== 'd') return;
    if (key === 'a') void answer('allow_once');
    else if (key === 'w' && scope) void answer('allow_rule');
    else if (key === 'd') void answer('deny');
    else return;
    e.preventDefault();
  }

  const until =
    duration === 'lasting'
      ? 'until you revoke it (kept when Tether restarts)'
      : `for ${duration} minutes, until ${new Date(now + duration * 60_000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;

  return (
    // A click on the backdrop must not move focus out of the dialog (its keys would stop working).
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && e.preventDefault()}>
      <div
        ref={dialogRef}
        className={`dialog${destructive ? ' destructive' : ''}`}
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-desc`}
        data-armed={armed}
        tabIndex={-1}
        onKeyDown={onKeyDown}
        onMouseDownCapture={() => !armed && rearm()}
      >
        <header className="dialog-head">
          <span className={`badge cat-${r.category}`}>{destructive ? 'delete' : r.category}</span>
          {waiting.length > 0 && (
            <details
              className="waiting small"
              open={showWaiting}
              onToggle={(e) => setShowWaiting((e.target as HTMLDetailsElement).open)}
            >
              <summary>+{waiting.length} more waiting</summary>
              {/* Their countdowns start only when each is shown. Listed only when opened: the dialog's
                  own text stays about the question it asks. */}
              {showWaiting && (
                <ul className="plain">
                  {waiting.map((w) => (
                    <li key={w.id}>
                      <code>{w.tool}</code> in {printable(w.workspaceName)}: {printable(confirmationSummary(w.detail))}
                    </li>
                  ))}
                </ul>
              )}
            </details>
          )}
        </header>
        <h2 id={`${id}-title`}>
          Allow <code>{r.tool}</code> in <strong>{printable(r.workspaceName)}</strong>?
        </h2>
        <p id={`${id}-desc`} className="muted caller">
          Asked by a caller that says it is <q className="untrusted">{callerLabel(r.caller)}</q>{' '}
          <span className="small">(a name the platform gave itself; Tether cannot verify it)</span>
        </p>
        {/* Only this part scrolls: the question above and the answers below stay in view. */}
        <div className="dialog-body">
          <Detail request={r} />
        </div>
        <div className="countdown" aria-live="off">
          <div className="countdown-bar" style={{ width: `${(left / total) * 100}%` }} />
        </div>
        <p className="small muted" role="timer" aria-label={`Denied automatically in ${seconds} seconds`}>
          {left > 0 ? `Denied automatically in ${formatSeconds(seconds)}` : 'Timed out: denied.'}
        </p>
        {offline && (
          <p className="note small" role="status">
            Reconnecting to Tether Desktop… This question can be answered once it is back.
          </p>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {scope && (
          <fieldset className="allowance-choice">
            <legend className="small">Don’t ask again for</legend>
            <div className="row wrap-tight">
              <select
                className="grow"
                aria-label="What the allowance covers"
                value={offer}
                onChange={(e) => setOffer(Number(e.target.value))}
              >
                {r.offers.map((o, i) => (
                  <option key={i} value={i}>
                    {describeScope(o)}
                  </option>
                ))}
              </select>
              <select
                aria-label="Minutes to allow this workspace without asking (for the chosen kind of call only)"
                value={String(duration)}
                onChange={(e) => setDuration(e.target.value === 'lasting' ? 'lasting' : Number(e.target.value))}
              >
                {ALLOW_DURATION_CHOICES.map((m) => (
                  <option key={m} value={String(m)}>
                    {m === 'lasting' ? 'until I revoke' : `${m} min`}
                  </option>
                ))}
              </select>
            </div>
            <p className="small muted allowance-covers">
              <kbd>W</kbd> allows {describeScope(scope)}, {until}. Everything else still asks.
            </p>
          </fieldset>
        )}
        {giveReason && (
          <input
            type="text"
            className="deny-reason"
            aria-label="Reason for the agent (sent with Deny; Enter denies)"
            placeholder="Reason for the agent (sent with Deny; Enter denies)"
            maxLength={MAX_DENY_REASON_CHARS}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            autoFocus
          />
        )}
        <div className="dialog-actions">
          <button
            ref={denyRef}
            type="button"
            className="secondary"
            onClick={() => answer('deny')}
            disabled={busy}
            aria-disabled={offline}
            aria-keyshortcuts="D Escape"
          >
            Deny <kbd>D</kbd>
          </button>
          {!giveReason && (
            <button type="button" className="ghost small-btn" onClick={() => setGiveReason(true)}>
              Give a reason…
            </button>
          )}
          <span className="grow" />
          {scope && (
            <button
              type="button"
              className="secondary"
              onClick={() => answer('allow_rule')}
              disabled={busy}
              aria-disabled={!armed || offline}
              aria-keyshortcuts="W"
            >
              {duration === 'lasting' ? 'Allow until revoked' : `Allow for ${duration} min`} <kbd>W</kbd>
            </button>
          )}
          <button
            type="button"
            className={destructive ? 'danger' : 'primary'}
            onClick={() => answer('allow_once')}
            disabled={busy}
            aria-disabled={!armed || offline}
            aria-keyshortcuts="A"
          >
            Allow once <kbd>A</kbd>
          </button>
        </div>
      </div>
    </div>
  );
}

function Detail({ request: r }: { request: ConfirmationRequest }) {
  const d = r.detail;
  if (d.kind === 'write') {
    return (
      <div className="detail">
        <p className="detail-line">
          <span className="mono">
            <Revealed text={d.path} />
          </span>{' '}
          {d.isNew && <span className="badge state-running">new file</span>}
        </p>
        {/* No diff: binary content, or the same text again; the host's summary says which. */}
        {d.diff.trim() === '' ? <p className="small muted">{printable(d.summary)}</p> : <DiffView diff={d.diff} />}
      </div>
    );
  }
  if (d.kind === 'shell') {
    return (
      <div className="detail">
        <p className="small muted">Command</p>
        <pre className="command" aria-label="Command">
          <Revealed text={d.command} />
        </pre>
        <p className="small muted">
          in{' '}
          <span className="mono">
            <Revealed text={d.cwd} />
          </span>
        </p>
        {/* Where it runs, said with the question: sandboxed and with which network, or not at all. */}
        {d.sandbox && (
          <p
            className={`sandbox-line small ${d.sandbox.sandboxed ? 'confined' : 'unconfined'}`}
            aria-label="Where the command runs"
          >
            {printable(d.sandbox.summary)}
          </p>
        )}
      </div>
    );
  }
  if (d.kind === 'shell_input') {
    const lines = d.input.split('\n');
    return (
      <div className="detail">
        <p className="small">
          Typed into the shell session <span className="mono">{printable(d.sessionId)}</span>
          {d.session ? (
            <>
              {' '}
              running{' '}
              <code>
                <Revealed text={d.session.command} />
              </code>{' '}
              in{' '}
              <span className="mono">
                <Revealed text={d.session.cwd} />
              </span>
            </>
          ) : (
            ' (no such session is running)'
          )}
          :
        </p>
        <pre className="command" aria-label="Input">
          {lines.map((line, i) => (
            <span key={i}>
              <Revealed text={line} />
              {/* A line break is Enter: it runs what is before it. */}
              {i < lines.length - 1 && (
                <>
                  <mark className="hidden-char" title="Enter (runs the line)">
                    ⏎
                  </mark>
                  {'\n'}
                </>
              )}
            </span>
          ))}
        </pre>
      </div>
    );
  }
  if (d.kind === 'delete') {
    const inside =
      d.what === 'folder'
        ? `${d.capped ? 'at least ' : ''}${plural(d.files, 'file')} and ${plural(d.folders, 'folder')}, ${formatBytes(d.bytes)}`
        : d.what === 'file'
          ? `a file of ${formatBytes(d.bytes)}`
          : d.what === 'link'
            ? 'a link (only the link, not what it points to)'
            : 'an empty folder';
    return (
      <div className="detail delete-detail">
        <p className="delete-path mono" aria-label="Path to delete">
          <Revealed text={d.path} />
        </p>
        <p>
          <strong>Deletes {inside}.</strong>
        </p>
        {d.permanent && <p className="small">This is permanent: nothing goes to the trash, and it cannot be undone.</p>}
      </div>
    );
  }
  return (
    <p className="detail">
      <Revealed text={d.summary} />
    </p>
  );
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function trapFocus(e: KeyboardEvent, root: HTMLElement | null) {
  if (!root) return;
  const items = [
    ...root.querySelectorAll<HTMLElement>(
      'summary, button:not([disabled]), select, input, [tabindex]:not([tabindex="-1"])',
    ),
  ];
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return;
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}

function formatSeconds(s: number): string {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
