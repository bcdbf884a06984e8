import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppFrame, OAuthConsent, RelayFrame } from '@tether/shared';
import { MAX_OPEN_OAUTH_REQUESTS, OAuthConsents } from './oauth-consents.js';
import { createOAuthTerminalPrompt } from './oauth-terminal-prompt.js';

type Sent = Extract<AppFrame, { type: 'oauth_answer' | 'oauth_revoke' }>;

/** The relay connection's side of OAuthConsents: frames in, answers out (what RelayClient does on its socket). */
class Link extends EventEmitter {
  sent: Sent[] = [];
  connected = true;
  runtimes = [
    { workspaceId: 'ws_a', runtimeId: 'rt_a' },
    { workspaceId: 'ws_b', runtimeId: 'rt_b' },
  ];
  sendOAuth(frame: Sent): boolean {
    if (!this.connected) return false;
    this.sent.push(frame);
    return true;
  }
  frame(frame: RelayFrame): void {
    this.emit('oauth', frame);
  }
}

const NOW = 1_800_000_000_000;
function consent(over: Partial<OAuthConsent> = {}): OAuthConsent {
  return {
    requestId: 'oar_1',
    clientId: 'tcl_1',
    clientName: 'Claude',
    redirectHost: 'claude.ai',
    shortCode: 'ABCD2345',
    runtimeId: null,
    requestedCategories: [],
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    ...over,
  };
}

const made: OAuthConsents[] = [];
afterEach(() => made.splice(0).forEach((c) => c.dispose()));

function setup(): { link: Link; consents: OAuthConsents } {
  const link = new Link();
  const consents = new OAuthConsents(
    link,
    (id) => id === 'ws_a' || id === 'ws_b' || id === 'ws_c',
    () => NOW,
  );
  made.push(consents);
  return { link, consents };
}

describe('OAuthConsents', () => {
  it('approves only with the page’s code and only what the person chose', () => {
    const { link, consents } = setup();
    link.frame({ type: 'oauth_consent', consent: consent() });
    expect(consents.pending()).toHaveLength(1);
    const base = {
      requestId: 'oar_1',
      approve: true as const,
      workspaceIds: ['ws_a'],
      categories: ['read' as const],
      ttlSeconds: 3600,
    };
    expect(() => consents.answer({ ...base, shortCode: 'ABCD2346' })).toThrow(
      expect.objectContaining({ code: 'short_code_mismatch' }),
    );
    expect(() => consents.answer({ ...base, shortCode: 'abcd-2345', workspaceIds: ['ws_c'] })).toThrow(/not connected/);
    expect(link.sent).toEqual([]);
    consents.answer({ ...base, shortCode: 'abcd-2345' });
    expect(link.sent).toEqual([
      {
        type: 'oauth_answer',
        requestId: 'oar_1',
        approve: true,
        shortCode: 'ABCD2345',
        workspaceIds: ['ws_a'],
        categories: ['read'],
        ttlSeconds: 3600,
      },
    ]);
    expect(consents.pending()).toEqual([]);
  });

  it('gives a request for one runtime only that runtime’s workspace, and none of another device', () => {
    const { link, consents } = setup();
    link.frame({ type: 'oauth_consent', consent: consent({ runtimeId: 'rt_b' }) });
    const base = {
      requestId: 'oar_1',
      approve: true as const,
      shortCode: 'ABCD2345',
      categories: ['read' as const],
      ttlSeconds: 3600,
    };
    expect(() => consents.answer({ ...base, workspaceIds: ['ws_a'] })).toThrow(/only that workspace/);
    expect(() => consents.answer({ ...base, workspaceIds: ['ws_a', 'ws_b'] })).toThrow(/only that workspace/);
    link.frame({ type: 'oauth_consent', consent: consent({ requestId: 'oar_2', runtimeId: 'rt_elsewhere' }) });
    expect(() => consents.answer({ ...base, requestId: 'oar_2', workspaceIds: ['ws_a'] })).toThrow(/another device/);
    consents.answer({ ...base, workspaceIds: ['ws_b'] });
    expect(link.sent).toHaveLength(1);
  });

  it('does not let the relay flood the screen, repeat a request or show an expired one', () => {
    const { link, consents } = setup();
    link.frame({ type: 'oauth_consent', consent: consent({ expiresAt: NOW - 1 }) });
    expect(consents.pending()).toEqual([]);
    for (let i = 0; i < MAX_OPEN_OAUTH_REQUESTS + 5; i++)
      link.frame({ type: 'oauth_consent', consent: consent({ requestId: `oar_${i}` }) });
    link.frame({ type: 'oauth_consent', consent: consent({ requestId: 'oar_0', clientName: 'Other' }) });
    expect(consents.pending()).toHaveLength(MAX_OPEN_OAUTH_REQUESTS);
    expect(consents.pending()[0]!.clientName).toBe('Claude');
    link.frame({ type: 'oauth_consent_closed', requestId: 'oar_0', outcome: 'approved' });
    expect(consents.pending()).toHaveLength(MAX_OPEN_OAUTH_REQUESTS - 1);
    expect(() => consents.answer({ requestId: 'oar_0', approve: false })).toThrow(/no longer waiting/);
  });

  it('revokes only clients the relay listed, and says so when offline', () => {
    const { link, consents } = setup();
    expect(() => consents.revoke('oau_x')).toThrow(/no such/);
    link.frame({
      type: 'oauth_authorizations',
      authorizations: [
        {
          id: 'oau_1',
          clientId: 'tcl_1',
          clientName: 'Claude',
          redirectHost: 'claude.ai',
          runtimeIds: ['rt_a'],
          categories: ['read'],
          approvedBy: 'dev_1',
          createdAt: 'x',
          expiresAt: 'y',
        },
      ],
    });
    link.connected = false;
    expect(() => consents.revoke('oau_1')).toThrow(expect.objectContaining({ code: 'unavailable' }));
    link.connected = true;
    consents.revoke('oau_1');
    expect(link.sent).toEqual([{ type: 'oauth_revoke', authorizationId: 'oau_1' }]);
  });
});

describe('createOAuthTerminalPrompt', () => {
  it('prints the request and approves with `oauth approve CODE categories days`', async () => {
    const { link, consents } = setup();
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (c: Buffer) => (printed += c.toString()));
    const prompt = createOAuthTerminalPrompt(
      input,
      output,
      consents,
      () => [{ id: 'ws_a', name: 'site' }],
      () => link.runtimes,
    );
    link.frame({ type: 'oauth_consent', consent: consent({ clientName: 'Claude\u202e' }) });
    expect(printed).toContain('Claude\\u202e');
    input.write('y\n');
    input.write('oauth approve WRONG123\n');
    input.write('oauth approve abcd-2345 read,write 7\n');
    await new Promise((r) => setTimeout(r, 20));
    expect(printed).toContain('Not done: That is not the code');
    expect(link.sent).toEqual([
      {
        type: 'oauth_answer',
        requestId: 'oar_1',
        approve: true,
        shortCode: 'ABCD2345',
        workspaceIds: ['ws_a'],
        categories: ['read', 'write'],
        ttlSeconds: 7 * 86_400,
      },
    ]);
    prompt.dispose();
  });
});
