import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli.js';
import { RELAY_VERSION } from './relay-metrics.js';
import { startRelay } from './relay-server.js';
import { startTestRelay, type TestRelay } from './testing/test-relay.js';

describe('relay operations', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startTestRelay();
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('uses and echoes an incoming X-Request-Id, on the platform API and the MCP endpoint', async () => {
    const api = await t.api('/v1/runtimes', { headers: { 'x-request-id': 'trace-42.a:b' } });
    expect(api.headers.get('x-request-id')).toBe('trace-42.a:b');
    const mcp = await fetch(`${t.relay.url}/v1/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.platformKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-request-id': 'mcp-7',
      },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(mcp.headers.get('x-request-id')).toBe('mcp-7');
    await mcp.body?.cancel();
  });

  it('gives a request without one (or with one unfit for a log line) a fresh id', async () => {
    const none = await t.api('/healthz', { token: null });
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await t.api('/healthz', { token: null, headers: { 'x-request-id': 'a b"}' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('names the flag of a TLS file it cannot read', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tether-tls-'));
    try {
      await expect(
        startRelay({ dataDir, port: 0, logLevel: 'silent', tls: { cert: join(dataDir, 'nope.pem'), key: 'x' } }),
      ).rejects.toThrow(/^--tls-cert .*nope\.pem: cannot read the file/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('prints its version with --version', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await runCli(['--version'])).toBe(0);
      expect(log).toHaveBeenCalledWith(RELAY_VERSION);
      expect(RELAY_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      log.mockRestore();
    }
  });
});
