/**
 * Named limits of the Electron main process, each with its reason (STYLE.md 7).
 * Protocol-wide limits live in shared/src/limits.ts; these only concern the desktop shell.
 */

/** First wait before restarting a crashed host process; doubles per crash in a row. */
export const HOST_RESTART_INITIAL_MS = 500;
/** Longest wait between restarts: long enough not to spin, short enough that the tray recovers soon. */
export const HOST_RESTART_MAX_MS = 30_000;
/** A host that stayed up this long is healthy again: the next crash restarts it quickly. */
export const HOST_STABLE_AFTER_MS = 60_000;
/** Crashes in a row (each before HOST_STABLE_AFTER_MS) after which we stop and show an error. */
export const MAX_HOST_RESTARTS = 8;
/** How long the host gets to dispose (close sockets, kill ptys) on quit before it is killed. */
export const HOST_SHUTDOWN_GRACE_MS = 5_000;
/** A request from the main process to the host that takes longer than this has failed. */
export const MAIN_REQUEST_TIMEOUT_MS = 60_000;
/** Notification text is cut here: the OS truncates anyway, and the renderer must not flood it. */
export const MAX_NOTIFICATION_TITLE_CHARS = 120;
export const MAX_NOTIFICATION_BODY_CHARS = 500;
/** Workspace names in the tray menu are cut here so the menu stays a menu. */
export const MAX_TRAY_LABEL_CHARS = 48;
/** A crashed page is reloaded at most this often: a page that crashes on load is not looped. */
export const RENDERER_RELOAD_MIN_INTERVAL_MS = 30_000;
