import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, MAX_FRAME_BYTES, TOOL_NAMES } from '@tether/shared';
import { LocalBus, LocalBusNetwork } from './bus/local-bus.js';
import { openAdmin } from './relay-admin.js';
import { startRelay, type RelayOptions } from './relay-server.js';
import { FakeDesktop, refusedUpgradeStatus, testWorkspace } from './testing/fake-desktop.js';
import { SseReader, startTestRelay as start, type TestRelay } from './testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startTestRelay(options: Partial<RelayOptions> = {}): Promise<TestRelay> {
  const t = await start(options);
  cleanups.push(() => t.dispose());
  return t;
}

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connectDesktop(
  t: TestRelay,
  token = t.desktopToken,
  workspaces = [testWorkspace('ws-1')],
  dev = device,
) {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, token);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(dev, workspaces);
  desktop.onCall = (call, d) => d.succeed(call.id, { tool: call.tool, args: call.args, caller: call.caller });
  return { desktop, runtimeId: welcome.runtimes[0]?.runtimeId ?? '' };
}

describe('startRelay', () => {
  describe('/v1/connect', () => {
    it('answers hello with welcome carrying runtime ids, limits and the heartbeat interval', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 5000 });
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      cleanups.push(() => desktop.close());
      const welcome = await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2')]);
      expect(welcome.runtimes.map((r) => r.workspaceId)).toEqual(['ws-1', 'ws-2']);
      expect(welcome.runtimes[0]!.runtimeId).toMatch(/^rt_/);
      expect(welcome.runtimes[0]!.runtimeId).not.toBe(welcome.runtimes[1]!.runtimeId);
      expect(welcome.limits).toEqual({ maxFrameBytes: MAX_FRAME_BYTES, maxInFlightPerRuntime: 32 });
      expect(welcome.heartbeatIntervalMs).toBe(5000);
      const list = await t.api('/v1/runtimes');
      expect(list.status).toBe(200);
      expect(list.body.runtimes.map((r: { state: string }) => r.state)).toEqual(['running', 'running']);
    });

    it('refuses the upgrade with 401 for a missing, unknown, platform-kind or revoked token', async () => {
      const t = await startTestRelay();
      expect(await refusedUpgradeStatus(t.relay.wsUrl, undefined)).toBe(401);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, 'Bearer tdt_nottherealtokenatall')).toBe(401);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${t.platformKey}`)).toBe(401);
      const spare = await t.relay.admin.createToken({ org: 'acme', kind: 'desktop' });
      expect(await t.relay.admin.revokeToken(spare.id)).toBe(true);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${spare.token}`)).toBe(401);
      expect(
        await refusedUpgradeStatus(t.relay.wsUrl.replace('/v1/connect', '/v1/other'), `Bearer ${t.desktopToken}`),
      ).toBe(404);
    });

    it('closes a connected desktop with 4401 when its token is revoked', async () => {
      const t = await startTestRelay();
      const spare = await t.relay.admin.createToken({ org: 'acme', kind: 'desktop' });
      const { desktop } = await connectDesktop(t, spare.token);
      await t.relay.admin.revokeToken(spare.id);
      expect((await desktop.closed).code).toBe(CLOSE_CODES.unauthorized);
    });

    it('notices a revocation made by another process (the CLI) within a heartbeat interval', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 500 });
      const spare = await t.relay.admin.createToken({ org: 'acme', kind: 'desktop' });
      const { desktop } = await connectDesktop(t, spare.token);
      const admin = openAdmin(t.dataDir);
      await admin.revokeToken(spare.id);
      admin.close();
      expect((await desktop.closed).code).toBe(CLOSE_CODES.unauthorized);
    });
  });

  describe('platform authentication', () => {
    it('answers 401 without a token, with a desktop token, an unknown or a revoked key', async () => {
      const t = await startTestRelay();
      expect((await t.api('/v1/runtimes', { token: null })).status).toBe(401);
      expect((await t.api('/v1/runtimes', { token: t.desktopToken })).status).toBe(401);
      expect((await t.api('/v1/runtimes', { token: 'tpk_unknownunknownunknown' })).status).toBe(401);
      const key = await t.relay.admin.createToken({ org: 'acme', kind: 'platform' });
      expect((await t.api('/v1/runtimes', { token: key.token })).status).toBe(200);
      await t.relay.admin.revokeToken(key.id);
      const refused = await t.api('/v1/runtimes', { token: key.token });
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('unauthorized');
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    });

    it('refuses a key revoked through another node on the same bus at once, though this node had it cached', async () => {
      const network = new LocalBusNetwork();
      const t = await startTestRelay({ bus: new LocalBus(network) });
      const other = await startRelay({ dataDir: t.dataDir, port: 0, logLevel: 'silent', bus: new LocalBus(network) });
      cleanups.push(() => other.close());
      const key = await t.relay.admin.createToken({ org: 'acme', kind: 'platform' });
      expect((await t.api('/v1/runtimes', { token: key.token })).status).toBe(200);
      expect(await other.admin.revokeToken(key.id)).toBe(true);
      expect((await t.api('/v1/runtimes', { token: key.token })).status).toBe(401);
    });
  });

  describe('org isolation', () => {
    it("answers 404 for another org's runtime on every route, never 403", async () => {
      const t = await startTestRelay();
      const { runtimeId } = await connectDesktop(t);
      await t.relay.admin.createOrg('other');
      const otherKey = (await t.relay.admin.createToken({ org: 'other', kind: 'platform' })).token;
      expect((await t.api('/v1/runtimes', { token: otherKey })).body.runtimes).toEqual([]);
      for (const [method, path] of [
        ['GET', `/v1/runtimes/${runtimeId}`],
        ['GET', `/v1/runtimes/${runtimeId}/capabilities`],
        ['GET', `/v1/runtimes/${runtimeId}/events`],
        ['POST', `/v1/runtimes/${runtimeId}/archive`],
        ['POST', `/v1/runtimes/${runtimeId}/calls/call_x/cancel`],
      ] as const) {
        const res = await t.api(path, { method, token: otherKey });
        expect(res.status, `${method} ${path}`).toBe(404);
      }
      const call = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        token: otherKey,
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(call.status).toBe(404);
      expect(call.body.error.code).toBe('not_found');
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        token: otherKey,
        json: { runtimeIds: [runtimeId], ttlSeconds: 60, label: 'x' },
      });
      expect(grant.status).toBe(404);
      expect((await t.api(`/v1/runtimes/${runtimeId}`)).status).toBe(200);
    });
  });

  describe('GET /v1/runtimes', () => {
    it('shows device, workspace and capabilities, never a path, and filters by state', async () => {
      const t = await startTestRelay();
      const ws = testWorkspace('ws-1', { name: 'Project', description: 'the app' });
      await connectDesktop(t, t.desktopToken, [ws, testWorkspace('ws-2', { state: 'paused' })]);
      const all = await t.api('/v1/runtimes');
      expect(all.body.runtimes).toHaveLength(2);
      const first = all.body.runtimes[0];
      expect(first).toMatchObject({
        state: 'running',
        device: { id: 'dev-1', name: 'Laptop', os: 'linux' },
        workspace: { id: 'ws-1', name: 'Project', description: 'the app' },
        capabilities: ws.capabilities,
      });
      expect(Date.parse(first.lastSeenAt)).not.toBeNaN();
      const paused = await t.api('/v1/runtimes?state=paused');
      expect(paused.body.runtimes.map((r: { workspace: { id: string } }) => r.workspace.id)).toEqual(['ws-2']);
      expect((await t.api('/v1/runtimes?state=sleeping')).status).toBe(400);
    });
  });

  describe('POST /v1/runtimes/:id/calls', () => {
    it('routes a call to the desktop with deadline and caller, and returns its result with the call id', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connectDesktop(t);
      const before = Date.now();
      const res = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'README.md' }, timeoutMs: 60_000 },
      });
      expect(res.status).toBe(200);
      expect(res.body.callId).toMatch(/^call_/);
      expect(res.body.result).toEqual({ tool: 'stat', args: { path: 'README.md' }, caller: 'agent-backend' });
      const frame = await desktop.next('call');
      expect(frame).toMatchObject({ id: res.body.callId, runtimeId, workspaceId: 'ws-1' });
      expect(frame.deadline).toBeGreaterThanOrEqual(before + 60_000);
    });

    it("answers with the desktop's own JSON of the result, byte for byte, and with the parsed value when it has none", async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connectDesktop(t);
      // Text no re-serialisation gives back: an integer past 2^53, an escaped é, spaces, key order.
      const value = '{ "size" : 12345678901234567890, "content":"caf\\u00e9 \\"}\\"", "z":[1,{"a":null}], "a":true }';
      let reply: (id: string) => string = (id) => `{"ok":true,"value":${value},"id":"${id}","type":"result"}`;
      desktop.onCall = (call, d) => d.sendRaw(reply(call.id));
      const call = () =>
        fetch(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.platformKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tool: 'stat', args: { path: 'README.md' } }),
        });
      const res = await call();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const text = await res.text();
      const callId = (JSON.parse(text) as { callId: string }).callId;
      expect(text).toBe(`{"callId":"${callId}","result":${value}}`);
      // A repeated `value` key: the one JSON.parse keeps is answered, serialised by the relay.
      reply = (id) => `{"type":"result","id":"${id}","ok":true,"value":{"first":1},"value":{"second":2}}`;
      const twice = await call();
      expect(JSON.parse(await twice.text())).toMatchObject({ result: { second: 2 } });
      // A value that is no object (no text to pass on) is serialised as before.
      reply = (id) => `{"type":"result","id":"${id}","ok":true,"value":  42}`;
      expect(await (await call()).text()).toMatch(/^\{"callId":"call_[0-9a-f]+","result":42\}$/);
    });

    it('answers invalid_args with the field path, before anything reaches the desktop', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connectDesktop(t);
      const res = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'edit_file', args: { path: 'a', edits: [{ oldText: 1, newText: 'x' }] } },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_args');
      expect(res.body.error.details.fields[0].path).toBe('edits.0.oldText');
      const unknown = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'format_disk', args: {} },
      });
      expect(unknown.body.error.code).toBe('unknown_tool');
      const badBody = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        body: '{not json',
        headers: { 'content-type': 'application/json' },
      });
      expect(badBody.status).toBe(400);
      expect(badBody.body.error.code).toBe('invalid_request');
      // Prototype-poisoning keys are refused, whether written plainly or with \u escapes.
      for (const body of [
        '{"tool":"stat","args":{"path":"a","__proto__":{"x":1}}}',
        '{"tool":"stat","args":{"path":"a"},"\\u005f_proto__":{"x":1}}',
        '{"tool":"stat","args":{"path":"a","constructor":{"prototype":{}}}}',
      ]) {
        const poisoned = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
        expect([poisoned.status, poisoned.body.error.code]).toEqual([400, 'invalid_request']);
      }
      expect(desktop.frames.filter((f) => f.type === 'call')).toHaveLength(0);
    });

    it('refuses a tool the workspace switched off with tool_disabled', async () => {
      const t = await startTestRelay();
      const ws = testWorkspace('ws-1');
      ws.capabilities.tools = TOOL_NAMES.filter((n) => n !== 'run_command');
      const { runtimeId } = await connectDesktop(t, t.desktopToken, [ws]);
      const res = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'ls' } },
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('tool_disabled');
    });

    it('sees a tool switched off and a pause at once, at this node and another, though the runtime was just called', async () => {
      const network = new LocalBusNetwork();
      const t = await startTestRelay({ bus: new LocalBus(network) });
      const other = await startRelay({ dataDir: t.dataDir, port: 0, logLevel: 'silent', bus: new LocalBus(network) });
      cleanups.push(() => other.close());
      const { desktop, runtimeId } = await connectDesktop(t);
      const call = (url: string, tool: 'stat' | 'run_command' = 'stat') =>
        fetch(`${url}/v1/runtimes/${runtimeId}/calls`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.platformKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(tool === 'stat' ? { tool, args: { path: 'a' } } : { tool, args: { command: 'ls' } }),
        }).then(async (res) => ({ status: res.status, body: (await res.json()) as { error?: { code: string } } }));
      expect((await call(t.relay.url)).status).toBe(200);
      expect((await call(other.url)).status).toBe(200);
      // Same state, fewer tools: no state event, the announcing node must not answer from memory.
      const ws = testWorkspace('ws-1');
      ws.capabilities.tools = TOOL_NAMES.filter((n) => n !== 'run_command');
      desktop.send({ type: 'workspaces', workspaces: [ws] });
      await desktop.next('runtimes');
      expect((await call(t.relay.url, 'run_command')).body.error?.code).toBe('tool_disabled');
      // A pause is a state event: the other node drops what it read, too.
      const events = await SseReader.open(`${other.url}/v1/runtimes/${runtimeId}/events`, t.platformKey);
      cleanups.push(() => events.close());
      expect((await events.next('state')).data.state).toBe('running');
      desktop.send({ type: 'event', events: [{ kind: 'health', workspaceId: 'ws-1', state: 'paused' }] });
      expect((await events.next('state')).data.state).toBe('paused');
      expect((await call(other.url)).body.error?.code).toBe('runtime_paused');
      expect((await call(t.relay.url)).body.error?.code).toBe('runtime_paused');
    });
  });

  describe('POST /v1/grants', () => {
    it('mints a tgr_ token that sees only its runtimes and tools', async () => {
      const t = await startTestRelay();
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      cleanups.push(() => desktop.close());
      const welcome = await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2')]);
      desktop.onCall = (call, d) => d.succeed(call.id, { caller: call.caller });
      const [rt1, rt2] = welcome.runtimes.map((r) => r.runtimeId);
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        json: { runtimeIds: [rt1], tools: ['read_file', 'stat'], ttlSeconds: 60, label: 'stage: review' },
      });
      expect(grant.status).toBe(200);
      expect(grant.body.token).toMatch(/^tgr_/);
      expect(grant.body).toMatchObject({ runtimeIds: [rt1], tools: ['read_file', 'stat'], label: 'stage: review' });
      const token = grant.body.token as string;
      expect((await t.api('/v1/runtimes', { token })).body.runtimes.map((r: { id: string }) => r.id)).toEqual([rt1]);
      expect((await t.api(`/v1/runtimes/${rt2}`, { token })).status).toBe(404);
      expect((await t.api(`/v1/runtimes/${rt1}/capabilities`, { token })).body.tools).toEqual(['read_file', 'stat']);
      const ok = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        token,
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(ok.body.result).toEqual({ caller: 'stage: review' });
      const wrongTool = await t.api(`/v1/runtimes/${rt1}/calls`, {
        method: 'POST',
        token,
        json: { tool: 'write_file', args: { path: 'a', content: 'x' } },
      });
      expect(wrongTool.status).toBe(403);
      expect(wrongTool.body.error.code).toBe('forbidden');
      const otherRuntime = await t.api(`/v1/runtimes/${rt2}/calls`, {
        method: 'POST',
        token,
        json: { tool: 'stat', args: { path: 'a' } },
      });
      expect(otherRuntime.status).toBe(404);
      // A grant cannot mint grants nor archive.
      expect(
        (await t.api('/v1/grants', { method: 'POST', token, json: { runtimeIds: [rt1], ttlSeconds: 60, label: 'x' } }))
          .status,
      ).toBe(403);
      expect((await t.api(`/v1/runtimes/${rt1}/archive`, { method: 'POST', token })).status).toBe(403);
    });

    it('stops working when the grant expires', async () => {
      const t = await startTestRelay();
      const { runtimeId } = await connectDesktop(t);
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        json: { runtimeIds: [runtimeId], ttlSeconds: 1, label: 'short' },
      });
      const token = grant.body.token as string;
      expect((await t.api(`/v1/runtimes/${runtimeId}`, { token })).status).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(grant.body.expiresAt) - Date.now() + 50));
      expect((await t.api(`/v1/runtimes/${runtimeId}`, { token })).status).toBe(401);
    });

    it('ends an events stream once its grant has expired', async () => {
      const t = await startTestRelay({ limits: { sseKeepaliveMs: 100 } });
      const { runtimeId } = await connectDesktop(t);
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        json: { runtimeIds: [runtimeId], ttlSeconds: 1, label: 'short' },
      });
      const events = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/events`, grant.body.token);
      cleanups.push(() => events.close());
      expect((await events.next('state')).data.state).toBe('running');
      await events.done;
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(grant.body.expiresAt));
    });

    it('dies with the platform key that minted it: revoking a leaked key revokes its grants too', async () => {
      const t = await startTestRelay({ limits: { sseKeepaliveMs: 100 } }); // streams re-check their token at each keepalive
      const { runtimeId } = await connectDesktop(t);
      const mint = async (key: string) =>
        (
          await t.api('/v1/grants', {
            method: 'POST',
            token: key,
            json: { runtimeIds: [runtimeId], ttlSeconds: 3600, label: 'stage' },
          })
        ).body.token as string;
      const other = (await t.relay.admin.createToken({ org: 'acme', kind: 'platform', name: 'other backend' })).token;
      const grant = await mint(t.platformKey);
      const otherGrant = await mint(other);
      expect((await t.api(`/v1/runtimes/${runtimeId}`, { token: grant })).status).toBe(200);
      const events = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/events`, grant);
      cleanups.push(() => events.close());
      expect((await events.next('state')).data.state).toBe('running');

      const [key] = (await t.relay.admin.listTokens('acme')).filter((k) => k.name === 'agent-backend');
      expect(await t.relay.admin.revokeToken(key!.id)).toBe(true);
      expect((await t.api(`/v1/runtimes/${runtimeId}`, { token: grant })).status).toBe(401);
      await events.done;
      // Another key's grant is untouched.
      expect((await t.api(`/v1/runtimes/${runtimeId}`, { token: otherGrant })).status).toBe(200);
    });

    it('does not outlive its key when minted after the revocation, while the relay still trusted the key from its cache', async () => {
      const t = await startTestRelay();
      const { runtimeId } = await connectDesktop(t);
      expect((await t.api('/v1/runtimes', {})).status).toBe(200); // the key is now in the token cache
      // Revoked by another process (the CLI): this relay trusts its cached key for a few seconds more.
      const cli = openAdmin(t.dataDir);
      const [key] = (await cli.listTokens('acme')).filter((k) => k.name === 'agent-backend');
      expect(await cli.revokeToken(key!.id)).toBe(true);
      cli.close();
      const grant = await t.api('/v1/grants', {
        method: 'POST',
        json: { runtimeIds: [runtimeId], ttlSeconds: 3600, label: 'late' },
      });
      // Whether the mint itself got through depends on that cache; the grant must not work either way.
      if (grant.status === 200)
        expect((await t.api(`/v1/runtimes/${runtimeId}`, { token: grant.body.token as string })).status).toBe(401);
      else expect(grant.status).toBe(401);
    });

    it('refuses a malformed grant request with the field path', async () => {
      const t = await startTestRelay();
      const res = await t.api('/v1/grants', { method: 'POST', json: { runtimeIds: [], ttlSeconds: 60, label: 'x' } });
      expect(res.status).toBe(400);
      expect(res.body.error.details.fields[0].path).toBe('runtimeIds');
    });
  });

  describe('operations endpoints', () => {
    it('serves healthz, readyz, metrics and an OpenAPI document built from the shared schemas', async () => {
      const t = await startTestRelay();
      const { runtimeId } = await connectDesktop(t);
      await t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'a' } } });
      await t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: {} } });
      expect((await t.api('/healthz', { token: null })).body).toEqual({ status: 'ok' });
      expect((await t.api('/readyz', { token: null })).status).toBe(200);
      const metrics = (await t.api('/metrics', { token: null })).body as string;
      expect(metrics).toContain('tether_relay_desktop_connections 1');
      expect(metrics).toContain('tether_relay_calls_in_flight 0');
      expect(metrics).toContain('tether_relay_runtimes{state="running"} 1');
      expect(metrics).toContain('tether_relay_calls_total{tool="stat",outcome="ok"} 1');
      expect(metrics).toContain('tether_relay_calls_total{tool="stat",outcome="invalid_args"} 1');
      expect(metrics).toMatch(/tether_relay_call_duration_seconds_count\{tool="stat"\} 2/);
      const doc = (await t.api('/openapi.json', { token: null })).body;
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toContain('/v1/runtimes/{id}/calls');
      expect(doc.components.schemas.CallRequest.discriminator.mapping).toHaveProperty('edit_file');
      expect(doc.components.schemas.CallRequest.oneOf).toHaveLength(TOOL_NAMES.length);
      expect(doc.components.schemas.ToolArgs_edit_file.required).toContain('edits');
    });

    it('never writes a token into its logs', async () => {
      const lines: string[] = [];
      const originalWrite = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        lines.push(String(chunk));
        return (originalWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof process.stdout.write;
      try {
        const t = await startTestRelay({ logLevel: 'trace' });
        await connectDesktop(t);
        await t.api('/v1/runtimes');
        await t.api('/v1/runtimes', { token: 'tpk_wrongwrongwrongwrong' });
        await t.dispose();
        const log = lines.join('');
        expect(log).toContain('incoming request');
        expect(log).not.toContain(t.platformKey);
        expect(log).not.toContain(t.desktopToken);
        expect(log).not.toContain('tpk_wrongwrongwrongwrong');
      } finally {
        process.stdout.write = originalWrite;
      }
    });
  });
});
