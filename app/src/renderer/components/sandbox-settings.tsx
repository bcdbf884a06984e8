import { useEffect, useId, useState } from 'react';
import { printable, type DesktopParams, type SandboxView } from '@tether/shared';

type SandboxPatch = Pick<DesktopParams<'workspace:update'>, 'sandbox' | 'network' | 'allowDomains' | 'hidePaths'>;

const NETWORK_TEXT = {
  internet: 'Internet only (not this computer or LAN)',
  none: 'No network',
  domains: 'Only these domains',
} as const;

const ENGINE_TEXT = { bubblewrap: 'bubblewrap', seatbelt: 'macOS Seatbelt' } as const;

/** Splits what the person typed (lines or commas) into entries. */
function entries(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Whether this workspace's commands are sandboxed, and what they can reach: the plain
 * statement first ("Sandboxed" / "Not sandboxed" and why), the hidden places on demand, then
 * the settings (sandbox on or off, network, allowed domains, extra hidden paths).
 */
export function SandboxSettings({
  sandbox: s,
  workspaceName,
  onChange,
}: {
  sandbox: SandboxView;
  workspaceName: string;
  onChange: (patch: SandboxPatch) => Promise<boolean>;
}) {
  const id = useId();
  const [domains, setDomains] = useState(s.allowDomains.join('\n'));
  const [hidePaths, setHidePaths] = useState(s.hidePaths.join('\n'));
  useEffect(() => setDomains(s.allowDomains.join('\n')), [s.allowDomains]);
  useEffect(() => setHidePaths(s.hidePaths.join('\n')), [s.hidePaths]);

  return (
    <section className="sandbox" aria-labelledby={`${id}-title`}>
      <h4 id={`${id}-title`} className={s.sandboxed ? 'sandbox-on' : 'sandbox-off'}>
        {s.sandboxed
          ? `Commands are sandboxed (${s.engine ? ENGINE_TEXT[s.engine] : 'OS sandbox'})`
          : 'Commands are not sandboxed'}
      </h4>
      {s.sandboxed ? (
        <p className="small">
          They can change files only in this folder, cannot read the {s.hidden.length} hidden places below, reach{' '}
          {s.network === 'none'
            ? 'no network'
            : s.network === 'domains'
              ? `only ${s.allowDomains.map((d) => printable(d)).join(', ') || 'no domain'}`
              : 'the internet but not this computer or your local network'}
          , and cannot use this computer’s sockets or see its other programs.
        </p>
      ) : (
        <p className="note small" role="status">
          Not sandboxed: {printable(s.reason ?? 'no sandbox')}. A command can read and change everything you can, so
          Tether asks you before every command, whatever the policy says.
        </p>
      )}
      {s.networkNote && <p className="note small">{printable(s.networkNote)}</p>}
      {s.sandboxed && (
        <details>
          <summary className="small">What commands cannot read</summary>
          <ul className="mono small hidden-list">
            {s.hidden.map((p) => (
              <li key={p}>{printable(p)}</li>
            ))}
          </ul>
        </details>
      )}
      <div className="row wrap-tight">
        <label className="policy-item">
          <span>Sandbox</span>
          <select
            value={s.setting}
            onChange={(e) => void onChange({ sandbox: e.target.value as 'os' | 'off' })}
            aria-label={`Sandbox for ${workspaceName}`}
          >
            <option value="os">On</option>
            <option value="off">Off (not recommended)</option>
          </select>
        </label>
        <label className="policy-item">
          <span>Network</span>
          <select
            value={s.network}
            onChange={(e) => void onChange({ network: e.target.value as keyof typeof NETWORK_TEXT })}
            aria-label={`Network for ${workspaceName}`}
          >
            {(['internet', 'none', 'domains'] as const).map((n) => (
              <option key={n} value={n}>
                {NETWORK_TEXT[n]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {s.network === 'domains' && (
        <form
          className="editor"
          onSubmit={(e) => {
            e.preventDefault();
            void onChange({ allowDomains: entries(domains) });
          }}
        >
          <label htmlFor={`${id}-domains`}>Allowed domains (one per line; *.example.com for subdomains)</label>
          <textarea id={`${id}-domains`} rows={3} value={domains} onChange={(e) => setDomains(e.target.value)} />
          <div className="row end">
            <button type="submit" className="secondary small-btn">
              Update allowed domains
            </button>
          </div>
        </form>
      )}
      <form
        className="editor"
        onSubmit={(e) => {
          e.preventDefault();
          void onChange({ hidePaths: entries(hidePaths) });
        }}
      >
        <label htmlFor={`${id}-hide`}>
          Also hide from commands (paths, one per line; relative ones are in your home)
        </label>
        <textarea id={`${id}-hide`} rows={2} value={hidePaths} onChange={(e) => setHidePaths(e.target.value)} />
        <div className="row end">
          <button type="submit" className="secondary small-btn">
            Update hidden paths
          </button>
        </div>
      </form>
    </section>
  );
}
