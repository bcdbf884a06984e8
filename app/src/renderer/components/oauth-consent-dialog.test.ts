import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type DesktopApi, type OAuthConsent, type WorkspaceView } from '@tether/shared';
import { OAuthConsentDialog } from './oauth-consent-dialog.js';

const api = { request: () => Promise.reject(new Error('not used')), on: () => () => {} } as unknown as DesktopApi;

function workspace(id: string, name: string, runtimeId?: string): WorkspaceView {
  return {
    id,
    name,
    description: '',
    root: `/ws/${id}`,
    policy: DEFAULT_POLICY,
    disabledTools: [],
    paused: false,
    state: 'running',
    allowances: [],
    ...(runtimeId ? { runtimeId } : {}),
  };
}

const consent: OAuthConsent = {
  requestId: 'oar_1',
  clientId: 'tcl_1',
  clientName: 'Claude\u202e',
  redirectHost: 'claude.ai\u200f',
  shortCode: 'ABCD2345',
  runtimeId: null,
  requestedCategories: ['read', 'write'],
  createdAt: 1,
  expiresAt: 2,
};

const workspaces = [
  workspace('ws_a', 'site', 'rt_a'),
  workspace('ws_b', 'notes', 'rt_b'),
  workspace('ws_c', 'offline'),
];

function render(c: OAuthConsent): string {
  return renderToStaticMarkup(createElement(OAuthConsentDialog, { api, consent: c, workspaces }));
}

describe('OAuthConsentDialog', () => {
  it('shows what came from the relay with its invisible characters made visible, and never the code', () => {
    const html = render(consent);
    expect(html).toContain('Claude\\u202e asks to use your workspaces');
    expect(html).toContain('claude.ai\\u200f');
    expect(html).not.toMatch(/[\u202e\u200f]/);
    // The person types the page's code: the dialog must not show it (that would make the check pointless).
    expect(html).not.toContain('ABCD');
  });

  it('offers the connected workspaces, only reads preselected, and marks what the client asked for', () => {
    const html = render(consent);
    expect(html).toContain('site');
    expect(html).toContain('notes');
    expect(html).not.toContain('offline');
    expect(html.match(/checked=""/g)).toHaveLength(1);
    expect(html.match(/\(asked for\)/g)).toHaveLength(2);
  });

  it('offers only the workspace of the runtime a client asked for, chosen already', () => {
    const html = render({ ...consent, runtimeId: 'rt_b' });
    expect(html).toContain('notes');
    expect(html).not.toContain('>site<');
    expect(html.match(/checked=""/g)).toHaveLength(2);
  });
});
