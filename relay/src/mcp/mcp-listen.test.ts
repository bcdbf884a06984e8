import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { eventually, startTestRelay, type TestRelay } from '../testing/test-relay.js';

const MODERN = '2026-07-28';

/**
 * `subscriptions/listen` on the MCP endpoints (2026-07-28): file changes a desktop reports
 * become `notifications/resources/updated` for the subscribed URIs, a batch that dropped
 * changes tells every subscribed URI, the relay bounds how many streams are open, and a
 * stream whose token stopped working ends.
 */
describe('MCP resource subscriptions (subscriptions/listen)', () => {
  let t: TestRelay;
  let desktop: FakeDesktop;
  let runtimeId: string;
  const clients: Client[] = [];

  async function client(token = t.platformKey, path = `/v1/runtimes/${runtimeId}/mcp`): Promise<Client> {
    const c = new Client({ name: 'listen-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    clients.push(c);
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${t.relay.url}${path}`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return c;
  }

  const files = (changes: Array<{ path: string; change: string }>, dropped = 0) =>
    desktop.send({ type: 'event', events: [{ kind: 'files', workspaceId: 'ws', changes, dropped }] });

  beforeAll(async () => {
    t = await startTestRelay({ limits: { maxMcpListenStreams: 1, sseKeepaliveMs: 100 } });
    desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'laptop', os: 'linux' }, [testWorkspace('ws')]);
    runtimeId = welcome.runtimes[0]!.runtimeId;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    desktop?.ws.close();
    await t?.dispose();
  });

  it('tells the subscribed URIs of changed paths (as the client spelled them), and all of them after a drop', async () => {
    const c = await client();
    const updated: string[] = [];
    c.setNotificationHandler('notifications/resources/updated', (n) => void updated.push(n.params.uri));
    const sub = await c.listen({ resourceSubscriptions: ['file:///src/a%20b.ts', 'file:///README.md'] });
    files([
      { path: 'src/a b.ts', change: 'change' },
      { path: 'other.txt', change: 'add' },
    ]);
    await eventually(
      () => updated.length,
      (n) => n >= 1,
    );
    expect(updated).toEqual(['file:///src/a%20b.ts']);
    files([], 3);
    await eventually(
      () => updated.length,
      (n) => n >= 3,
    );
    expect(updated.slice(1).sort()).toEqual(['file:///README.md', 'file:///src/a%20b.ts']);
    await sub.close();
  });

  it('refuses more open streams than --max-mcp-listen-streams, and a URI outside the scheme', async () => {
    const c = await client();
    const sub = await c.listen({ resourceSubscriptions: ['file:///a.txt'] });
    await expect(c.listen({ resourceSubscriptions: ['file:///b.txt'] })).rejects.toThrow(/rate_limited/);
    await sub.close();
    // The slot is free again once the stream ended.
    const again = await eventually(
      () =>
        c.listen({ resourceSubscriptions: ['file:///b.txt'] }).then(
          (s) => s,
          () => null,
        ),
      (s) => s !== null,
    );
    await again!.close();
    await expect(c.listen({ resourceSubscriptions: ['https://example.com/x'] })).rejects.toThrow(/not_found/);
  });

  it('ends the stream once its token stops working (an expired grant)', async () => {
    const minted = await t.api('/v1/grants', {
      method: 'POST',
      json: { runtimeIds: [runtimeId], tools: ['read_file'], ttlSeconds: 1, label: 'short' },
    });
    expect(minted.status).toBe(200);
    const c = await client(minted.body.token as string);
    const sub = await c.listen({ resourceSubscriptions: ['file:///a.txt'] });
    // The stream re-checks its token every sseKeepaliveMs (100 ms here); the grant expires after 1 s.
    const how = await Promise.race([
      sub.closed,
      new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 5_000)),
    ]);
    expect(how).toBe('remote');
  });
});
