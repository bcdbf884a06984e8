import { useId, useState } from 'react';
import { printable, type DesktopApi, type DesktopState } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/** The org's approved MCP clients (OAuth), each revocable in one click. */
export function OAuthClientsView({ api, state }: { api: DesktopApi; state: DesktopState }) {
  const id = useId();
  const [error, setError] = useState<string>();
  const names = new Map(state.workspaces.filter((w) => w.runtimeId).map((w) => [w.runtimeId!, w.name]));
  return (
    <section aria-labelledby={`${id}-title`} className="stack">
      <div className="section-head">
        <h2 id={`${id}-title`}>MCP clients</h2>
      </div>
      <p className="muted">
        Clients such as claude.ai or ChatGPT that you approved to use workspaces through the relay. Revoking one stops
        its access at once.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {state.oauthClients.length === 0 ? (
        <div className="card">
          <p className="muted">No approved clients.</p>
        </div>
      ) : (
        state.oauthClients.map((c) => (
          <article key={c.id} className="card" aria-label={printable(c.clientName)}>
            <div className="dialog-head">
              <div>
                <h3>{printable(c.clientName)}</h3>
                <p className="small muted">
                  Returns to {printable(c.redirectHost)} · {c.categories.join(', ')} ·{' '}
                  {c.runtimeIds.map((r) => printable(names.get(r) ?? 'a workspace of another device')).join(', ')} ·
                  until {new Date(c.expiresAt).toLocaleString()}
                </p>
              </div>
              <button
                type="button"
                className="danger"
                onClick={() =>
                  api.request('oauth:revoke', { authorizationId: c.id }).then(
                    () => setError(undefined),
                    (err: unknown) => setError(messageOf(err)),
                  )
                }
              >
                Revoke
              </button>
            </div>
          </article>
        ))
      )}
    </section>
  );
}
