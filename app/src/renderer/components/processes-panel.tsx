import { useEffect, useRef, useState } from 'react';
import {
  PROCESS_OUTPUT_TAIL_CHARS,
  printable,
  type DesktopApi,
  type ProcessView,
  type WorkspaceView,
} from '@tether/shared';
import type { LinkState } from '../api/ws-transport.js';
import { messageOf } from '../use-desktop.js';
import { Revealed } from './revealed.js';

/** Commands and sessions agents started, kept current by the `process:*` events and reloaded when the link is back. */
export function useProcesses(api: DesktopApi, link: LinkState): ProcessView[] {
  const [list, setList] = useState<ProcessView[]>([]);
  useEffect(() => {
    const upsert = (p: ProcessView) => setList((l) => [...l.filter((x) => x.id !== p.id), p]);
    const offs = [
      api.on('process:started', upsert),
      api.on('process:ended', upsert),
      api.on('process:output', ({ id, chunk }) =>
        setList((l) =>
          l.map((p) => (p.id === id ? { ...p, output: (p.output + chunk).slice(-PROCESS_OUTPUT_TAIL_CHARS) } : p)),
        ),
      ),
    ];
    return () => offs.forEach((off) => off());
  }, [api]);
  useEffect(() => {
    if (link !== 'open') return;
    let live = true;
    api.request('process:list', {}).then(
      (r) => live && setList(r.processes),
      () => undefined, // shown again on the next reconnect; events keep it current meanwhile
    );
    return () => {
      live = false;
    };
  }, [api, link]);
  return list;
}

/**
 * What runs now: each command and shell session an agent started, with its output as it
 * streams (the last part), how long it has run, and Stop (no question: stopping only takes
 * away). A finished one shows its exit code.
 */
export function ProcessesPanel({
  api,
  processes,
  workspaces,
}: {
  api: DesktopApi;
  processes: ProcessView[];
  workspaces: WorkspaceView[];
}) {
  const [now, setNow] = useState(Date.now());
  const [error, setError] = useState<string>();
  const running = processes.filter((p) => p.endedAt === undefined).length;
  useEffect(() => {
    if (running === 0) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  if (processes.length === 0) return null;
  const nameOf = (id: string) => printable(workspaces.find((w) => w.id === id)?.name ?? id);
  return (
    <section className="card processes" aria-labelledby="processes-title">
      <div className="section-head">
        <h2 id="processes-title">Commands and sessions</h2>
        <span className="muted small">{running} running</span>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <ul className="plain stack">
        {[...processes].reverse().map((p) => (
          <li
            key={p.id}
            className="process"
            aria-label={`${p.kind === 'session' ? 'Session' : 'Command'} ${printable(p.command)}`}
          >
            <div className="row wrap-tight">
              <span className={`badge ${p.endedAt === undefined ? 'state-running' : p.exitCode === 0 ? 'ok' : 'bad'}`}>
                {p.endedAt === undefined
                  ? 'running'
                  : p.stopped
                    ? 'stopped'
                    : p.exitCode === null
                      ? 'ended by a signal'
                      : `exit code ${p.exitCode}`}
              </span>
              <code className="grow process-command">
                <Revealed text={p.command} />
              </code>
              <span className="small muted" role="timer">
                {formatElapsed((p.endedAt ?? now) - p.startedAt)}
              </span>
              {p.endedAt === undefined && (
                <button
                  type="button"
                  className="danger small-btn"
                  onClick={() =>
                    api.request('process:stop', { id: p.id }).then(
                      () => setError(undefined),
                      (err: unknown) => setError(messageOf(err)),
                    )
                  }
                >
                  Stop
                </button>
              )}
            </div>
            <p className="small muted">
              {p.kind === 'session' ? 'Shell session' : 'Command'} in {nameOf(p.workspaceId)}, folder{' '}
              <span className="mono">{printable(p.cwd)}</span>
            </p>
            {p.output !== '' && <OutputTail text={p.output} />}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The last part of the output, kept scrolled to its end as it grows. */
function OutputTail({ text }: { text: string }) {
  const ref = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <pre ref={ref} className="command process-output" aria-label="Output" tabIndex={0}>
      <Revealed text={stripAnsi(text).slice(-4000)} />
    </pre>
  );
}

/** Terminal colour and cursor sequences say nothing here; other control characters stay visible. */
function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r\n/g, '\n');
}

function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
