import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { printable, type ConfirmationAnswer, type ConfirmationRequest, type DesktopApi } from '@tether/shared';
import { messageOf } from '../use-desktop.js';
import { DiffView } from './diff-view.js';

/** Choices for "allow this workspace for N minutes". */
const ALLOW_MINUTES_CHOICES = [5, 15, 60] as const;
/**
 * The allow answers (keys and clicks) only work once the dialog has been on screen this long
 * with no key pressed and no click in it: a person typing elsewhere when it pops up (and taking
 * a moment to notice), or clicking twice on "Allow once" while the next queued question takes
 * its place, cannot allow something unseen. Deny works at once.
 */
const ANSWER_ARM_DELAY_MS = 600;

/**
 * Everything shown here came from the relay or a file: `printable` makes control and bidi
 * characters visible, so the text judged is the text that runs.
 *
 * The question put to the person before a write or a command: which workspace, which caller,
 * which tool, and exactly what it touches, with a countdown to the automatic deny.
 * Shortcuts: A allow once, W allow the workspace for N minutes, D or Esc deny.
 */
export function ConfirmationDialog({
  api,
  request: r,
  queued,
  offline = false,
}: {
  api: DesktopApi;
  request: ConfirmationRequest;
  queued: number;
  /** The page has lost its link to the host: nothing can be answered until it is back. */
  offline?: boolean;
}) {
  const [minutes, setMinutes] = useState<number>(ALLOW_MINUTES_CHOICES[1]);
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

  const total = Math.max(1, r.expiresAt - r.createdAt);
  const left = Math.max(0, r.expiresAt - now);
  const seconds = Math.ceil(left / 1000);

  // Offline nothing can be answered; back online, the wait starts again like a new question.
  useEffect(() => {
    offlineRef.current = offline;
    setArmed(false);
    rearm();
  }, [offline]);

  async function answer(decision: ConfirmationAnswer['decision']) {
    if (busy || offline || (!armed && decision !== 'deny')) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.request('confirm:answer', {
        confirmationId: r.id,
        decision,
        ...(decision === 'allow_workspace' ? { minutes } : {}),
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
    // Still typing what was meant for something else: wait for a pause first.
    if (!armed) return rearm();
    if (e.ctrlKey || e.metaKey || e.altKey || (e.target as HTMLElement).tagName === 'SELECT') return;
    const key = e.key.toLowerCase();
    if (key === 'a') void answer('allow_once');
    else if (key === 'w') void answer('allow_workspace');
    else if (key === 'd') void answer('deny');
    else return;
    e.preventDefault();
  }

  return (
    // A click on the backdrop must not move focus out of the dialog (its keys would stop working).
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && e.preventDefault()}>
      <div
        ref={dialogRef}
        className="dialog"
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
          <span className={`badge cat-${r.category}`}>{r.category}</span>
          {queued > 0 && <span className="muted small">+{queued} more waiting</span>}
        </header>
        <h2 id={`${id}-title`}>
          Allow <code>{r.tool}</code> in <strong>{printable(r.workspaceName)}</strong>?
        </h2>
        <p id={`${id}-desc`} className="muted">
          Requested by <strong>{printable(r.caller)}</strong>.
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
          <span className="grow" />
          <div className="allow-for">
            <button
              type="button"
              className="secondary"
              onClick={() => answer('allow_workspace')}
              disabled={busy}
              aria-disabled={!armed || offline}
              aria-keyshortcuts="W"
            >
              Allow workspace for <kbd>W</kbd>
            </button>
            <select
              aria-label="Minutes to allow this workspace without asking"
              value={minutes}
              onChange={(e) => setMinutes(Number(e.target.value))}
            >
              {ALLOW_MINUTES_CHOICES.map((m) => (
                <option key={m} value={m}>
                  {m} min
                </option>
              ))}
            </select>
          </div>
          <button
            type="button"
            className="primary"
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
          <span className="mono">{printable(d.path)}</span>{' '}
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
          {printable(d.command, { keepNewlines: true })}
        </pre>
        <p className="small muted">
          in <span className="mono">{printable(d.cwd)}</span>
        </p>
      </div>
    );
  }
  return <p className="detail">{printable(d.summary)}</p>;
}

function trapFocus(e: KeyboardEvent, root: HTMLElement | null) {
  if (!root) return;
  const items = [
    ...root.querySelectorAll<HTMLElement>('button:not([disabled]), select, [tabindex]:not([tabindex="-1"])'),
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
