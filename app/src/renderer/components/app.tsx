import { useEffect, useState } from 'react';
import type { Connection } from '../api/connect.js';
import { useDesktopState, usePendingConfirmations } from '../use-desktop.js';
import { useHostPresence } from '../use-host-instance.js';
import { ActivityView } from './activity-view.js';
import { ConfirmationDialog } from './confirmation-dialog.js';
import { ConnectionCard } from './connection-card.js';
import { MissedQuestions } from './missed-questions.js';
import { ProcessesPanel, useProcesses } from './processes-panel.js';
import { NotificationPrompt, useConfirmationNotifications } from './notifications.js';
import { OAuthClientsView } from './oauth-clients-view.js';
import { OAuthConsentDialog } from './oauth-consent-dialog.js';
import { Onboarding } from './onboarding.js';
import { SettingsView } from './settings-view.js';
import { WelcomeCard } from './welcome-card.js';
import { WorkspaceList } from './workspace-list.js';

type View = 'workspaces' | 'activity' | 'clients' | 'settings';
const VIEWS: { id: View; label: string }[] = [
  { id: 'workspaces', label: 'Workspaces' },
  { id: 'activity', label: 'Activity' },
  { id: 'clients', label: 'MCP clients' },
  { id: 'settings', label: 'Settings' },
];

/** What a tab over a restarted host says: what happened, and how to get back in. */
function RestartedText() {
  // One span: the banner is a flex row, and each inline piece would become a column of its own.
  return (
    <span>
      Lost the connection to the Tether host: it was restarted, and this tab still has the old one's key, so it cannot
      reconnect. Open the new address it printed when it started (it ends in <span className="mono">#secret=…</span>;
      under <span className="mono">npm start</span>, look for “Tether Desktop UI” in its terminal), then close this tab.
    </span>
  );
}

/** The whole UI: onboarding until a token is set, then the main window's views, and the confirmation dialog on top. */
export function App({ connection }: { connection: Connection }) {
  const { state, link, error } = useDesktopState(connection);
  const presence = useHostPresence(connection, link);
  const pending = usePendingConfirmations(connection, state);
  const [view, setView] = useState<View>('workspaces');
  // Latched, so the retries' brief "connecting" does not flip the page back to "Loading…".
  const [failedOnce, setFailedOnce] = useState(false);
  useEffect(() => {
    if (link === 'closed') setFailedOnce(true);
  }, [link]);
  useConfirmationNotifications(connection, pending);
  const processes = useProcesses(connection.api, link);
  // A tab in the background shows it in its title too (not everyone turns notifications on).
  useEffect(() => {
    document.title = pending.length > 0 ? `(${pending.length}) Tether: an agent is waiting for you` : 'Tether';
  }, [pending.length]);
  const api = connection.api;

  const stale = link !== 'open';
  // A restarted host has a new secret: this page cannot get back in, the new address can.
  const restarted = link === 'closed' && presence === 'restarted';
  const banner =
    link !== 'open' ? (
      <div className={`banner ${restarted ? 'bad' : 'warn'}`} role={restarted ? 'alert' : 'status'}>
        {link === 'connecting' ? (
          'Connecting to the Tether host…'
        ) : restarted ? (
          <RestartedText />
        ) : presence === 'down' ? (
          'Lost the connection to the Tether host: nothing answers at this address (did it stop?). Retrying… When it starts again, open the new address it prints.'
        ) : (
          'Lost the connection to the Tether host. Retrying… If it was restarted, open the new address it printed.'
        )}
      </div>
    ) : null;

  if (!state) {
    // Never in: the host is down, or this address is an old one (a restarted host has a new
    // secret, and a browser cannot tell a refused WebSocket from an absent host).
    const unreachable = failedOnce && link !== 'open' && !error;
    return (
      <main className="centered">
        {!unreachable && banner}
        <div className="card narrow" aria-busy={!error && !unreachable}>
          <h1>Tether</h1>
          {unreachable && presence === 'restarted' ? (
            <>
              <p role="alert">Cannot reach Tether Desktop at this address.</p>
              <p className="muted">
                Tether Desktop is running here, but this page has the key of an earlier run (it restarted with a new
                one), so it cannot get in: open the address it printed last (it ends in{' '}
                <span className="mono">#secret=…</span>; under <span className="mono">npm start</span>, look for “Tether
                Desktop UI” in its terminal), then close this tab.
              </p>
            </>
          ) : unreachable ? (
            <>
              <p role="alert">Cannot reach Tether Desktop at this address.</p>
              <p className="muted">
                It may have stopped, or restarted with a new address: open the address it printed last (it ends in
                #secret=…). This page keeps trying meanwhile.
              </p>
            </>
          ) : (
            <p role={error ? 'alert' : 'status'}>{error ?? 'Loading…'}</p>
          )}
        </div>
      </main>
    );
  }

  return (
    <>
      {banner}
      {!state.hasToken ? (
        <Onboarding api={api} state={state} />
      ) : (
        // Without the host nothing here is current or can be changed: shown dimmed and inert
        // until the link is back (state:get then reloads it).
        <div className={`shell${stale ? ' stale' : ''}`} inert={stale} aria-busy={stale}>
          <header className="topbar">
            <div className="brand">
              <img src="./icon.svg" alt="" width={24} height={24} />
              <span>Tether</span>
            </div>
            <nav aria-label="Main">
              {VIEWS.map((v) => (
                <button
                  key={v.id}
                  type="button"
                  className={`tab ${view === v.id ? 'active' : ''}`}
                  aria-current={view === v.id ? 'page' : undefined}
                  onClick={() => setView(v.id)}
                >
                  {v.label}
                </button>
              ))}
            </nav>
            <span
              className={`pill conn-${stale ? 'error' : state.connection.state}`}
              aria-label={stale ? 'No connection to the Tether host' : `Relay connection: ${state.connection.state}`}
            >
              <span className="dot" aria-hidden="true" />
              {stale ? 'no host' : state.connection.state}
            </span>
          </header>
          <main className="content">
            {connection.kind === 'browser' && <NotificationPrompt />}
            <MissedQuestions api={api} missed={state.missedConfirmations} />
            {view === 'workspaces' && (
              <>
                <WelcomeCard hasWorkspaces={state.workspaces.length > 0} />
                <ConnectionCard api={api} state={state} onOpenSettings={() => setView('settings')} />
                <ProcessesPanel api={api} processes={processes} workspaces={state.workspaces} />
                <WorkspaceList api={api} state={state} pickFolder={connection.pickFolder} />
              </>
            )}
            {view === 'activity' && <ActivityView api={api} workspaces={state.workspaces} />}
            {view === 'clients' && <OAuthClientsView api={api} state={state} />}
            {view === 'settings' && <SettingsView api={api} state={state} />}
          </main>
        </div>
      )}
      {pending.length === 0 && state.hasToken && state.oauthRequests.length > 0 && (
        <OAuthConsentDialog
          key={state.oauthRequests[0]!.requestId}
          api={api}
          consent={state.oauthRequests[0]!}
          workspaces={state.workspaces}
          offline={stale}
        />
      )}
      {pending.length > 0 && (
        <ConfirmationDialog
          key={pending[0]!.id}
          api={api}
          request={pending[0]!}
          waiting={pending.slice(1)}
          offline={stale}
          lastDuration={state.lastAllowDuration}
        />
      )}
    </>
  );
}
