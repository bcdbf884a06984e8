#!/usr/bin/env node
// `npm start`: a local relay on 127.0.0.1:8787 (data in .tether/relay), an org `local` with a
// desktop token and a platform key (made on first run, kept in .tether/local.json, mode 0600),
// and Tether Desktop connected to it: Electron where its binary is installed, otherwise the
// headless host with the UI served on a local URL. Ctrl-C stops everything.
// On a fresh clone it first installs what is missing (`npm ci` without node_modules; a build
// without dist/), saying so. `--no-build` skips the (incremental) build step when the build is
// there; `--plan` prints those set-up steps and exits. TETHER_RELAY_PORT, TETHER_UI_PORT and
// TETHER_STATE_DIR override the port and folder defaults.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// TETHER_STATE_DIR moves all of it elsewhere (the smoke test runs it in a temp dir).
const stateDir = process.env.TETHER_STATE_DIR ? resolve(process.env.TETHER_STATE_DIR) : join(root, '.tether');
const relayDataDir = join(stateDir, 'relay');
const desktopConfigDir = join(stateDir, 'desktop');
const demoWorkspace = join(stateDir, 'workspace');
const localFile = join(stateDir, 'local.json');
const RELAY_HOST = '127.0.0.1';
const RELAY_PORT = Number(process.env.TETHER_RELAY_PORT ?? 8787);
const UI_PORT = Number(process.env.TETHER_UI_PORT ?? 8790);
// How long to wait for the desktop's runtime to show up before printing the MCP URL anyway.
const RUNTIME_WAIT_MS = 30_000;

const say = (line = '') => process.stdout.write(`${line}\n`);

function run(cmd, args, what) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`npm start: ${what} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

/** Newest modification time under a folder (the UI's sources), in ms. */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function build() {
  // Incremental: a no-op (a second or two) when nothing changed.
  say('Building (tsc -b)…');
  run('npx', ['tsc', '-b'], 'the TypeScript build');
  const uiIndex = join(root, 'app', 'dist', 'renderer', 'index.html');
  const uiSources = join(root, 'app', 'src', 'renderer');
  if (!existsSync(uiIndex) || newestMtime(uiSources) > statSync(uiIndex).mtimeMs) {
    say('Building the UI…');
    run('npm', ['run', 'build', '-w', '@tether/app'], 'the UI build');
  }
}

/**
 * What a checkout lacks before it can start: dependencies (`node_modules`, as `npm ci` leaves
 * it) and the build (`dist/` of the relay and the desktop host). Decided from files alone.
 */
function setupSteps(noBuild) {
  const steps = [];
  // npm writes this file last: a node_modules without it is a half-finished install.
  if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) steps.push('install');
  const built =
    existsSync(join(root, 'relay', 'dist', 'index.js')) &&
    existsSync(join(root, 'app', 'dist', 'host', 'cli.js')) &&
    existsSync(join(root, 'app', 'dist', 'renderer', 'index.html'));
  if (!noBuild || !built) steps.push(built ? 'build' : 'first-build');
  return steps;
}

function setUp(noBuild) {
  for (const step of setupSteps(noBuild)) {
    if (step === 'install') {
      say('First run: node_modules is missing, so installing the dependencies first (npm ci; a minute or two)…');
      run('npm', ['ci'], 'npm ci');
    } else {
      if (step === 'first-build') say('First run: nothing is built yet, so building first (a minute or so)…');
      build();
    }
  }
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(preferred) {
  for (let port = preferred; port < preferred + 10; port++) if (await portIsFree(port)) return port;
  return 0; // let the UI server pick one
}

function readLocal() {
  try {
    const local = JSON.parse(readFileSync(localFile, 'utf8'));
    if (typeof local.desktopToken === 'string' && typeof local.platformKey === 'string') return local;
  } catch {
    // first run, or a broken file: make new credentials
  }
  return null;
}

async function keyWorks(relayUrl, platformKey) {
  const res = await fetch(`${relayUrl}/v1/runtimes`, { headers: { Authorization: `Bearer ${platformKey}` } });
  return res.status === 200;
}

async function bootstrap(relay) {
  const existing = readLocal();
  if (existing && (await keyWorks(relay.url, existing.platformKey))) return { ...existing, firstRun: false };
  try {
    await relay.admin.createOrg('local');
  } catch (err) {
    if (err?.code !== 'already_exists') throw err;
  }
  // The demo desktop keeps its device id (in .tether/desktop) while its token is replaced; the
  // relay binds a device to the token that registered it, so the old one is revoked first.
  for (const old of await relay.admin.listTokens('local'))
    if (old.kind === 'desktop' && old.name === 'npm start desktop' && old.revokedAt === null)
      await relay.admin.revokeToken(old.id);
  const desktop = await relay.admin.createToken({ org: 'local', kind: 'desktop', name: 'npm start desktop' });
  const platform = await relay.admin.createToken({ org: 'local', kind: 'platform', name: 'npm start platform key' });
  const local = {
    org: 'local',
    desktopToken: desktop.token,
    platformKey: platform.token,
    createdAt: new Date().toISOString(),
  };
  writeFileSync(localFile, `${JSON.stringify(local, null, 2)}\n`, { mode: 0o600 });
  chmodSync(localFile, 0o600);
  return { ...local, firstRun: existing === null };
}

function electronBinary() {
  const require = createRequire(join(root, 'app', 'package.json'));
  let packageDir;
  try {
    packageDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  // Only then require('electron'): without its binary it would try to download one.
  if (!existsSync(join(packageDir, 'dist')) || !existsSync(join(packageDir, 'path.txt'))) return null;
  const binary = require('electron');
  return typeof binary === 'string' && existsSync(binary) ? binary : null;
}

async function waitForRuntime(relayUrl, platformKey) {
  const started = Date.now();
  while (Date.now() - started < RUNTIME_WAIT_MS) {
    const res = await fetch(`${relayUrl}/v1/runtimes`, { headers: { Authorization: `Bearer ${platformKey}` } }).catch(
      () => null,
    );
    if (res?.ok) {
      const body = await res.json();
      const runtimes = Array.isArray(body) ? body : (body.runtimes ?? []);
      const running = runtimes.find((r) => r.state === 'running') ?? runtimes[0];
      if (running) return running;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}

async function main() {
  // `npm start -- --no-build` runs what is built already (e.g. while a colleague's file does not compile).
  const noBuild = process.argv.includes('--no-build');
  if (process.argv.includes('--plan')) {
    const steps = setupSteps(noBuild);
    say(steps.length > 0 ? `npm start would first: ${steps.join(', ')}` : 'npm start would start at once');
    return;
  }
  setUp(noBuild);
  mkdirSync(relayDataDir, { recursive: true, mode: 0o700 });
  const { startRelay, lockDataDir } = await import(pathToFileURL(join(root, 'relay', 'dist', 'index.js')).href);
  let dataLock;
  try {
    // Held until the relay is closed: a second relay on the same data would mark this one's runtimes stopped.
    // (Kept in a variable the stop path uses: a lock object nobody references would be collected, and closed.)
    dataLock = await lockDataDir(relayDataDir);
  } catch (err) {
    if (err?.code !== 'conflict') throw err;
    console.error(
      `npm start: another npm start (or a relay) is using ${relayDataDir} already. ` +
        'Stop it, or run this one with its own state: TETHER_STATE_DIR=/tmp/tether-2 TETHER_RELAY_PORT=8788 npm start',
    );
    process.exit(1);
  }
  let relay;
  try {
    relay = await startRelay({ host: RELAY_HOST, port: RELAY_PORT, dataDir: relayDataDir, logLevel: 'warn' });
  } catch (err) {
    // The usual reason is a second `npm start` (or another relay): say so, and how to pick another port.
    if (err?.cause?.code !== 'EADDRINUSE') throw err;
    console.error(
      `npm start: port ${RELAY_PORT} on ${RELAY_HOST} is in use (is npm start or another relay running already?). ` +
        `Stop it, or start on another port: TETHER_RELAY_PORT=${RELAY_PORT + 1} npm start`,
    );
    process.exit(1);
  }
  const local = await bootstrap(relay);

  const desktopArgs = ['--relay', relay.url, '--config-dir', desktopConfigDir];
  if (!existsSync(demoWorkspace)) {
    mkdirSync(demoWorkspace, { recursive: true });
    writeFileSync(
      join(demoWorkspace, 'README.md'),
      '# Demo workspace\n\nThis folder was made by `npm start` so a runtime shows up at once.\nAgents can read it; writes and commands ask you first.\n',
    );
    desktopArgs.push('--workspace', demoWorkspace);
  }
  // The token goes over a pipe (fd 3), never into the desktop's environment, where
  // /proc/<pid>/environ would show it to every program of this user while it runs.
  const env = { ...process.env };
  delete env.TETHER_TOKEN;
  desktopArgs.push('--token-fd', '3');

  const electron = electronBinary();
  let child;
  let uiUrl = null;
  if (electron) {
    say('Starting Tether Desktop (Electron)…');
    child = spawn(electron, [join(root, 'app'), ...desktopArgs], {
      cwd: root,
      env,
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    });
  } else {
    const port = await freePort(UI_PORT);
    say('The Electron binary is not installed here: starting Tether Desktop headless, with the UI in your browser.');
    child = spawn(
      process.execPath,
      [join(root, 'app', 'bin', 'tether-desktop.js'), '--headless', '--ui', String(port), ...desktopArgs],
      {
        cwd: root,
        env,
        stdio: ['inherit', 'pipe', 'inherit', 'pipe'],
      },
    );
    // The host prints its UI address on stdout; it goes into the summary below.
    let printed = '';
    child.stdout.setEncoding('utf8').on('data', (data) => {
      if (uiUrl === null) {
        printed += data;
        const match = /Tether Desktop UI: (\S+)/.exec(printed);
        if (match) uiUrl = match[1];
      } else process.stdout.write(data);
    });
  }

  child.stdio[3].on('error', () => undefined);
  child.stdio[3].end(`${local.desktopToken}\n`);

  // Ctrl-C from here on stops the desktop, then the relay (registered before anything is printed).
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await relay.close();
    dataLock.dispose();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`Tether Desktop exited (${code ?? signal}); stopping the relay.`);
      void stop(code ?? 1);
    }
  });

  // Wait for the runtime and the UI address first, so the desktop's start-up log lines come
  // before the summary instead of in the middle of it.
  const runtime = await waitForRuntime(relay.url, local.platformKey);
  if (!electron) {
    const started = Date.now();
    while (uiUrl === null && Date.now() - started < RUNTIME_WAIT_MS && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 100));
  }
  say();
  say(`Relay:         ${relay.url}  (data in ${relayDataDir})`);
  say(`Platform key:  ${local.platformKey}   (org "local"; kept in ${localFile})`);
  say();
  say('List runtimes:');
  say(`  curl -H "Authorization: Bearer ${local.platformKey}" ${relay.url}/v1/runtimes`);
  const runtimeId = runtime?.id ?? 'RUNTIME_ID';
  say('Read a file in a runtime:');
  say(
    `  curl -X POST -H "Authorization: Bearer ${local.platformKey}" -H "Content-Type: application/json" \\\n` +
      `       -d '{"tool":"read_file","args":{"path":"README.md"}}' ${relay.url}/v1/runtimes/${runtimeId}/calls`,
  );
  say(`MCP server of the runtime (Streamable HTTP, same bearer key): ${relay.url}/v1/runtimes/${runtimeId}/mcp`);
  say(`MCP server of every runtime of the key (tools take a runtime argument): ${relay.url}/v1/mcp`);
  say(`For the README's examples:  TPK=${local.platformKey} RT=${runtimeId}`);
  if (!electron) {
    say();
    say(
      `Tether Desktop UI (open in a browser; the link carries its secret): ${uiUrl ?? '(not printed yet: see the log above)'}`,
    );
  }
  if (!runtime) say('(no runtime connected yet: add a workspace in Tether Desktop, then list runtimes for its id)');
  say();
  say('Ctrl-C stops the desktop and the relay.');
}

main().catch((err) => {
  console.error(`npm start: ${err?.stack ?? err}`);
  process.exit(1);
});
