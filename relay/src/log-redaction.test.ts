import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeDesktop, refusedUpgradeStatus, testWorkspace } from './testing/fake-desktop.js';
import { SseReader, startTestRelay } from './testing/test-relay.js';
import { pino } from 'pino';
import { REDACTING_LOGGER_OPTIONS, redactTokens, redactUrl } from './log-redaction.js';

describe('redactTokens / redactUrl', () => {
  it('replaces every relay token and every query string', () => {
    expect(redactTokens('a tdt_abc-_9 b tpk_X c tgr_ d')).toBe('a [redacted] b [redacted] c [redacted] d');
    expect(redactUrl('/v1/runtimes?token=secret&x=1')).toBe('/v1/runtimes?[redacted]');
    expect(redactUrl('/v1/runtimes/tpk_abc/capabilities')).toBe('/v1/runtimes/[redacted]/capabilities');
  });
});

describe('the err serializer', () => {
  it("keeps an error's type, message, stack and plain fields, never the objects it carries (a database client)", () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'info', ...REDACTING_LOGGER_OPTIONS },
      { write: (line: string) => void lines.push(line) },
    );
    // The shape of an error of the PostgreSQL driver: its client, with the server's cancel key.
    const err = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
      length: 116,
      client: { processID: 20141, secretKey: -204485190, connectionParameters: { user: 'relay', host: 'db' } },
    });
    const outer = new Error('call log write failed', { cause: err });
    log.error({ err: outer }, 'call log write failed');
    const line = JSON.parse(lines[0]!) as { err: Record<string, unknown> & { cause: Record<string, unknown> } };
    expect(line.err).toMatchObject({ type: 'Error', message: 'call log write failed' });
    expect(line.err.stack).toContain('log-redaction.test.ts');
    expect(line.err.cause).toMatchObject({ code: '57P01', severity: 'FATAL', length: 116 });
    expect(line.err.cause.message).toBe('terminating connection due to administrator command');
    expect(lines[0]).not.toMatch(/secretKey|processID|connectionParameters|client/);
  });
});

/** Every token shape the relay issues; none may appear in any log line. */
const TOKEN_PREFIX = /t(?:dt|pk|gr)_/;

describe('relay logs', () => {
  it('never contain a token, over a run touching every route at trace level', async () => {
    const lines: string[] = [];
    const t = await startTestRelay({ logLevel: 'trace', logStream: { write: (line) => void lines.push(line) } });
    try {
      const key = t.platformKey;
      // Tokens where they do not belong: query strings, paths, bodies, bad headers.
      await t.api(`/v1/runtimes?token=${key}`, { token: null });
      await t.api(`/v1/runtimes?token=${key}`);
      await t.api(`/healthz?token=${t.desktopToken}`, { token: null });
      await t.api(`/v1/runtimes/${key}/capabilities`);
      await t.api('/v1/runtimes', { token: `${key}x` });
      await t.api('/v1/runtimes', { token: 'tpk_guessed0123456789' });
      await t.api('/v1/runtimes', { headers: { authorization: `Basic ${key}` }, token: null });
      await t.api('/v1/grants', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"x":"${key}"`,
      });
      await t.api('/metrics', { token: null });
      await t.api('/openapi.json', { token: null });
      await t.api(`/nowhere/${key}?token=${key}`, { token: null });
      expect(await refusedUpgradeStatus(`${t.relay.wsUrl}?token=${t.desktopToken}`, undefined)).toBe(401);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${t.desktopToken}x`)).toBe(401);

      // And the ordinary traffic: a desktop, a JSON call, an SSE call, a grant, MCP, events.
      const desktop = await FakeDesktop.connect(`${t.relay.wsUrl}?token=${t.desktopToken}`, t.desktopToken);
      const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]);
      const runtimeId = welcome.runtimes[0]!.runtimeId;
      desktop.onCall = (call, d) => d.succeed(call.id, { echo: key, args: call.args });
      const call = await t.api(`/v1/runtimes/${runtimeId}/calls?token=${key}`, {
        method: 'POST',
        json: { tool: 'read_file', args: { path: `${key}.txt` } },
      });
      expect(call.status).toBe(200);
      const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, key, {
        method: 'POST',
        json: { tool: 'stat', args: { path: key } },
      });
      await sse.next('result');
      // The stream ends by itself after its result.
      await sse.done;
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        json: { runtimeIds: [runtimeId], ttlSeconds: 60, label: key },
      });
      expect(grant.status).toBe(200);
      await t.api(`/v1/runtimes/${runtimeId}`, { token: grant.body.token });
      await t.api(`/v1/runtimes/${runtimeId}/mcp?token=${grant.body.token}`, {
        method: 'POST',
        headers: { accept: 'application/json, text/event-stream' },
        json: {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: key, version: '1' } },
        },
      });
      const events = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/events?token=${key}`, key);
      await events.next('state');
      await events.close();
      await t.relay.admin.revokeToken((await t.relay.admin.listTokens('acme')).find((x) => x.kind === 'desktop')!.id);
      await desktop.closed;
      const ws = new WebSocket(`${t.relay.wsUrl}?token=${t.desktopToken}`, {
        headers: { authorization: `Bearer ${t.desktopToken}` },
      });
      ws.on('error', () => undefined);
      await new Promise((resolve) => ws.once('unexpected-response', resolve));
      ws.terminate();
    } finally {
      await t.dispose();
    }
    const all = lines.join('');
    // The run did log the requests (so this checks something), with their redacted URLs.
    expect(all).toContain('incoming request');
    expect(all).toContain('/v1/runtimes?[redacted]');
    expect(all).not.toMatch(TOKEN_PREFIX);
    expect(all).not.toContain(t.platformKey.slice(4));
    expect(all).not.toContain(t.desktopToken.slice(4));
  });
});
