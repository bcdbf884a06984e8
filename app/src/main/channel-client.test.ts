import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  TetherError,
  type DesktopEvent,
  type DesktopEventPayload,
  type DesktopMethod,
  type DesktopState,
} from '@tether/shared';
import type { HostApi, HostEventListener } from '../host/host-api.js';
import { serveChannel } from '../host/ui-server/channel-server.js';
import { ChannelClient, type ChannelPortLike } from './channel-client.js';
import { confirmation, desktopState } from './test-fixtures.js';

/** Adapts a real MessagePort (Node's here, Electron's MessagePortMain in the app) to the channel shape. */
function adapt(port: MessagePort): ChannelPortLike {
  return {
    send: (message) => port.postMessage(message),
    onMessage: (listener) => port.on('message', listener),
    onClose: (listener) => port.on('close', listener),
    close: () => port.close(),
  };
}

/** A small in-memory HostApi: the real host needs a config dir, keychain and relay. */
class MemoryHost implements HostApi {
  state: DesktopState = desktopState();
  readonly listeners = new Set<HostEventListener>();
  async request<M extends DesktopMethod>(method: M, params: unknown): Promise<never> {
    if (method === 'state:get') return this.state as never;
    if (method === 'connection:set') {
      const enabled = (params as { enabled: boolean }).enabled;
      this.state = { ...this.state, connection: { ...this.state.connection, enabled } };
      return this.state as never;
    }
    if (method === 'activity:list') return { entries: 'not an array' } as never;
    throw new TetherError('not_found', `no ${method}`);
  }
  subscribe(listener: HostEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit<E extends DesktopEvent>(event: E, payload: DesktopEventPayload<E>): void {
    for (const listener of this.listeners) listener(event, payload);
  }
}

describe('ChannelClient', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function connect(options: { timeoutMs?: number } = {}) {
    const host = new MemoryHost();
    const { port1, port2 } = new MessageChannel();
    const detach = serveChannel(host, {
      send: (m) => port1.postMessage(m),
      onMessage: (cb) => port1.on('message', cb),
      onClose: (cb) => port1.on('close', cb),
    });
    const client = new ChannelClient(adapt(port2), options);
    cleanups.push(() => {
      detach();
      client.dispose();
      port1.close();
    });
    return { host, client, hostPort: port1 };
  }

  describe('request', () => {
    it('gets the host state over a real MessagePort', async () => {
      const { client, host } = connect();
      await expect(client.request('state:get', {})).resolves.toEqual(host.state);
      const next = await client.request('connection:set', { enabled: false });
      expect(next.connection.enabled).toBe(false);
    });

    it("rejects with the host's error code", async () => {
      const { client } = connect();
      await expect(client.request('workspace:remove', { id: 'nope' })).rejects.toMatchObject({
        name: 'TetherError',
        code: 'not_found',
      });
    });

    it('rejects an answer that breaks the contract instead of passing it on', async () => {
      const { client } = connect();
      await expect(client.request('activity:list', { limit: 10 })).rejects.toMatchObject({ code: 'internal' });
    });

    it('times out when the host never answers', async () => {
      const { port1, port2 } = new MessageChannel();
      const client = new ChannelClient(adapt(port2), { timeoutMs: 50 });
      cleanups.push(() => {
        client.dispose();
        port1.close();
      });
      await expect(client.request('state:get', {})).rejects.toMatchObject({ code: 'timeout' });
    });

    it('fails pending and later requests with unavailable when the host side closes', async () => {
      const { port1, port2 } = new MessageChannel();
      const client = new ChannelClient(adapt(port2), { timeoutMs: 20_000 });
      cleanups.push(() => client.dispose());
      const pending = client.request('state:get', {});
      port1.close();
      await expect(pending).rejects.toMatchObject({ code: 'unavailable' });
      await expect(client.request('state:get', {})).rejects.toMatchObject({ code: 'unavailable' });
    });
  });

  describe('on', () => {
    it('delivers valid events, drops malformed ones, and stops after unsubscribe', async () => {
      const { client, host, hostPort } = connect();
      const seen: string[] = [];
      const off = client.on('confirm:request', (request) => seen.push(request.id));
      hostPort.postMessage({ kind: 'event', event: 'confirm:request', payload: { id: 'broken' } });
      host.emit('confirm:request', confirmation('c1'));
      await expect.poll(() => seen).toEqual(['c1']);
      off();
      host.emit('confirm:request', confirmation('c2'));
      // A round trip after the emit proves the event had time to arrive.
      await client.request('state:get', {});
      expect(seen).toEqual(['c1']);
    });
  });
});
