import { useEffect, useId, useState } from 'react';
import type { WorkspaceView } from '@tether/shared';

/** The relay's HTTP base for the platform API, from the address the desktop connects to. */
export function platformBaseOf(relayUrl: string): string {
  try {
    const url = new URL(relayUrl);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    if (url.protocol === 'wss:') url.protocol = 'https:';
    return url.origin;
  } catch {
    return relayUrl.replace(/\/+$/, '');
  }
}

/** A value with a Copy button; says "Copied" for a moment (or why it could not). */
function Copyable({ label, value, multiline = false }: { label: string; value: string; multiline?: boolean }) {
  const [note, setNote] = useState<string>();
  const id = useId();
  useEffect(() => {
    if (!note) return;
    const timer = setTimeout(() => setNote(undefined), 2000);
    return () => clearTimeout(timer);
  }, [note]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setNote('Copied');
    } catch {
      setNote('Select and copy it by hand');
    }
  }
  return (
    <div className="copyable">
      <span id={`${id}-label`} className="small muted">
        {label}
      </span>
      <div className="row copy-row">
        {multiline ? (
          <pre className="command grow" aria-labelledby={`${id}-label`} tabIndex={0}>
            {value}
          </pre>
        ) : (
          <code className="mono small grow copy-value" aria-labelledby={`${id}-label`}>
            {value}
          </code>
        )}
        <button type="button" className="secondary small-btn" onClick={() => void copy()} aria-label={`Copy ${label}`}>
          Copy
        </button>
      </div>
      <span className="small muted" role="status">
        {note}
      </span>
    </div>
  );
}

/**
 * How a platform reaches this workspace: its runtime id, the MCP URL and a curl example, each
 * copyable (the platform key goes in `$TPK`: it is the platform's, never kept by the desktop).
 */
export function RuntimeAccess({ workspace: w, relayUrl }: { workspace: WorkspaceView; relayUrl: string }) {
  if (!w.runtimeId) {
    return (
      <p className="small muted runtime-access">
        Runtime id: not known yet (it is given by the relay once Tether is connected).
      </p>
    );
  }
  const base = platformBaseOf(relayUrl);
  const curl =
    `curl -X POST -H "Authorization: Bearer $TPK" -H "Content-Type: application/json" \\\n` +
    `  -d '{"tool":"list_dir","args":{"path":"."}}' \\\n` +
    `  ${base}/v1/runtimes/${w.runtimeId}/calls`;
  return (
    <details className="runtime-access" open>
      <summary>For the platform</summary>
      <p className="small muted">
        An agent platform uses this folder through the relay, with a platform key (tpk_…) in place of $TPK:{' '}
        <span className="mono">npm start</span> prints one.
      </p>
      <Copyable label="Runtime id" value={w.runtimeId} />
      <Copyable label="MCP URL" value={`${base}/v1/runtimes/${w.runtimeId}/mcp`} />
      <Copyable label="Example call (curl)" value={curl} multiline />
    </details>
  );
}
