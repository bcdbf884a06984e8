import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@tether/shared';
import { openAdmin } from './relay-admin.js';
import { startRelay } from './relay-server.js';
import { FakeDesktop, testWorkspace } from './testing/fake-desktop.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

let dir: string;
let children: ChildProcess[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-serve-'));
  children = [];
});
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Runs `tether-relay serve` as its own process (from the TypeScript sources) and waits for its URL. */
async function serve(
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<{
  child: ChildProcess;
  url: string;
  wsUrl: string;
  exited: Promise<number | null>;
  output: () => string;
  stdout: () => string;
}> {
  const args = ['serve', '--port', '0', '--data-dir', dir, '--log-level', 'warn', ...extraArgs];
  const script = `import(${JSON.stringify(CLI)}).then(async (m) => { const code = await m.runCli(${JSON.stringify(args)}); if (code !== 0) process.exit(code); })`;
  const child = spawn(process.execPath, ['--conditions=@tether/source', '--import', 'tsx', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`serve exited: ${output}`)));
  });
  return {
    child,
    url,
    wsUrl: url.replace('http', 'ws') + '/v1/connect',
    exited,
    output: () => output,
    stdout: () => stdout,
  };
}

async function makeTokens(): Promise<{ desktop: string; platform: string }> {
  const admin = openAdmin(dir);
  await admin.createOrg('acme');
  const desktop = (await admin.createToken({ org: 'acme', kind: 'desktop' })).token;
  const platform = (await admin.createToken({ org: 'acme', kind: 'platform', name: 'backend' })).token;
  admin.close();
  return { desktop, platform };
}

describe('tether-relay serve', () => {
  it('logs only JSON lines: start, one info line per call (never its arguments or result), stop', async () => {
    const tokens = await makeTokens();
    const relay = await serve(['--log-level', 'info']);
    const desktop = await FakeDesktop.connect(relay.wsUrl, tokens.desktop);
    const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    desktop.onCall = (call, d) => d.succeed(call.id, { secret: 'result-text-xyz' });
    const res = await fetch(`${relay.url}/v1/runtimes/${rt}/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.platform}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'stat', args: { path: 'private-arg-abc' } }),
    });
    const { callId } = (await res.json()) as { callId: string };
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
    const lines = relay
      .stdout()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toContainEqual(
      expect.objectContaining({ level: 30, msg: expect.stringContaining('tether-relay listening on') }),
    );
    expect(records).toContainEqual(expect.objectContaining({ level: 30, signal: 'SIGTERM' }));
    const callLines = records.filter((r) => r.callId === callId);
    expect(callLines).toEqual([
      expect.objectContaining({ level: 30, tool: 'stat', runtimeId: rt, outcome: 'ok', orgId: expect.any(String) }),
    ]);
    expect(callLines[0]).toHaveProperty('durationMs');
    expect(relay.output()).not.toContain('private-arg-abc');
    expect(relay.output()).not.toContain('result-text-xyz');
    // No per-request lines at info: the call line is the one line of the request.
    expect(records.filter((r) => r.msg === 'incoming request' || r.msg === 'request completed')).toEqual([]);
  });

  it('serves calls, and on SIGTERM closes desktops with 1001 and exits 0', async () => {
    const tokens = await makeTokens();
    const relay = await serve();
    const desktop = await FakeDesktop.connect(relay.wsUrl, tokens.desktop);
    const rt = (await desktop.hello(device, [testWorkspace('ws-1')])).runtimes[0]!.runtimeId;
    desktop.onCall = (call, d) => d.succeed(call.id, `ran ${call.tool} for ${call.caller}`);
    const res = await fetch(`${relay.url}/v1/runtimes/${rt}/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.platform}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'stat', args: { path: 'a' } }),
    });
    expect(((await res.json()) as { result: string }).result).toBe('ran stat for backend');
    relay.child.kill('SIGTERM');
    expect((await desktop.closed).code).toBe(CLOSE_CODES.goingAway);
    expect(await relay.exited).toBe(0);
  });

  it('takes the metrics token from TETHER_RELAY_METRICS_TOKEN and the rate limits from flags', async () => {
    const tokens = await makeTokens();
    const metricsToken = 'scrape-me-0123456789abcdef';
    const relay = await serve(['--credential-requests-per-window', '2', '--credential-window-ms', '60000'], {
      TETHER_RELAY_METRICS_TOKEN: metricsToken,
    });
    expect(relay.output()).toContain('metrics: with the metrics token');
    expect((await fetch(`${relay.url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${relay.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('tether_relay_desktop_connections 0');
    const list = () => fetch(`${relay.url}/v1/runtimes`, { headers: { authorization: `Bearer ${tokens.platform}` } });
    expect([(await list()).status, (await list()).status]).toEqual([200, 200]);
    const limited = await list();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    relay.child.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
  });

  it('after a crash, the next start shows the crashed process’s runtimes as stopped, with the same ids on reconnect', async () => {
    const tokens = await makeTokens();
    const relay = await serve();
    const desktop = await FakeDesktop.connect(relay.wsUrl, tokens.desktop);
    const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
    relay.child.kill('SIGKILL');
    await relay.exited;
    await desktop.closed;
    const next = await startRelay({ dataDir: dir, port: 0, logLevel: 'silent' });
    try {
      const res = await fetch(`${next.url}/v1/runtimes/${welcome.runtimes[0]!.runtimeId}`, {
        headers: { authorization: `Bearer ${tokens.platform}` },
      });
      expect(((await res.json()) as { state: string }).state).toBe('stopped');
      const again = await FakeDesktop.connect(next.wsUrl, tokens.desktop);
      expect((await again.hello(device, [testWorkspace('ws-1')])).runtimes).toEqual(welcome.runtimes);
      await again.close();
    } finally {
      await next.close();
    }
  });
});
