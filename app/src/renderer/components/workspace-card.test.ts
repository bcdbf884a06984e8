import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { DesktopApi, WorkspaceView } from '@tether/shared';
import { WorkspaceCard } from './workspace-card.js';

const api = { request: () => Promise.reject(new Error('not used')), on: () => () => {} } as unknown as DesktopApi;

const base: WorkspaceView = {
  id: 'ws_1',
  name: 'site',
  description: '',
  root: '/home/me/site',
  policy: { read: 'allow', write: 'ask', shell: 'ask' },
  disabledTools: [],
  paused: false,
  state: 'running',
  allowances: [],
};

const render = (workspace: WorkspaceView, online = true) =>
  renderToStaticMarkup(createElement(WorkspaceCard, { api, workspace, online }));

describe('WorkspaceCard', () => {
  it('shows bidi and control characters of names, folders and reasons as escapes', () => {
    const html = render({
      ...base,
      name: 'photos\u202egnp.exe',
      root: '/home/me/photos\u202egnp.exe',
      description: 'holiday\u001b[2K',
      state: 'error',
      reason: 'The workspace folder \u2066cannot be read\u2069.',
    });
    expect(html).toContain('photos\\u202egnp.exe');
    expect(html).toContain('holiday\\x1b[2K');
    expect(html).toContain('\\u2066cannot be read\\u2069');
    // eslint-disable-next-line no-control-regex -- the point is that no raw control character reaches the page
    expect(html).not.toMatch(/[\u202e\u2066\u2069\u001b]/);
  });

  it('says Offline for a running workspace while the relay connection is down', () => {
    expect(render(base, false)).toContain('Offline');
    expect(render(base, true)).toContain('Running');
    expect(render({ ...base, paused: true }, false)).toContain('Paused');
  });

  it('says what to do about a workspace in error', () => {
    const html = render({ ...base, state: 'error', reason: 'The workspace folder no longer exists.' });
    expect(html).toContain('The workspace folder no longer exists.');
    expect(html).toContain('Tether checks again by itself');
  });

  it('lists every live standing allowance with what it covers, until when, and a Revoke button', () => {
    const html = render({
      ...base,
      allowances: [
        { id: 'a1', scope: { kind: 'prefix', prefix: 'npm test' }, createdAt: 1, expiresAt: null },
        { id: 'a2', scope: { kind: 'path', path: 'docs', folder: true }, createdAt: 1, expiresAt: Date.now() + 60_000 },
        { id: 'a3', scope: { kind: 'category', category: 'write' }, createdAt: 1, expiresAt: Date.now() - 1 },
      ],
    });
    expect(html).toContain(
      'Commands that start with npm test (with no ; &amp; | &lt; &gt; $ or quotes after it) without asking until you revoke it.',
    );
    expect(html).toMatch(
      /Writes, edits and new folders inside docs\/ \(not moves or deletes\) without asking until \d/,
    );
    expect(html).not.toContain('every change to files');
    expect(html.match(/>Revoke</g)).toHaveLength(2);
    expect(html).toContain('(except 1 standing allowance above)');
  });
});

describe('WorkspaceCard sandbox', () => {
  const sandbox = {
    setting: 'os' as const,
    sandboxed: true,
    engine: 'bubblewrap' as const,
    network: 'internet' as const,
    allowDomains: [],
    hidden: ['/home/me/.ssh', '/home/me/.aws'],
    hidePaths: [],
  };

  it('says commands are sandboxed, what they reach, and lists what they cannot read', () => {
    const html = render({ ...base, sandbox });
    expect(html).toContain('Commands are sandboxed (bubblewrap)');
    expect(html).toContain('cannot read the 2 hidden places');
    expect(html).toContain('the internet but not this computer or your local network');
    expect(html).toContain('<li>/home/me/.ssh</li>');
  });

  it('says plainly when commands are not sandboxed, and why', () => {
    const html = render({
      ...base,
      sandbox: { ...sandbox, sandboxed: false, reason: 'bubblewrap (bwrap) is not installed', hidden: [] },
    });
    expect(html).toContain('Commands are not sandboxed');
    expect(html).toContain('Not sandboxed: bubblewrap (bwrap) is not installed');
    expect(html).toContain('asks you before every command');
  });

  it('names the allowed domains in "only these domains" mode', () => {
    const html = render({ ...base, sandbox: { ...sandbox, network: 'domains', allowDomains: ['registry.npmjs.org'] } });
    expect(html).toContain('reach only registry.npmjs.org');
  });
});
