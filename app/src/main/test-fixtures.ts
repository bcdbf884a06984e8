import type { ConfirmationRequest, DesktopState, WorkspaceView } from '@tether/shared';

/** A realistic DesktopState for tests of the main process's decisions (tests only). */
export function desktopState(overrides: Partial<DesktopState> = {}): DesktopState {
  return {
    connection: { state: 'connected', relayUrl: 'wss://relay.example.com', enabled: true },
    device: { id: 'dev_1', name: 'laptop' },
    hasToken: true,
    tokenStore: 'keychain',
    settings: {
      relayUrl: 'wss://relay.example.com',
      deviceName: 'laptop',
      launchAtLogin: false,
      keepAwake: false,
      connectOnStart: true,
    },
    workspaces: [],
    pendingConfirmations: [],
    missedConfirmations: [],
    lastAllowDuration: 15,
    oauthRequests: [],
    oauthClients: [],
    ...overrides,
  };
}

/** A workspace view for tests. */
export function workspace(overrides: Partial<WorkspaceView> = {}): WorkspaceView {
  return {
    id: 'ws_1',
    name: 'proj',
    description: '',
    root: '/home/me/proj',
    policy: { read: 'allow', write: 'ask', shell: 'ask' },
    disabledTools: [],
    paused: false,
    state: 'running',
    allowances: [],
    ...overrides,
  };
}

/** A pending confirmation for tests. */
export function confirmation(id: string, overrides: Partial<ConfirmationRequest> = {}): ConfirmationRequest {
  return {
    id,
    callId: `call_${id}`,
    workspaceId: 'ws_1',
    workspaceName: 'proj',
    caller: 'agent-stage-2',
    tool: 'run_command',
    category: 'shell',
    detail: { kind: 'shell', command: 'npm test', cwd: '.' },
    createdAt: 1,
    expiresAt: 60_001,
    offers: [],
    ...overrides,
  };
}
