import { useState } from 'react';
import { printable, type DesktopApi, type DesktopState } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

const STATE_TEXT = {
  connected: 'Connected',
  connecting: 'Connecting…',
  disconnected: 'Disconnected',
  error: 'Connection problem',
} as const;

/**
 * The relay connection: state, relay address, and the connect/disconnect switch. While it
 * fails, a way to the settings where the address and the token are fixed; when the relay
 * refused this device's key, an alert and the way out (re-pairing the device).
 */
export function ConnectionCard({
  api,
  state,
  onOpenSettings,
}: {
  api: DesktopApi;
  state: DesktopState;
  onOpenSettings: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const c = state.connection;

  async function repair() {
    setBusy(true);
    setError(undefined);
    try {
      await api.request('device:repair', {});
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function toggle() {
    setBusy(true);
    setError(undefined);
    try {
      await api.request('connection:set', { enabled: !c.enabled });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card connection" aria-labelledby="connection-title">
      <div className={`status-icon conn-${c.state}`} aria-hidden="true" />
      <div className="grow">
        <h2 id="connection-title">{STATE_TEXT[c.state]}</h2>
        <p className="muted mono small url" title="Relay address">
          {printable(c.relayUrl)}
        </p>
        {/* The reason can quote the relay (a close reason): printable() keeps it plain text. */}
        {c.reason && <p className="small reason">{printable(c.reason)}</p>}
        <p className="small muted">
          This device: {printable(state.device.name)} · token in {tokenStoreText(state.tokenStore)}
          {state.device.keyFingerprint && <> · key {printable(state.device.keyFingerprint)}</>}
        </p>
        {c.claimRefusedAt !== undefined && (
          <div className="device-alert" role="alert" aria-labelledby="claim-alert-title">
            <h3 id="claim-alert-title">Someone else has your desktop token</h3>
            <p className="small">
              At {new Date(c.claimRefusedAt).toLocaleTimeString()} another install tried to connect as this device. The
              relay refused it (it does not have this device’s key), but it holds your desktop token: ask the relay’s
              admin for a new token, have the old one revoked, and enter the new one.
            </p>
            <button type="button" className="secondary" onClick={onOpenSettings}>
              Replace the token…
            </button>
          </div>
        )}
        {c.alert === 'device_key_refused' && (
          <div className="device-alert" role="alert" aria-labelledby="device-alert-title">
            <h3 id="device-alert-title">The relay refused this device’s key</h3>
            <p className="small">
              Another install holds this device id with its own key: someone with your desktop token may have tried to
              take this device over, or this computer was set up again. Agents cannot reach your workspaces until you
              re-pair; tell the relay’s admin too.
            </p>
            <button type="button" className="primary" onClick={repair} disabled={busy}>
              Re-pair this device
            </button>
            <p className="small muted">
              Makes a new device id and key for this computer; platforms see its workspaces as new runtimes.
            </p>
          </div>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </div>
      <div className="connection-actions">
        <button type="button" className={c.enabled ? 'secondary' : 'primary'} onClick={toggle} disabled={busy}>
          {c.enabled ? 'Disconnect' : 'Connect'}
        </button>
        {c.enabled && c.state !== 'connected' && c.reason && (
          <button type="button" className="ghost" onClick={onOpenSettings}>
            Change relay or token…
          </button>
        )}
      </div>
    </section>
  );
}

function tokenStoreText(store: DesktopState['tokenStore']): string {
  switch (store) {
    case 'keychain':
      return 'the system keychain';
    case 'file':
      return 'a private file (no keychain here)';
    case 'memory':
      return 'memory only';
    case 'none':
      return 'no store';
  }
}
