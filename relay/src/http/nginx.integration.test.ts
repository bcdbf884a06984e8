import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { NGINX, startTestNginx } from '../testing/nginx-server.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

/*
 * The relay behind Debian's nginx with the example config of docs/nginx.conf: a desktop
 * connects through it (WebSocket), an SSE call streams through it, and requests after the
 * stream (platform API, MCP) still work on nginx's kept-alive upstream connections.
 */

const EXAMPLE = new URL('../../../docs/nginx.conf', import.meta.url);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Proxy {
  socketPath: string;
  agent: Agent;
}

/**
 * Starts nginx with the example config, its listen line on a Unix socket in the temp dir (no
 * port to pick) and without its TLS lines. `connectionValue` replaces the `''` entry of the
 * example's map (the common config has `close`).
 */
async function startNginx(relayPort: number, connectionValue?: string): Promise<Proxy> {
  const example = await readFile(EXAMPLE, 'utf8');
  const nginx = await startTestNginx((listen) => {
    let site = example
      .replace(/server 127\.0\.0\.1:8787;/, `server 127.0.0.1:${relayPort};`)
      .replace(/listen 443 ssl;/, `listen ${listen};`)
      .replace(/^\s*ssl_certificate.*$/gm, '');
    if (connectionValue !== undefined) site = site.replace(/''\s+'';/, `'' ${connectionValue};`);
    expect(site).toContain(`listen ${listen};`);
    return site;
  });
  cleanups.push(() => nginx.dispose());
  // One downstream connection, kept alive: every request rides nginx's pooled upstream ones.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());
  return { socketPath: nginx.socketPath!, agent };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function viaProxy(
  proxy: Proxy,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath: proxy.socketPath,
        agent: proxy.agent,
        path,
        method: init.method ?? 'GET',
        headers: { host: 'relay.example.com', ...init.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

async function driveThrough(t: TestRelay, proxy: Proxy): Promise<void> {
  const auth = { authorization: `Bearer ${t.platformKey}` };
  // A desktop, through the proxy's WebSocket upgrade.
  // The desktop names the relay as it reached it (its device key proof signs that host), as a
  // real one would through a balancer at relay.example.com.
  const desktop = await FakeDesktop.connect(`ws+unix://${proxy.socketPath}:/v1/connect`, t.desktopToken, {
    hostHeader: 'relay.example.com',
  });
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]);
  const runtimeId = welcome.runtimes[0]!.runtimeId;
  desktop.onCall = (call, d) => {
    d.send({ type: 'progress', id: call.id, status: 'output', chunk: 'hello\n' });
    d.succeed(call.id, { exitCode: 0 });
  };
  for (let round = 0; round < 3; round++) {
    // An SSE call streams through.
    const sse = await viaProxy(proxy, `/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      headers: { ...auth, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'run_command', args: { command: 'echo hello' } }),
    });
    expect(sse.status).toBe(200);
    expect(sse.text).toContain('event: output');
    expect(sse.text).toContain('event: result');
    // Requests after the stream are answered.
    for (let i = 0; i < 3; i++) {
      const list = await viaProxy(proxy, '/v1/runtimes', { headers: auth });
      expect(list.status).toBe(200);
      expect(JSON.parse(list.text).runtimes[0].id).toBe(runtimeId);
    }
    // MCP too (its answers are event streams of the MCP SDK).
    const mcp = await viaProxy(proxy, `/v1/runtimes/${runtimeId}/mcp`, {
      method: 'POST',
      headers: { ...auth, accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'nginx-test', version: '1' } },
      }),
    });
    expect(mcp.status).toBe(200);
    expect(mcp.text).toContain('"serverInfo"');
    const tools = await viaProxy(proxy, `/v1/runtimes/${runtimeId}/mcp`, {
      method: 'POST',
      headers: { ...auth, accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
    });
    expect(tools.status).toBe(200);
    expect(tools.text).toContain('read_file');
  }
  // The relay saw the desktop's address from X-Forwarded-For (trusted loopback proxy) and it works.
  expect((await viaProxy(proxy, '/healthz')).status).toBe(200);
}

describe.skipIf(NGINX === undefined)('behind nginx (skipped when nginx is not installed)', () => {
  it('carries a desktop, SSE calls and MCP with the example config of docs/nginx.conf', async () => {
    const t = await startTestRelay({ trustProxy: ['loopback'] });
    cleanups.push(() => t.dispose());
    await driveThrough(t, await startNginx(t.relay.port));
  });

  it('with the common map ({ default upgrade; "" close; }) and upstream keepalive too', async () => {
    const t = await startTestRelay({ trustProxy: ['loopback'] });
    cleanups.push(() => t.dispose());
    await driveThrough(t, await startNginx(t.relay.port, 'close'));
  });
});
