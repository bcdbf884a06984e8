import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, MAX_FRAME_BYTES } from '@tether/shared';
import { startRelay, type RelayHandle, type RelayOptions } from './relay-server.js';
import { FakeDesktop, refusedUpgradeStatus, testWorkspace } from './testing/fake-desktop.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface TestRelay {
  relay: RelayHandle;
  dataDir: string;
  desktopToken: string;
  platformKey: string;
  api(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<{ status: number; body: any }> // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON bodies of many shapes;
}

async function startTestRelay(options: Partial<RelayOptions> = {}, dataDir?: string): Promise<TestRelay> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'tether-relay-')));
  if (!dataDir) cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const relay = await startRelay({ dataDir: dir, port: 0, logLevel: 'silent', ...options });
  cleanups.push(() => relay.close());
  let desktopToken = '';
  let platformKey = '';
  if (!dataDir) {
    await relay.admin.createOrg('acme');
    desktopToken = (await relay.admin.createToken({ org: 'acme', kind: 'desktop', name: 'laptop' })).token;
    platformKey = (await relay.admin.createToken({ org: 'acme', kind: 'platform', name: 'agent-backend' })).token;
  }
  const t: TestRelay = {
    relay,
    dataDir: dir,
    desktopToken,
    platformKey,
    async api(path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
      const token = init.token === undefined ? t.platformKey : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body = init.body;
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(init.json);
      }
      const res = await fetch(relay.url + path, { ...init, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (metrics, SSE)
      }
      return { status: res.status, body: parsed };
    },
  };
  return t;
}

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connectDesktop(t: TestRelay, workspaces = [testWorkspace('ws-1')], dev = device): Promise<{ desktop: FakeDesktop; runtimeId: string }> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(dev, workspaces);
  return { desktop, runtimeId: welcome.runtimes[0]?.runtimeId ?? '' };
}

describe('startRelay', () => {
  describe('desktop connections', () => {
    it('answers hello with welcome carrying runtime ids, limits and the heartbeat interval', async () => {
      const t = await startTestRelay({ heartbeatIntervalMs: 5000 });
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      cleanups.push(() => desktop.close());
      const welcome = await desktop.hello(device, [testWorkspace('ws-1'), testWorkspace('ws-2')]);
      expect(welcome.runtimes.map((r) => r.workspaceId)).toEqual(['ws-1', 'ws-2']);
      expect(welcome.runtimes[0]!.runtimeId).toMatch(/^rt_/);
      expect(welcome.runtimes[0]!.runtimeId).not.toBe(welcome.runtimes[1]!.runtimeId);
      expect(welcome.limits.maxFrameBytes).toBe(MAX_FRAME_BYTES);
      expect(welcome.heartbeatIntervalMs).toBe(5000);
      const list = await t.api('/v1/runtimes');
      expect(list.status).toBe(200);
      expect(list.body.runtimes.map((r: { state: string }) => r.state)).toEqual(['running', 'running']);
    });

    it('refuses the upgrade with 401 for a missing, wrong, platform-kind or revoked token', async () => {
      const t = await startTestRelay();
      expect(await refusedUpgradeStatus(t.relay.wsUrl, undefined)).toBe(401);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, 'Bearer tdt_nottherealtokenatall')).toBe(401);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${t.platformKey}`)).toBe(401);
      const spare = await t.relay.admin.createToken({ org: 'acme', kind: 'desktop' });
      await t.relay.admin.revokeToken(spare.id);
      expect(await refusedUpgradeStatus(t.relay.wsUrl, `Bearer ${spare.token}`)).toBe(401);
    });

    it('closes with 4422 when the first frame is not hello', async () => {
      const t = await startTestRelay();
      const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      desktop.send({ type: 'workspaces', workspaces: [] });
      expect((await desktop.closed).code).toBe(CLOSE_CODES.unexpectedFrame);
    });
  });

  describe('POST /v1/runtimes/:id/calls', () => {
    it('routes a call to the desktop and returns its result with the call id', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connectDesktop(t);
      desktop.onCall = (call, d) => d.succeed(call.id, { echo: call.args, caller: call.caller, workspaceId: call.workspaceId });
      const res = await t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'README.md' } } });
      expect(res.status).toBe(200);
      expect(res.body.callId).toMatch(/^call_/);
      expect(res.body.result).toEqual({ echo: { path: 'README.md' }, caller: 'agent-backend', workspaceId: 'ws-1' });
    });
  });
});
