import { describe, expect, it } from 'vitest';
import { TetherError, type ChannelMessage, type DesktopState } from './index.js';
import { DesktopClient as ChannelClient } from './desktop-client.js';

const STATE: DesktopState = {
  connection: { state: 'connected', relayUrl: 'http://127.0.0.1:8787', enabled: true },
  device: { id: 'd1', name: 'laptop' },
  hasToken: true,
  tokenStore: 'file',
  settings: {
    relayUrl: 'http://127.0.0.1:8787',
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
};

function setup(open = true) {
  const sent: ChannelMessage[] = [];
  const client = new ChannelClient((msg) => {
    if (open) sent.push(msg);
    return open;
  });
  return { client, sent };
}

describe('ChannelClient', () => {
  describe('request', () => {
    it('resolves with the validated result of the matching response', async () => {
      const { client, sent } = setup();
      const pending = client.request('state:get', {});
      expect(sent).toEqual([{ kind: 'request', id: 1, method: 'state:get', params: {} }]);
      client.receive({ kind: 'response', id: 1, ok: true, result: STATE });
      await expect(pending).resolves.toEqual(STATE);
    });

    it('rejects with a TetherError carrying the host error code', async () => {
      const { client } = setup();
      const pending = client.request('workspace:remove', { id: 'w1' });
      client.receive({
        kind: 'response',
        id: 1,
        ok: false,
        error: { code: 'not_found', message: 'No such workspace.' },
      });
      await expect(pending).rejects.toMatchObject({ code: 'not_found', message: 'No such workspace.' });
    });

    it('rejects a result that does not match the method result schema', async () => {
      const { client } = setup();
      const pending = client.request('state:get', {});
      client.receive({ kind: 'response', id: 1, ok: true, result: { hasToken: 'yes' } });
      await expect(pending).rejects.toMatchObject({ code: 'internal' });
    });

    it('rejects at once with unavailable when the channel is closed', async () => {
      const { client } = setup(false);
      await expect(client.request('state:get', {})).rejects.toBeInstanceOf(TetherError);
    });

    it('rejects pending requests when the channel closes', async () => {
      const { client } = setup();
      const pending = client.request('state:get', {});
      client.failPending();
      await expect(pending).rejects.toMatchObject({ code: 'unavailable' });
    });
  });

  describe('on', () => {
    it('delivers valid events and drops malformed or unknown ones', () => {
      const { client } = setup();
      const got: unknown[] = [];
      const off = client.on('confirm:resolved', (p) => got.push(p));
      client.receive({
        kind: 'event',
        event: 'confirm:resolved',
        payload: { confirmationId: 'c1', outcome: 'denied' },
      });
      client.receive({ kind: 'event', event: 'confirm:resolved', payload: { confirmationId: 'c2', outcome: 'maybe' } });
      client.receive({ kind: 'event', event: 'shell:exec', payload: {} });
      client.receive({
        kind: 'event',
        event: 'confirm:resolved',
        payload: { confirmationId: 'c3', outcome: 'allowed' },
        extra: 1,
      });
      client.receive('not an object');
      off();
      client.receive({
        kind: 'event',
        event: 'confirm:resolved',
        payload: { confirmationId: 'c4', outcome: 'denied' },
      });
      expect(got).toEqual([{ confirmationId: 'c1', outcome: 'denied' }]);
    });

    it('drops events named after Object.prototype members without throwing', () => {
      const { client } = setup();
      expect(() => {
        client.receive({ kind: 'event', event: 'constructor', payload: {} });
        client.receive({ kind: 'event', event: '__proto__', payload: {} });
        client.receive({ kind: 'event', event: 'hasOwnProperty', payload: {} });
      }).not.toThrow();
    });
  });
});
