import { useId, useState, type FormEvent } from 'react';
import type { DesktopApi, DesktopState } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/** First run: the relay's address and the desktop token, then connect. */
export function Onboarding({ api, state }: { api: DesktopApi; state: DesktopState }) {
  const [relayUrl, setRelayUrl] = useState(state.settings.relayUrl);
  const [token, setToken] = useState('');
  const [showToken, setShowToken] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const id = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.request('settings:update', { relayUrl: relayUrl.trim(), token: token.trim() });
      await api.request('connection:set', { enabled: true });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="centered">
      <form className="card narrow onboarding" onSubmit={submit} aria-labelledby={`${id}-title`}>
        <div className="brand big">
          <img src="./icon.svg" alt="" width={40} height={40} />
        </div>
        <h1 id={`${id}-title`}>Welcome to Tether</h1>
        <p className="muted">
          Tether lets an AI-agent platform work in folders you choose on this computer. Everything it does follows your
          rules, and it asks before it writes or runs a command.
        </p>
        <label htmlFor={`${id}-relay`}>Relay address</label>
        <input
          id={`${id}-relay`}
          type="url"
          required
          value={relayUrl}
          onChange={(e) => setRelayUrl(e.target.value)}
          placeholder="https://relay.example.com"
          autoComplete="url"
        />
        <label htmlFor={`${id}-token`}>Desktop token</label>
        <div className="row">
          <input
            id={`${id}-token`}
            type={showToken ? 'text' : 'password'}
            required
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="tdt_…"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${id}-token-help`}
          />
          <button type="button" className="secondary" aria-pressed={showToken} onClick={() => setShowToken((s) => !s)}>
            {showToken ? 'Hide' : 'Show'}
          </button>
        </div>
        <p id={`${id}-token-help`} className="help">
          Your organization's admin gives you this token. It is kept in your system's keychain (or a private file where
          there is none) and never shown again.
        </p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Connecting…' : 'Save and connect'}
        </button>
      </form>
    </main>
  );
}
