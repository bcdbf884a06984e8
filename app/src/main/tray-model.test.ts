import { describe, expect, it } from 'vitest';
import { desktopStateSchema } from '@tether/shared';
import { buildTrayModel, trayIconState, type TrayMenuItem } from './tray-model.js';
import { confirmation, desktopState, workspace } from './test-fixtures.js';

function labels(items: TrayMenuItem[]): string[] {
  return items.flatMap((item) => (item.kind === 'separator' ? [] : [item.label]));
}

function action(items: TrayMenuItem[], label: string): Extract<TrayMenuItem, { kind: 'action' }> {
  const found = items.find((item) => item.kind !== 'separator' && item.label === label);
  if (!found || found.kind !== 'action') throw new Error(`no action ${label} in ${labels(items).join(', ')}`);
  return found;
}

describe('tray model', () => {
  it('uses fixtures that satisfy the DesktopApi contract', () => {
    expect(() =>
      desktopStateSchema.parse(desktopState({ workspaces: [workspace()], pendingConfirmations: [confirmation('c1')] })),
    ).not.toThrow();
  });

  describe('trayIconState', () => {
    it('shows connected, disconnected and error from the connection state', () => {
      expect(trayIconState(desktopState(), 'running')).toBe('connected');
      expect(
        trayIconState(desktopState({ connection: { state: 'disconnected', relayUrl: '', enabled: false } }), 'running'),
      ).toBe('disconnected');
      expect(
        trayIconState(
          desktopState({ connection: { state: 'connecting', relayUrl: 'wss://r', enabled: true } }),
          'running',
        ),
      ).toBe('disconnected');
      expect(
        trayIconState(
          desktopState({ connection: { state: 'error', relayUrl: 'wss://r', enabled: true, reason: 'unauthorized' } }),
          'running',
        ),
      ).toBe('error');
    });

    it('shows waiting-for-you when a confirmation is pending, even while connected', () => {
      expect(trayIconState(desktopState({ pendingConfirmations: [confirmation('c1')] }), 'running')).toBe('waiting');
    });

    it('shows waiting-for-you while an MCP client asks for access, and the menu opens the window for it', () => {
      const state = desktopState({
        oauthRequests: [
          {
            requestId: 'oar_1',
            clientId: 'tcl_1',
            clientName: 'Claude',
            redirectHost: 'claude.ai',
            shortCode: 'ABCD2345',
            runtimeId: null,
            requestedCategories: [],
            createdAt: 1,
            expiresAt: 2,
          },
        ],
      });
      expect(trayIconState(state, 'running')).toBe('waiting');
      expect(action(buildTrayModel(state, 'running').menu, 'An MCP client asks for access…').action).toEqual({
        type: 'open',
      });
    });

    it('shows error when the host process is down, whatever the last state said', () => {
      expect(trayIconState(desktopState(), 'restarting')).toBe('error');
      expect(trayIconState(null, 'failed')).toBe('error');
    });

    it('shows disconnected before the host has answered', () => {
      expect(trayIconState(null, 'starting')).toBe('disconnected');
    });
  });

  describe('buildTrayModel', () => {
    it('offers Disconnect while the connection is on, and it switches the connection off', () => {
      const model = buildTrayModel(desktopState(), 'running');
      expect(model.tooltip).toBe('Tether — Connected to relay.example.com');
      expect(action(model.menu, 'Disconnect')).toMatchObject({
        enabled: true,
        action: { type: 'connection:set', enabled: false },
      });
    });

    it('offers Connect while off, disabled when there is no token to connect with', () => {
      const off = { state: 'disconnected' as const, relayUrl: 'wss://r.example', enabled: false };
      expect(action(buildTrayModel(desktopState({ connection: off }), 'running').menu, 'Connect')).toMatchObject({
        enabled: true,
        action: { type: 'connection:set', enabled: true },
      });
      expect(
        action(buildTrayModel(desktopState({ connection: off, hasToken: false }), 'running').menu, 'Connect').enabled,
      ).toBe(false);
    });

    it('disables the connect toggle while the host is restarting', () => {
      const model = buildTrayModel(desktopState(), 'restarting');
      expect(action(model.menu, 'Disconnect').enabled).toBe(false);
      expect(labels(model.menu)).toContain('Restarting…');
    });

    it('lists each workspace with its state and a pause toggle', () => {
      const model = buildTrayModel(
        desktopState({
          workspaces: [
            workspace({ id: 'a', name: 'alpha' }),
            workspace({ id: 'b', name: 'beta', paused: true, state: 'paused' }),
            workspace({ id: 'c', name: 'gamma', state: 'error', reason: 'folder is gone' }),
          ],
        }),
        'running',
      );
      expect(labels(model.menu)).toEqual(expect.arrayContaining(['alpha — running', 'beta — paused', 'gamma — error']));
      const beta = model.menu.find((item) => item.kind === 'submenu' && item.label === 'beta — paused');
      expect(beta?.kind === 'submenu' && action(beta.items, 'Resume agent access').action).toEqual({
        type: 'workspace:pause',
        workspaceId: 'b',
        paused: false,
      });
      const gamma = model.menu.find((item) => item.kind === 'submenu' && item.label.startsWith('gamma'));
      expect(gamma?.kind === 'submenu' && labels(gamma.items)).toContain('error: folder is gone');
    });

    it('calls a running workspace offline while disconnected', () => {
      const model = buildTrayModel(
        desktopState({
          connection: { state: 'disconnected', relayUrl: '', enabled: false },
          workspaces: [workspace({ name: 'alpha' })],
        }),
        'running',
      );
      expect(labels(model.menu)).toContain('alpha — offline');
    });

    it('puts waiting calls first, opening the window', () => {
      const model = buildTrayModel(
        desktopState({ pendingConfirmations: [confirmation('c1'), confirmation('c2')] }),
        'running',
      );
      expect(model.icon).toBe('waiting');
      expect(model.menu[0]).toEqual({
        kind: 'action',
        label: '2 calls are waiting for you…',
        action: { type: 'open' },
        enabled: true,
      });
      expect(model.tooltip).toBe('Tether — waiting for you (2)');
    });

    it('always ends with Open and Quit', () => {
      for (const model of [
        buildTrayModel(null, 'starting'),
        buildTrayModel(desktopState(), 'running'),
        buildTrayModel(null, 'failed'),
      ]) {
        expect(labels(model.menu).slice(-2)).toEqual(['Open Tether', 'Quit Tether']);
      }
    });

    it('escapes control and bidi characters in names, so a label cannot reorder itself', () => {
      const model = buildTrayModel(
        desktopState({
          workspaces: [workspace({ name: 'notes\u202Etxt.exe', state: 'error', reason: 'gone\u001b[2J' })],
        }),
        'running',
      );
      const text = JSON.stringify(model);
      expect(text.includes('\u202e') || text.includes('\u001b')).toBe(false);
      expect(text).toContain('notes\\\\u202etxt.exe');
    });

    it('cuts very long workspace names', () => {
      const model = buildTrayModel(desktopState({ workspaces: [workspace({ name: 'x'.repeat(200) })] }), 'running');
      const item = model.menu.find((i) => i.kind === 'submenu');
      expect(item && item.kind === 'submenu' && item.label.length).toBeLessThan(70);
    });
  });
});
