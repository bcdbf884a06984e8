import { useEffect, useRef, useState } from 'react';
import { confirmationSummary, printable, type ConfirmationRequest } from '@tether/shared';
import type { Connection } from '../api/connect.js';

/** Remembers that the person said "not now" to notifications in this browser. */
const DISMISSED_KEY = 'tether.notificationsDismissed';

/**
 * Shows a native notification for each new confirmation while the browser tab is hidden.
 * Under Electron the main process already announces them (and raises the window), so the
 * window does not announce them a second time.
 */
export function useConfirmationNotifications(connection: Connection, pending: ConfirmationRequest[]): void {
  const seen = useRef(new Set<string>());
  useEffect(() => {
    if (connection.kind !== 'browser') return;
    for (const c of pending) {
      if (seen.current.has(c.id)) continue;
      seen.current.add(c.id);
      if (!document.hidden) continue;
      // From the platform or from files: printable(), as in the dialog, so bidi and control
      // characters cannot disguise the question.
      const title = printable(`Tether: allow ${c.tool} in ${c.workspaceName}?`);
      const body = printable(confirmationSummary(c.detail));
      if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
        const n = new Notification(title, { body, tag: c.id, requireInteraction: true });
        n.onclick = () => {
          window.focus();
          n.close();
        };
      }
    }
  }, [connection, pending]);
}

/** A polite, dismissible offer to turn on browser notifications (asked only when the person clicks). */
export function NotificationPrompt() {
  const [visible, setVisible] = useState(
    () =>
      typeof Notification !== 'undefined' &&
      Notification.permission === 'default' &&
      localStorage.getItem(DISMISSED_KEY) !== '1',
  );
  if (!visible) return null;
  return (
    <div className="banner info" role="region" aria-label="Notifications">
      <span className="grow">
        Get a notification when an agent needs your answer while this tab is in the background.
      </span>
      <button
        type="button"
        className="secondary small-btn"
        onClick={() => void Notification.requestPermission().finally(() => setVisible(false))}
      >
        Turn on
      </button>
      <button
        type="button"
        className="ghost small-btn"
        onClick={() => {
          localStorage.setItem(DISMISSED_KEY, '1');
          setVisible(false);
        }}
      >
        Not now
      </button>
    </div>
  );
}
