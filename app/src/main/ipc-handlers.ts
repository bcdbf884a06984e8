import { BrowserWindow, dialog, ipcMain, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import { z } from 'zod';
import { MAX_NOTIFICATION_BODY_CHARS, MAX_NOTIFICATION_TITLE_CHARS } from './main-limits.js';
import type { UrlPolicy } from './url-policy.js';

/** IPC channels of the preload (the only raw IPC besides the host port). */
export const PICK_FOLDER_CHANNEL = 'dialog:pickFolder';
export const NOTIFY_CHANNEL = 'notification:show';

/** The renderer's notify() payload; over-long text is cut, not refused. */
const notifyPayloadSchema = z.strictObject({ title: z.string().max(10_000), body: z.string().max(10_000) });

/**
 * True when an IPC message came from the app's own page in the main frame of one of our
 * windows (GitHub Desktop's safeListener idea, STYLE.md 12): a subframe, a navigated page
 * or a stray web contents gets nothing.
 */
export function isTrustedEvent(
  event: IpcMainEvent | IpcMainInvokeEvent,
  policy: UrlPolicy,
  isOurWindow: (window: BrowserWindow) => boolean,
): boolean {
  const frame = event.senderFrame;
  const window = BrowserWindow.fromWebContents(event.sender);
  if (!frame || !window || !isOurWindow(window)) return false;
  return policy.isTrustedSender({ url: frame.url, isMainFrame: frame.parent === null });
}

/** What the handlers do, supplied by main. */
export interface IpcActions {
  policy: UrlPolicy;
  isOurWindow(window: BrowserWindow): boolean;
  notify(title: string, body: string): void;
  log(line: string): void;
}

/** Registers the preload's handlers; returns a function that removes them. */
export function registerIpcHandlers(actions: IpcActions): () => void {
  ipcMain.handle(PICK_FOLDER_CHANNEL, async (event) => {
    if (!isTrustedEvent(event, actions.policy, actions.isOurWindow)) {
      actions.log(`refused ${PICK_FOLDER_CHANNEL} from ${event.senderFrame?.url ?? 'a destroyed frame'}`);
      throw new Error('This window may not open the folder picker.');
    }
    const window = BrowserWindow.fromWebContents(event.sender);
    const options = {
      title: 'Add a workspace folder',
      buttonLabel: 'Add workspace',
      properties: ['openDirectory', 'createDirectory'] as ('openDirectory' | 'createDirectory')[],
    };
    const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  });

  const onNotify = (event: IpcMainEvent, payload: unknown): void => {
    if (!isTrustedEvent(event, actions.policy, actions.isOurWindow)) {
      actions.log(`refused ${NOTIFY_CHANNEL} from ${event.senderFrame?.url ?? 'a destroyed frame'}`);
      return;
    }
    const parsed = notifyPayloadSchema.safeParse(payload);
    if (!parsed.success) return;
    actions.notify(
      parsed.data.title.slice(0, MAX_NOTIFICATION_TITLE_CHARS),
      parsed.data.body.slice(0, MAX_NOTIFICATION_BODY_CHARS),
    );
  };
  ipcMain.on(NOTIFY_CHANNEL, onNotify);

  return () => {
    ipcMain.removeHandler(PICK_FOLDER_CHANNEL);
    ipcMain.off(NOTIFY_CHANNEL, onNotify);
  };
}
