import { useState } from 'react';
import { callerLabel, printable, type DesktopApi, type MissedConfirmation } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/**
 * "You missed N questions": every question that timed out or went away with its call (the
 * relay dropped it, its deadline passed, the platform cancelled it) stays listed here until the
 * person dismisses it, so none disappears without a trace.
 */
export function MissedQuestions({ api, missed }: { api: DesktopApi; missed: MissedConfirmation[] }) {
  const [error, setError] = useState<string>();
  if (missed.length === 0) return null;
  return (
    <section className="card missed" role="status" aria-labelledby="missed-title">
      <div className="row">
        <h2 id="missed-title" className="grow">
          You missed {missed.length === 1 ? 'a question' : `${missed.length} questions`}
        </h2>
        <button
          type="button"
          className="secondary small-btn"
          onClick={() =>
            api.request('confirm:dismissMissed', {}).then(
              () => setError(undefined),
              (err: unknown) => setError(messageOf(err)),
            )
          }
        >
          Dismiss
        </button>
      </div>
      <p className="small muted">Each was denied: the agent got an error and nothing ran.</p>
      <ul className="plain missed-list">
        {missed.map((m) => (
          <li key={m.id}>
            <span className="mono small">{new Date(m.endedAt).toLocaleTimeString()}</span> <code>{m.tool}</code> in{' '}
            <strong>{printable(m.workspaceName)}</strong>: <span className="mono">{printable(m.summary)}</span>{' '}
            <span className="small muted">
              ({m.outcome === 'timeout' ? 'no answer in time' : 'the call went away before you answered'}; asked by a
              caller that says it is “{callerLabel(m.caller)}”)
            </span>
          </li>
        ))}
      </ul>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
