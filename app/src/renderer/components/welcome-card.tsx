import { useState } from 'react';

/** Where the tab remembers that the person closed the welcome. */
const WELCOME_KEY = 'tether.welcomeDismissed';

function dismissed(): boolean {
  try {
    return localStorage.getItem(WELCOME_KEY) === '1';
  } catch {
    return false;
  }
}

/** The first screen's words: what Tether is, and what to do next. Closed for good with "Got it". */
export function WelcomeCard({ hasWorkspaces }: { hasWorkspaces: boolean }) {
  const [hidden, setHidden] = useState(dismissed);
  if (hidden) return null;
  return (
    <section className="card welcome" aria-labelledby="welcome-title">
      <h2 id="welcome-title">What Tether does here</h2>
      <p>
        Tether lets an AI-agent platform work in folders you choose on this computer. Each folder is a{' '}
        <strong>workspace</strong>; the platform sees it as a <strong>runtime</strong> and calls tools in it through the
        relay. Reads run; changes and commands ask you first, unless you say otherwise.
      </p>
      <ol className="small">
        <li>{hasWorkspaces ? 'Your workspaces are below.' : 'Add a folder below: the project folder itself.'}</li>
        <li>
          Give the platform a workspace’s runtime id or MCP URL (below, under “For the platform”), with a platform key.
        </li>
        <li>When an agent wants to change a file or run a command, Tether asks you here. Activity shows every call.</li>
      </ol>
      <div className="row end">
        <button
          type="button"
          className="secondary"
          onClick={() => {
            try {
              localStorage.setItem(WELCOME_KEY, '1');
            } catch {
              // private mode: it stays closed for this visit only
            }
            setHidden(true);
          }}
        >
          Got it
        </button>
      </div>
    </section>
  );
}
