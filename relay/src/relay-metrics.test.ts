import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestRelay, type TestRelay } from './testing/test-relay.js';
import { RELAY_VERSION } from './relay-metrics.js';

describe('relay metrics', () => {
  let t: TestRelay;
  const scrape = async () => (await t.api('/metrics', { token: null })).body as string;

  beforeAll(async () => {
    t = await startTestRelay();
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('has process, Node and build metrics, and every counter at zero before any traffic', async () => {
    const text = await scrape();
    expect(text).toContain(`tether_relay_build_info{version="${RELAY_VERSION}",node="${process.versions.node}"} 1`);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toContain('tether_relay_calls_total{tool="stat",outcome="ok"} 0');
    expect(text).toContain('tether_relay_rate_limited_total{limit="credential"} 0');
    expect(text).toContain(
      'tether_relay_http_requests_total{method="POST",route="/v1/runtimes/:id/calls",status="200"} 0',
    );
    expect(text).toContain('tether_relay_mcp_requests_total{endpoint="org",method="tools/call",status="200"} 0');
  });

  it('counts HTTP requests by route template and status, never by path', async () => {
    await t.api('/v1/runtimes/rt_nope');
    await t.api('/no/such/route/abc123');
    const text = await eventually(scrape, (m) => m.includes('route="unmatched"'));
    expect(text).toContain('tether_relay_http_requests_total{method="GET",route="/v1/runtimes/:id",status="404"} 1');
    expect(text).toContain('tether_relay_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).not.toContain('rt_nope');
    expect(text).not.toContain('abc123');
    expect(text).toMatch(
      /tether_relay_http_request_duration_seconds_count\{method="GET",route="\/v1\/runtimes\/:id"\} 1/,
    );
  });

  it('counts MCP exchanges by endpoint, JSON-RPC method and status', async () => {
    const res = await fetch(`${t.relay.url}/v1/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.platformKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'm', version: '1' } },
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const text = await eventually(scrape, (m) =>
      m.includes('tether_relay_mcp_requests_total{endpoint="org",method="initialize",status="200"} 1'),
    );
    expect(text).toMatch(/tether_relay_mcp_request_duration_seconds_count\{endpoint="org",method="initialize"\} 1/);
  });
});
