import { useEffect, useRef } from 'react';
import type { DesktopApi, DesktopState } from '@tether/shared';
import { AddWorkspace } from './add-workspace.js';
import { WorkspaceCard } from './workspace-card.js';

/** The workspaces: an add form and one card per folder. */
export function WorkspaceList({
  api,
  state,
  pickFolder,
}: {
  api: DesktopApi;
  state: DesktopState;
  pickFolder: (() => Promise<string | null>) | undefined;
}) {
  const headingRef = useRef<HTMLHeadingElement>(null);
  const count = useRef(state.workspaces.length);
  // A removed card takes the focused Remove button with it: keyboard users land on the list's
  // heading rather than at the top of the page.
  useEffect(() => {
    const removed = state.workspaces.length < count.current;
    count.current = state.workspaces.length;
    if (removed && (document.activeElement === null || document.activeElement === document.body))
      headingRef.current?.focus();
  }, [state.workspaces.length]);

  return (
    <section aria-labelledby="workspaces-title" className="stack">
      <div className="section-head">
        <h2 id="workspaces-title" ref={headingRef} tabIndex={-1}>
          Workspaces
        </h2>
        <span className="muted small">
          {state.workspaces.length === 1 ? '1 folder' : `${state.workspaces.length} folders`}
        </span>
      </div>
      <AddWorkspace api={api} pickFolder={pickFolder} workspaceCount={state.workspaces.length} />
      {state.workspaces.length === 0 ? (
        <p className="empty">No workspaces yet. Add a folder to let agents work in it.</p>
      ) : (
        <ul className="stack plain" aria-label="Workspaces">
          {state.workspaces.map((w) => (
            <li key={w.id}>
              <WorkspaceCard
                api={api}
                workspace={w}
                online={state.connection.state === 'connected'}
                relayUrl={state.settings.relayUrl}
              />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
