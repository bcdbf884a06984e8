import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@tether/shared';
import { LocalBus, LocalBusNetwork } from './bus/local-bus.js';
import { startRelay } from './relay-server.js';
import { SqliteStore } from './store/sqlite-store.js';
import { FakeDesktop, testWorkspace } from './testing/fake-desktop.js';
import { eventually, startTestRelay, type TestRelay } from './testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connect(t: TestRelay, workspaces = [testWorkspace('ws-1')]) {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(device, workspaces);
  return { desktop, welcome };
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('startRelay lifecycle', () => {
  describe('restart', () => {
    it('keeps tokens, runtime ids and states consistent across a restart with the same data dir', async () => {
      const first = await startTestRelay();
      const dataDir = first.dataDir;
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const revoked = await first.relay.admin.createToken({ org: 'acme', kind: 'platform' });
      await first.relay.admin.revokeToken(revoked.id);
      const { welcome } = await connect(first, [
        testWorkspace('ws-1'),
        testWorkspace('ws-2', { state: 'paused' }),
        testWorkspace('ws-3'),
      ]);
      const [rt1, rt2, rt3] = welcome.runtimes.map((r) => r.runtimeId) as [string, string, string];
      expect((await first.api(`/v1/runtimes/${rt3}/archive`, { method: 'POST' })).status).toBe(200);
      await first.relay.close();

      const second = await startRelay({ dataDir, port: 0, logLevel: 'silent' });
      cleanups.push(() => second.close());
      const api = async (path: string, token = first.platformKey) => {
        const res = await fetch(second.url + path, { headers: { authorization: `Bearer ${token}` } });
        return { status: res.status, body: (await res.json()) as { runtimes: Array<{ id: string; state: string }> } };
      };
      const states = async () =>
        Object.fromEntries((await api('/v1/runtimes')).body.runtimes.map((r) => [r.id, r.state]));
      expect(await states()).toEqual({ [rt1]: 'stopped', [rt2]: 'stopped', [rt3]: 'archived' });
      expect((await api('/v1/runtimes', revoked.token)).status).toBe(401);

      const again = await FakeDesktop.connect(second.wsUrl, first.desktopToken);
      cleanups.push(() => again.close());
      const welcomeAgain = await again.hello(device, [
        testWorkspace('ws-1'),
        testWorkspace('ws-2', { state: 'paused' }),
        testWorkspace('ws-3'),
      ]);
      expect(welcomeAgain.runtimes).toEqual(welcome.runtimes);
      expect(await states()).toEqual({ [rt1]: 'running', [rt2]: 'paused', [rt3]: 'archived' });
      expect((await second.admin.listTokens('acme')).map((tok) => tok.kind)).toEqual([
        'desktop',
        'platform',
        'platform',
      ]);
    });
  });

  describe('start', () => {
    it('fails with a clear error when the port is taken, leaving nothing open', async () => {
      const t = await startTestRelay();
      cleanups.push(() => t.dispose());
      const other = await mkdtemp(join(tmpdir(), 'tether-relay-'));
      cleanups.push(() => rm(other, { recursive: true, force: true }));
      await expect(startRelay({ dataDir: other, port: t.relay.port, logLevel: 'silent' })).rejects.toThrow(
        `could not listen on 127.0.0.1:${t.relay.port}`,
      );
    });
  });

  describe('close', () => {
    it('lets an in-flight call finish, refuses new ones, and closes desktops with 1001', async () => {
      const t = await startTestRelay({ shutdownGraceMs: 10_000 });
      const dataDir = t.dataDir;
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const { desktop, welcome } = await connect(t);
      const runtimeId = welcome.runtimes[0]!.runtimeId;
      const pending = t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'stat', args: { path: 'a' } },
      });
      const call = await desktop.next('call');
      const closing = t.relay.close();
      // While draining, the desktop is still connected and its answer still gets through.
      await new Promise((r) => setTimeout(r, 50));
      expect(desktop.ws.readyState).toBe(desktop.ws.OPEN);
      desktop.succeed(call.id, 'finished during shutdown');
      expect((await pending).body.result).toBe('finished during shutdown');
      expect((await desktop.closed).code).toBe(CLOSE_CODES.goingAway);
      await closing;
    });

    it('fails calls still running at the end of the grace period with unavailable, leaving them running on the desktop', async () => {
      const t = await startTestRelay({ shutdownGraceMs: 200 });
      const dataDir = t.dataDir;
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const { desktop, welcome } = await connect(t);
      const pending = t.api(`/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'sleep 100' } },
      });
      const call = await desktop.next('call');
      const closing = t.relay.close();
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(res.body.callId).toBe(call.id);
      await closing;
      expect(desktop.frames.some((f) => f.type === 'cancel')).toBe(false);
    });

    it('writes every call row and outcome of the batched call log before the store closes', async () => {
      // A flush interval far beyond the test: only close() can have written the rows.
      const t = await startTestRelay({ shutdownGraceMs: 200, callLogFlushMs: 600_000 });
      const dataDir = t.dataDir;
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const { desktop, welcome } = await connect(t);
      const runtimeId = welcome.runtimes[0]!.runtimeId;
      desktop.onCall = (call, d) => d.succeed(call.id, 'ok');
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json: { tool: 'stat', args: { path: 'a' } } }),
        ),
      );
      const done = answers.map((a) => a.body.callId as string);
      desktop.onCall = null;
      const unfinished = t.api(`/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'sleep 100' } },
      });
      const lost = (await desktop.next('call', (c) => c.tool === 'run_command')).id;
      const before = new SqliteStore(dataDir);
      cleanups.push(async () => before.close());
      // Another connection sees nothing yet: the rows are still queued in the relay.
      expect(await before.getCall(done[0]!)).toBeNull();
      await t.relay.close();
      expect((await unfinished).status).toBe(503);
      const after = new SqliteStore(dataDir);
      cleanups.push(async () => after.close());
      for (const id of done) expect((await after.getCall(id))?.outcome).toBe('ok');
      expect((await after.getCall(lost))?.outcome).toBe('unavailable');
    });
  });

  describe('routing between nodes', () => {
    it('routes a call arriving at one node to a runtime held by another', async () => {
      const network = new LocalBusNetwork();
      const a = await startTestRelay({ bus: new LocalBus(network) });
      cleanups.push(() => a.dispose());
      const bRelay = await startRelay({ dataDir: a.dataDir, port: 0, logLevel: 'silent', bus: new LocalBus(network) });
      cleanups.push(() => bRelay.close());
      const { desktop, welcome } = await connect(a);
      desktop.onCall = (call, d) => {
        d.send({ type: 'progress', id: call.id, status: 'running' });
        d.succeed(call.id, `answered ${call.tool}`);
      };
      const res = await fetch(`${bRelay.url}/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.platformKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'stat', args: { path: 'a' } }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { result: string }).result).toBe('answered stat');
      // A cancel arriving at the node that did not take the call still reaches it.
      const pending = fetch(`${bRelay.url}/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.platformKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'run_command', args: { command: 'sleep 100' } }),
      });
      desktop.onCall = null;
      const call = await desktop.next('call', (c) => c.tool === 'run_command');
      expect(
        (await a.api(`/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/calls/${call.id}/cancel`, { method: 'POST' }))
          .status,
      ).toBe(200);
      expect((await pending).status).toBe(409);
      expect((await desktop.next('cancel')).id).toBe(call.id);
    });

    it('cancels a call whose call log row is not written yet, at another node and at its own', async () => {
      const network = new LocalBusNetwork();
      const a = await startTestRelay({ bus: new LocalBus(network) });
      cleanups.push(() => a.dispose());
      // Node b holds its call rows far beyond the test: node a can only learn of them over the bus.
      const b = await startRelay({
        dataDir: a.dataDir,
        port: 0,
        logLevel: 'silent',
        bus: new LocalBus(network),
        callLogFlushMs: 600_000,
      });
      cleanups.push(() => b.close());
      const { desktop, welcome } = await connect(a);
      const runtimeId = welcome.runtimes[0]!.runtimeId;
      const callAtB = () =>
        fetch(`${b.url}/v1/runtimes/${runtimeId}/calls`, {
          method: 'POST',
          headers: { authorization: `Bearer ${a.platformKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tool: 'run_command', args: { command: 'sleep 100' } }),
        });
      const cancelAt = (url: string, callId: string) =>
        fetch(`${url}/v1/runtimes/${runtimeId}/calls/${callId}/cancel`, {
          method: 'POST',
          headers: { authorization: `Bearer ${a.platformKey}` },
        });

      const first = callAtB();
      const call = await desktop.next('call');
      const reader = new SqliteStore(a.dataDir);
      cleanups.push(async () => reader.close());
      expect(await reader.getCall(call.id)).toBeNull();
      expect((await cancelAt(a.relay.url, call.id)).status).toBe(200);
      expect((await first).status).toBe(409);
      expect((await desktop.next('cancel')).id).toBe(call.id);

      const second = callAtB();
      const call2 = await desktop.next('call', (c) => c.id !== call.id);
      expect(await reader.getCall(call2.id)).toBeNull();
      expect((await cancelAt(b.url, call2.id)).status).toBe(200);
      expect((await second).status).toBe(409);
      expect((await desktop.next('cancel', (c) => c.id === call2.id)).id).toBe(call2.id);
      // An id no node knows is still a 404, once no node has answered.
      expect((await cancelAt(a.relay.url, 'call_nobody_knows')).status).toBe(404);
    });
  });

  describe('TLS', () => {
    it.skipIf(!hasOpenssl())(
      'serves HTTPS and WSS itself with the given certificate (skipped without openssl)',
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'tether-relay-tls-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-keyout',
            join(dir, 'key.pem'),
            '-out',
            join(dir, 'cert.pem'),
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-addext',
            'subjectAltName=IP:127.0.0.1',
          ],
          { stdio: 'ignore' },
        );
        const t = await startTestRelay({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
        cleanups.push(() => t.dispose());
        expect(t.relay.url).toMatch(/^https:/);
        expect(t.relay.wsUrl).toMatch(/^wss:.*\/v1\/connect$/);
        const ca = await readFile(join(dir, 'cert.pem'), 'utf8');
        const health = await new Promise<string>((resolve, reject) => {
          request(`${t.relay.url}/healthz`, { ca }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve(body));
          })
            .on('error', reject)
            .end();
        });
        expect(JSON.parse(health)).toEqual({ status: 'ok' });
        const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
        cleanups.push(() => desktop.close());
        expect((await desktop.hello(device, [testWorkspace('ws-1')])).type).toBe('welcome');
        await eventually(
          () => desktop.frames.length,
          (n) => n === 1,
        );
      },
    );
  });
});
