import { printable, type DesktopState, type WorkspaceView } from '@tether/shared';
import { MAX_TRAY_LABEL_CHARS } from './main-limits.js';

/**
 * What the tray shows, as plain data: the icon, the tooltip and the menu for a host state.
 * The Electron glue (tray-controller.ts) turns it into a Tray and a Menu; keeping the
 * decisions here lets them be tested without Electron.
 */

/** The four tray icons of DESIGN.md: connected, disconnected, error, waiting for you. */
export type TrayIconState = 'connected' | 'disconnected' | 'error' | 'waiting';
export const TRAY_ICON_STATES: readonly TrayIconState[] = ['connected', 'disconnected', 'error', 'waiting'];

/** How the host process itself is doing (the supervisor's view), separate from the relay connection. */
export type HostStatus = 'starting' | 'running' | 'restarting' | 'failed';

/** What a menu item does when clicked. */
export type TrayAction =
  | { type: 'connection:set'; enabled: boolean }
  | { type: 'workspace:pause'; workspaceId: string; paused: boolean }
  | { type: 'open' }
  | { type: 'quit' };

/** One menu entry. */
export type TrayMenuItem =
  | { kind: 'action'; label: string; action: TrayAction; enabled: boolean }
  | { kind: 'info'; label: string }
  | { kind: 'submenu'; label: string; items: TrayMenuItem[] }
  | { kind: 'separator' };

/** Everything the tray shows. */
export interface TrayModel {
  icon: TrayIconState;
  tooltip: string;
  menu: TrayMenuItem[];
}

/** Picks the icon: the host's health first, then a waiting confirmation, then the connection. */
export function trayIconState(state: DesktopState | null, host: HostStatus): TrayIconState {
  if (host === 'failed' || host === 'restarting') return 'error';
  if (!state) return 'disconnected';
  // A call (or an MCP client asking for access) waiting for the person matters more than how the connection is.
  if (state.pendingConfirmations.length > 0 || state.oauthRequests.length > 0) return 'waiting';
  switch (state.connection.state) {
    case 'connected':
      return 'connected';
    case 'error':
      return 'error';
    default:
      return 'disconnected';
  }
}

/** A workspace's state as the person sees it: "running" only while the relay can reach it. */
function workspaceStateLabel(workspace: WorkspaceView, connected: boolean): string {
  if (workspace.state === 'running') return connected ? 'running' : 'offline';
  return workspace.state;
}

function truncate(text: string, max = MAX_TRAY_LABEL_CHARS): string {
  // Control and bidi characters escaped, as everywhere text is shown: a name must not reorder the menu line.
  const shown = printable(text);
  return shown.length <= max ? shown : `${shown.slice(0, max - 1)}…`;
}

/** The relay's host name, or the URL as given when it does not parse. */
function relayHost(relayUrl: string): string {
  try {
    return new URL(relayUrl).host || relayUrl;
  } catch {
    return relayUrl;
  }
}

function connectionLine(state: DesktopState | null, host: HostStatus): string {
  if (host === 'failed') return 'Tether stopped working: restart the app';
  if (host === 'restarting') return 'Restarting…';
  if (!state) return 'Starting…';
  const { connection } = state;
  const where = connection.relayUrl ? ` to ${relayHost(connection.relayUrl)}` : '';
  switch (connection.state) {
    case 'connected':
      return `Connected${where}`;
    case 'connecting':
      return `Connecting${where}…`;
    case 'error':
      return truncate(`Error: ${connection.reason ?? 'connection failed'}`);
    default:
      return connection.enabled ? `Not connected${where}` : 'Disconnected';
  }
}

function workspaceItem(workspace: WorkspaceView, connected: boolean): TrayMenuItem {
  const stateLabel = workspaceStateLabel(workspace, connected);
  const items: TrayMenuItem[] = [
    { kind: 'info', label: workspace.reason ? truncate(`${stateLabel}: ${workspace.reason}`) : `State: ${stateLabel}` },
  ];
  items.push({
    kind: 'action',
    label: workspace.paused ? 'Resume agent access' : 'Pause agent access',
    action: { type: 'workspace:pause', workspaceId: workspace.id, paused: !workspace.paused },
    enabled: true,
  });
  return { kind: 'submenu', label: `${truncate(workspace.name)} — ${stateLabel}`, items };
}

/** Builds the whole tray model for a host state (null while the host has not answered yet). */
export function buildTrayModel(state: DesktopState | null, host: HostStatus): TrayModel {
  const icon = trayIconState(state, host);
  const line = connectionLine(state, host);
  const menu: TrayMenuItem[] = [];
  const waiting = state?.pendingConfirmations.length ?? 0;
  if (waiting > 0) {
    menu.push({
      kind: 'action',
      label: waiting === 1 ? '1 call is waiting for you…' : `${waiting} calls are waiting for you…`,
      action: { type: 'open' },
      enabled: true,
    });
    menu.push({ kind: 'separator' });
  }
  const asking = state?.oauthRequests.length ?? 0;
  if (asking > 0) {
    menu.push({
      kind: 'action',
      label: asking === 1 ? 'An MCP client asks for access…' : `${asking} MCP clients ask for access…`,
      action: { type: 'open' },
      enabled: true,
    });
    menu.push({ kind: 'separator' });
  }
  menu.push({ kind: 'info', label: line });
  const usable = host === 'running' && state !== null;
  const enabled = state?.connection.enabled ?? false;
  menu.push({
    kind: 'action',
    label: enabled ? 'Disconnect' : 'Connect',
    action: { type: 'connection:set', enabled: !enabled },
    // Connecting without a token can only fail; the window is where the token is entered.
    enabled: usable && (enabled || state.hasToken),
  });
  menu.push({ kind: 'separator' });
  if (state && state.workspaces.length > 0) {
    menu.push({ kind: 'info', label: 'Workspaces' });
    const connected = state.connection.state === 'connected';
    for (const workspace of state.workspaces) menu.push(workspaceItem(workspace, connected));
  } else {
    menu.push({ kind: 'info', label: 'No workspaces yet' });
  }
  menu.push({ kind: 'separator' });
  menu.push({ kind: 'action', label: 'Open Tether', action: { type: 'open' }, enabled: true });
  menu.push({ kind: 'action', label: 'Quit Tether', action: { type: 'quit' }, enabled: true });
  const tooltip = waiting > 0 ? `Tether — waiting for you (${waiting})` : `Tether — ${line}`;
  return { icon, tooltip, menu };
}
