import { printable, type ConfirmationRequest } from '@tether/shared';
import { MAX_NOTIFICATION_BODY_CHARS, MAX_NOTIFICATION_TITLE_CHARS } from './main-limits.js';

/**
 * Getting a person's attention for a call that waits for them. The confirmation dialog
 * itself is in the renderer; the main process makes sure it is seen in time (an unanswered
 * confirmation is a deny): it raises the window above others while anything is pending and,
 * when the window was hidden or in the background, posts a native notification.
 */

/** How the main window is, when the state changes. */
export interface WindowStatus {
  visible: boolean;
  focused: boolean;
}

/** What the glue should do now. */
export interface AttentionActions {
  /** Confirmations to announce with a native notification (new ones the person cannot see). */
  notify: ConfirmationRequest[];
  /** Show, focus and keep the window on top: a new confirmation arrived. */
  bringForward: boolean;
  /** Nothing is pending any more: the window may stop being always-on-top. */
  releaseOnTop: boolean;
}

/** Tracks which confirmations were already announced, so each one is announced once. */
export class ConfirmationAttention {
  #announced = new Set<string>();
  #onTop = false;

  /** Call with the current pending confirmations whenever the host state changes. */
  update(pending: readonly ConfirmationRequest[], window: WindowStatus): AttentionActions {
    const fresh = pending.filter((request) => !this.#announced.has(request.id));
    // Forget resolved ones so the set does not grow for the life of the app.
    this.#announced = new Set(pending.map((request) => request.id));
    const bringForward = fresh.length > 0;
    const notify = bringForward && (!window.visible || !window.focused) ? fresh : [];
    const releaseOnTop = pending.length === 0 && this.#onTop;
    if (bringForward) this.#onTop = true;
    if (releaseOnTop) this.#onTop = false;
    return { notify, bringForward, releaseOnTop };
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The text of the native notification for one confirmation: who wants to do what, where. */
export function confirmationNotification(request: ConfirmationRequest): { title: string; body: string } {
  // Names, callers, paths and commands come from the platform or from files: printable() keeps
  // bidi and control characters from disguising them in the notification as in the dialog.
  const title = clip(
    printable(`${request.workspaceName}: ${request.tool} needs your OK`),
    MAX_NOTIFICATION_TITLE_CHARS,
  );
  let what: string;
  switch (request.detail.kind) {
    case 'shell':
      what = `Run \`${request.detail.command}\` in ${request.detail.cwd}`;
      break;
    case 'write':
      what = `${request.detail.isNew ? 'Create' : 'Change'} ${request.detail.path}: ${request.detail.summary}`;
      break;
    case 'delete':
      what = `Delete ${request.detail.what} ${request.detail.path} for good`;
      break;
    case 'shell_input':
      what = `Type into shell session ${request.detail.sessionId}`;
      break;
    default:
      what = request.detail.summary;
  }
  return { title, body: clip(printable(`${request.caller} asks: ${what}`), MAX_NOTIFICATION_BODY_CHARS) };
}
