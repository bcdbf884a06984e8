import { useId, useState, type FormEvent } from 'react';
import { MAX_NAME_CHARS, type DesktopApi, type DesktopParams, type DesktopState } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

type Section = 'general' | 'startup' | 'token';

/** Settings: relay address, device name, start-up switches, and replacing the token. */
export function SettingsView({ api, state }: { api: DesktopApi; state: DesktopState }) {
  const s = state.settings;
  const [relayUrl, setRelayUrl] = useState(s.relayUrl);
  const [deviceName, setDeviceName] = useState(s.deviceName);
  const [token, setToken] = useState('');
  const [checking, setChecking] = useState(false);
  // Each answer shows in the card it is about: a note at the top of the page is out of sight
  // of the token form at the bottom.
  const [note, setNote] = useState<{ text: string; error: boolean; section: Section }>();
  const id = useId();

  async function save(params: DesktopParams<'settings:update'>, done: string, section: Section) {
    setNote(undefined);
    try {
      await api.request('settings:update', params);
      setNote({ text: done, error: false, section });
      return true;
    } catch (err) {
      setNote({ text: messageOf(err), error: true, section });
      return false;
    }
  }

  const noteFor = (section: Section) =>
    note?.section === section && (
      <p className={note.error ? 'error' : 'success'} role={note.error ? 'alert' : 'status'}>
        {note.text}
      </p>
    );

  function submitGeneral(e: FormEvent) {
    e.preventDefault();
    void save({ relayUrl: relayUrl.trim(), deviceName: deviceName.trim() }, 'Settings saved.', 'general');
  }

  async function submitToken(e: FormEvent) {
    e.preventDefault();
    setChecking(true);
    const replaced = await save(
      { token: token.trim() },
      'Token replaced: the relay accepted it, and Tether reconnects with it.',
      'token',
    );
    setChecking(false);
    if (replaced) setToken('');
  }

  // A headless host has no login item and no power control: those two switches would be saved
  // and do nothing, so they are shown as the desktop app's only.
  const headless = state.hostMode === 'headless';
  const toggles = [
    { key: 'connectOnStart', label: 'Connect to the relay when Tether starts', desktopOnly: false },
    { key: 'launchAtLogin', label: 'Start Tether when I log in', desktopOnly: true },
    { key: 'keepAwake', label: 'Keep this computer awake while connected', desktopOnly: true },
  ] as const;

  return (
    <section aria-labelledby={`${id}-title`} className="stack">
      <div className="section-head">
        <h2 id={`${id}-title`}>Settings</h2>
      </div>
      <form className="card stack" onSubmit={submitGeneral} aria-label="General settings">
        <div>
          <label htmlFor={`${id}-relay`}>Relay address</label>
          <input
            id={`${id}-relay`}
            type="url"
            required
            value={relayUrl}
            onChange={(e) => setRelayUrl(e.target.value)}
          />
        </div>
        <div>
          <label htmlFor={`${id}-device`}>Device name</label>
          <input
            id={`${id}-device`}
            required
            maxLength={MAX_NAME_CHARS}
            value={deviceName}
            onChange={(e) => setDeviceName(e.target.value)}
            aria-describedby={`${id}-device-help`}
          />
          <p id={`${id}-device-help`} className="help">
            How this computer appears to the platform.
          </p>
        </div>
        {noteFor('general')}
        <div className="row end">
          <button type="submit" className="primary">
            Save
          </button>
        </div>
      </form>
      <div className="card stack" role="group" aria-labelledby={`${id}-startup`}>
        <h3 id={`${id}-startup`}>Start-up and power</h3>
        {toggles.map((t) => {
          const inert = headless && t.desktopOnly;
          return (
            <label key={t.key} className={`switch${inert ? ' disabled' : ''}`}>
              <input
                type="checkbox"
                role="switch"
                checked={s[t.key]}
                disabled={inert}
                aria-describedby={inert ? `${id}-desktop-only` : undefined}
                onChange={(e) =>
                  void save(
                    { [t.key]: e.target.checked },
                    t.key === 'connectOnStart'
                      ? `Saved: Tether ${e.target.checked ? 'connects' : 'stays disconnected'} when it starts.`
                      : 'Saved.',
                    'startup',
                  )
                }
              />
              <span>{t.label}</span>
            </label>
          );
        })}
        {headless && (
          <p id={`${id}-desktop-only`} className="help">
            Starting at login and keeping the computer awake are the desktop app's: this Tether runs headless (as a
            plain process), which has no login item and no power control.
          </p>
        )}
        {noteFor('startup')}
      </div>
      <form className="card stack" onSubmit={submitToken} aria-label="Desktop token">
        <div>
          <label htmlFor={`${id}-token`}>Replace the desktop token</label>
          <input
            id={`${id}-token`}
            type="password"
            required
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="tdt_…"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${id}-token-help`}
          />
          <p id={`${id}-token-help`} className="help">
            The current token is kept in{' '}
            {state.tokenStore === 'keychain'
              ? 'the system keychain'
              : state.tokenStore === 'file'
                ? 'a private file (this system has no keychain)'
                : 'memory only'}{' '}
            and is never shown. A new one is checked with the relay first; if the relay refuses it, the current one
            stays.
          </p>
        </div>
        {noteFor('token')}
        <div className="row end">
          <button type="submit" className="secondary" disabled={checking}>
            {checking ? 'Checking with the relay…' : 'Replace token'}
          </button>
        </div>
      </form>
    </section>
  );
}
