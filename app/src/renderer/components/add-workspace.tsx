import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { DesktopApi } from '@tether/shared';
import { messageOf } from '../use-desktop.js';

/** Adds a folder: the native picker under Electron, a path field in the browser. */
export function AddWorkspace({
  api,
  pickFolder,
  workspaceCount = 0,
}: {
  api: DesktopApi;
  pickFolder: (() => Promise<string | null>) | undefined;
  /** How many workspaces there are: a removal makes the last add's overlap note stale. */
  workspaceCount?: number;
}) {
  const [root, setRoot] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // The host adds a folder inside (or around) another workspace, and says so: shown until the next add.
  const [warnings, setWarnings] = useState<string[]>([]);
  const count = useRef(workspaceCount);
  useEffect(() => {
    if (workspaceCount < count.current) setWarnings([]);
    count.current = workspaceCount;
  }, [workspaceCount]);
  const id = useId();

  async function add(path: string) {
    setBusy(true);
    setError(undefined);
    setWarnings([]);
    try {
      const added = await api.request('workspace:add', { root: path, ...(name.trim() ? { name: name.trim() } : {}) });
      setWarnings(added.warnings ?? []);
      setRoot('');
      setName('');
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (root.trim()) await add(root.trim());
  }

  async function pick() {
    const folder = await pickFolder?.();
    if (folder) await add(folder);
  }

  return (
    <form className="card add-workspace" onSubmit={submit} aria-label="Add a workspace">
      {pickFolder ? (
        <div className="row">
          <div className="grow">
            <label htmlFor={`${id}-name`}>Name (optional)</label>
            <input
              id={`${id}-name`}
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="Defaults to the folder's name"
            />
          </div>
          <button type="button" className="primary align-end" onClick={pick} disabled={busy}>
            Add folder…
          </button>
        </div>
      ) : (
        <div className="row wrap">
          <div className="grow">
            <label htmlFor={`${id}-root`}>Folder path</label>
            <input
              id={`${id}-root`}
              className="mono"
              required
              value={root}
              onChange={(e) => {
                setRoot(e.target.value);
                setError(undefined);
              }}
              aria-invalid={error !== undefined}
              aria-describedby={error ? `${id}-error` : `${id}-help`}
              placeholder="~/projects/site"
              spellCheck={false}
            />
          </div>
          <div>
            <label htmlFor={`${id}-name`}>Name (optional)</label>
            <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} placeholder="Folder name" />
          </div>
          <button type="submit" className="primary align-end" disabled={busy}>
            Add workspace
          </button>
        </div>
      )}
      {!pickFolder && (
        <p id={`${id}-help`} className="help">
          The project folder itself, as a full path (or starting with ~). The whole disk, your home folder and system
          folders are refused: an agent would reach far more than one project.
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="error" role="alert">
          {error}
        </p>
      )}
      {warnings.map((w) => (
        <p key={w} className="note small" role="status">
          Added, but note: {w}
        </p>
      ))}
    </form>
  );
}
