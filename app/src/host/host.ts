import { readFile, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { TetherError, type Policy, type RefusedFrame } from '@tether/shared';
import { AuditLog } from './audit/audit-log.js';
import { RefusedCallRecorder } from './audit/refused-calls.js';
import { CallJournal } from './calls/call-journal.js';
import { CallRunner } from './calls/call-runner.js';
import { ConfigStore, defaultConfigDir, newId, type WorkspaceConfig } from './config/config-store.js';
import { InstanceLock } from './config/instance-lock.js';
import { createFsTools } from './fs/fs-tools.js';
import { disposeSearchWorkers } from './search/search-worker-pool.js';
import { previewWrite } from './fs/write-preview.js';
import type { HostApi } from './host-api.js';
import { HostApiImpl, type TokenSource } from './host-api-impl.js';
import { OAuthConsents } from './oauth/oauth-consents.js';
import { createOAuthTerminalPrompt } from './oauth/oauth-terminal-prompt.js';
import { ConfirmationBroker } from './policy/confirmation-broker.js';
import { MissedStore } from './policy/missed-store.js';
import { createTerminalFrontend } from './policy/terminal-prompt.js';
import { confinementOf, type Confinement } from './pty/pty-launcher.js';
import { ProcessLedger } from './pty/process-ledger.js';
import { detectSandbox, findForwarder } from './pty/sandbox.js';
import { DEFAULT_SANDBOX_SPEC } from './pty/sandbox-rules.js';
import { ProcessMonitor } from './pty/process-monitor.js';
import { createShellTools } from './pty/shell-tools.js';
import { sandboxSpecOf, sandboxViewOf } from './pty/workspace-sandbox.js';
import type { BackoffOptions } from './relay-client/backoff.js';
import { connectUrlOf } from './relay-client/connect-url.js';
import { RelayClient } from './relay-client/relay-client.js';
import { DeviceKey, openDeviceKeyStore } from './token/device-key.js';
import { TokenStore } from './token/token-store.js';
import { absoluteRootOf } from './workspaces/root-guard.js';
import { WorkspaceSet } from './workspaces/workspace-set.js';

/** Refuses a `--ca-file` that cannot be read or holds no PEM certificate, naming the flag. */
async function assertCaFile(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`--ca-file ${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`--ca-file ${path}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`);
}

/** Options of `startHost`. Everything but the test knobs has a production default. */
export interface StartHostOptions {
  /** Where config, token file and activity log live; default `defaultConfigDir()`. */
  configDir?: string;
  /** Relay to connect to; saved in the config (default: the config's, initially the local relay). */
  relayUrl?: string;
  /** PEM file of a private CA to trust for the relay (`--ca-file`); saved in the config once it reads as one. */
  caFile?: string;
  /** Desktop token for this run only; default TETHER_TOKEN, then the token store. */
  token?: string;
  /** Folders to add as workspaces when they are not ones yet (`--workspace`), with their policy. */
  workspaces?: Array<{ path: string; policy?: Policy }>;
  /** Lets the whole disk, the home folder or a system folder be a workspace (`--allow-any-folder`). */
  allowAnyFolder?: boolean;
  /** Under the desktop app (its window and tray) or a plain process (default `headless`). */
  mode?: 'desktop' | 'headless';
  /** Ask confirmations at this terminal (headless with a TTY); null or absent: no terminal. */
  terminal?: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream } | null;
  /** Allow an unencrypted (http/ws) relay that is not on this machine (`--insecure-relay`). */
  allowInsecureRelay?: boolean;
  /** Log lines for the person (never a token). */
  log?: (line: string) => void;
  /** Connect to the relay at start; default the config's `connectOnStart`. */
  connect?: boolean;
  /** The environment TETHER_TOKEN is read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Test knobs: the OS keychain (default: used when it works), health-check interval, confirmation timeout, reconnect backoff. */
  useKeychain?: boolean;
  healthIntervalMs?: number;
  confirmationTimeoutMs?: number;
  backoff?: BackoffOptions;
}

/** A running host: the DesktopApi, the relay connection, the workspaces. */
export interface Host {
  api: HostApi;
  relay: RelayClient;
  workspaces: WorkspaceSet;
  config: ConfigStore;
  broker: ConfirmationBroker;
  audit: AuditLog;
  /** MCP clients asking for access through the relay (OAuth consent), and the approved ones. */
  oauth: OAuthConsents;
  /** Closes everything it opened: the relay socket, ptys, watchers, timers, the terminal prompt. */
  dispose(): Promise<void>;
}

/** The app's version, for `hello` (package.json is two levels up from src/host and dist/host alike). */
async function appVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Starts the host core (DESIGN.md: the process that does the work, headless or under
 * Electron): config, token, workspaces with their health checks and watchers, the tools, the
 * policy and confirmation broker, the audit log, the call runner and the relay connection.
 */
export async function startHost(options: StartHostOptions = {}): Promise<Host> {
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  const disposers: Array<() => Promise<void> | void> = [];
  const disposeAll = async (): Promise<void> => {
    for (const dispose of disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (err) {
        log(`shutdown: ${(err as Error).message}`);
      }
    }
  };

  try {
    const configDir = resolve(options.configDir ?? defaultConfigDir());
    // First: everything below reads or writes files of the config dir that one host owns.
    const lock = await InstanceLock.acquire(configDir);
    disposers.push(() => lock.dispose());
    const config = await ConfigStore.open(configDir);
    config.warnings.forEach((w) => log(w));
    if (options.relayUrl !== undefined && options.relayUrl !== config.get().relayUrl) {
      // Refuses a URL that is not a relay's (or an unencrypted remote one), before it is saved.
      connectUrlOf(options.relayUrl, { allowInsecure: options.allowInsecureRelay === true });
      const relayUrl = options.relayUrl;
      await config.update((draft) => {
        draft.relayUrl = relayUrl;
      });
    }
    if (options.caFile !== undefined && options.caFile !== config.get().caFile) {
      const caFile = options.caFile;
      await assertCaFile(caFile);
      await config.update((draft) => {
        draft.caFile = caFile;
      });
    }

    const tokens = await TokenStore.open(
      configDir,
      options.useKeychain === undefined ? {} : { useKeychain: options.useKeychain },
    );
    tokens.warnings.forEach((w) => log(w));
    const token = await resolveToken(options.token, env, tokens);
    // The device key lives beside the token (keychain, else a 0600 file); made at the first run.
    const deviceKeys = await openDeviceKeyStore(
      configDir,
      options.useKeychain === undefined ? {} : { useKeychain: options.useKeychain },
    );
    deviceKeys.warnings.forEach((w) => log(w));
    const keyWarnings: string[] = [];
    let deviceKey = await DeviceKey.load(deviceKeys, keyWarnings);
    keyWarnings.forEach((w) => log(w));

    const audit = await AuditLog.open(configDir);
    disposers.push(() => audit.dispose());
    // Missed questions outlive the host: the ones it drops when it stops are shown after it starts again.
    const missed = await MissedStore.open(configDir);
    const broker = new ConfirmationBroker({
      missed: missed.loaded,
      ...(options.confirmationTimeoutMs === undefined ? {} : { timeoutMs: options.confirmationTimeoutMs }),
    });
    broker.on('missed', () => missed.save(broker.missed()));
    disposers.push(async () => {
      broker.dispose();
      await missed.flush();
    });

    const fsTools = createFsTools();
    // The search worker threads are shared by the process; they restart on the next search.
    disposers.push(() => disposeSearchWorkers());
    // What the OS offers to confine commands, found once; said plainly when it is missing.
    const sandboxStatus = await detectSandbox();
    const forwarder = await findForwarder();
    if (!sandboxStatus.available) {
      log(`commands are NOT sandboxed: ${sandboxStatus.reason ?? 'no sandbox here'}; every shell call asks first`);
    }
    const configuredWorkspace = (id: string): WorkspaceConfig | undefined =>
      config.get().workspaces.find((w) => w.id === id);
    const confinementFor = (w: WorkspaceConfig): Confinement =>
      confinementOf({
        spec: sandboxSpecOf(w, config.get().workspaces),
        status: sandboxStatus,
        forwarder: forwarder !== null,
        home: homedir(),
        configDir,
        root: w.root,
      });
    const set = await WorkspaceSet.open(config, {
      handlers: fsTools,
      sandboxView: (w) => sandboxViewOf(w, confinementFor(w)),
      // Tether's own settings and token are never inside (or around) a workspace.
      rootGuard: { protectedPaths: [configDir] },
      allowAnyFolder: options.allowAnyFolder === true,
      ...(options.healthIntervalMs !== undefined ? { healthIntervalMs: options.healthIntervalMs } : {}),
    });
    disposers.push(() => set.dispose());
    const processes = new ProcessMonitor();
    disposers.push(() => processes.dispose());
    // What an unsandboxed command of a host that crashed left running ends now.
    const { ledger, killed } = await ProcessLedger.open(configDir);
    if (killed > 0) log(`ended ${killed} process${killed === 1 ? '' : 'es'} a previous run's commands left running`);
    const shell = createShellTools({
      ledger,
      monitor: processes,
      sandbox: (id) => {
        const w = configuredWorkspace(id);
        return w ? sandboxSpecOf(w, config.get().workspaces) : DEFAULT_SANDBOX_SPEC;
      },
      configDir,
      status: Promise.resolve(sandboxStatus),
      forwarder,
      onNetworkRefused: (id, host, reason) =>
        log(
          `workspace ${configuredWorkspace(id)?.name ?? id}: a command's connection to ${host} was refused (${reason})`,
        ),
    });
    disposers.push(() => shell.dispose());
    // Workspaces of the config that break the root rules (added before them, or on purpose) are kept, and named.
    for (const runtime of set.list())
      for (const warning of set.warningsOf(runtime.config.id))
        log(`warning: workspace ${runtime.config.name}: ${warning}`);
    await addCommandLineWorkspaces(set, options.workspaces ?? [], log);

    // Before the runner, so it is disposed after it: calls ending during shutdown record their end.
    const journal = await CallJournal.open(configDir);
    journal.warnings.forEach((w) => log(w));
    disposers.push(() => journal.dispose());
    const calls = new CallRunner({
      journal,
      workspaces: set,
      broker,
      audit,
      handlers: { ...fsTools, ...shell.handlers },
      confinement: (id) => {
        const w = configuredWorkspace(id);
        return w ? confinementFor(w) : undefined;
      },
      preview: previewWrite,
      sessionInfo: (workspaceId, sessionId) => shell.sessionInfo(workspaceId, sessionId),
      log,
      onInternalError: (err, call) =>
        log(
          `call ${call.id} (${call.tool}) failed unexpectedly: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        ),
    });
    disposers.push(() => calls.dispose());

    if (options.terminal) {
      const terminal = createTerminalFrontend(options.terminal.input, options.terminal.output, broker);
      disposers.push(() => terminal.dispose());
    }

    const version = await appVersion();
    const relay = new RelayClient({
      relayUrl: config.get().relayUrl,
      token: token.value,
      caFile: config.get().caFile,
      allowInsecureRelay: options.allowInsecureRelay === true,
      device: () => ({
        deviceId: config.get().deviceId,
        name: config.get().deviceName,
        os: `${process.platform} ${process.arch}`,
      }),
      deviceKey: () => deviceKey,
      appVersion: version,
      announcements: () => set.announcements(),
      calls,
      enabled: options.connect ?? config.get().connectOnStart,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      log,
    });
    // Disposed right after the API (pushed late): no new calls arrive while the rest shuts down.
    disposers.push(() => relay.dispose());
    const refusals = new RefusedCallRecorder(audit, (id) => set.get(id)?.config.name);
    relay.on('refused', (frame: RefusedFrame) => refusals.record(frame));
    relay.on('status', (s: RelayClient['status']) =>
      log(`relay ${s.relayUrl}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`),
    );

    // Pausing or removing a workspace ends its shell sessions and commands.
    const endSessions = (id: string): void => {
      shell
        .killWorkspaceSessions(id)
        .catch((err: unknown) => log(`ending the sessions of ${id}: ${(err as Error).message}`));
    };
    const paused = new Set(
      set
        .list()
        .filter((r) => r.config.paused)
        .map((r) => r.config.id),
    );
    const onChanged = (): void => {
      relay.sendWorkspaces();
      for (const r of set.list()) {
        if (r.config.paused && !paused.has(r.config.id)) endSessions(r.config.id);
        if (r.config.paused) paused.add(r.config.id);
        else paused.delete(r.config.id);
      }
    };
    set.on('changed', onChanged);
    set.on('files', (event) => relay.sendEvents([event]));
    set.on('health', (event) => {
      log(
        `workspace ${set.get(event.workspaceId)?.config.name ?? event.workspaceId}: ${event.state}${event.reason ? ` (${event.reason})` : ''}`,
      );
      relay.sendEvents([event]);
    });
    set.on('removed', endSessions);

    const oauth = new OAuthConsents(relay, (id) => set.get(id) !== undefined);
    disposers.push(() => oauth.dispose());
    if (options.terminal) {
      const prompt = createOAuthTerminalPrompt(
        options.terminal.input,
        options.terminal.output,
        oauth,
        () => set.views().map((v) => ({ id: v.id, name: v.name })),
        () => relay.runtimes,
      );
      disposers.push(() => prompt.dispose());
    }

    // Re-pairing: a new device id and key, so a device id claimed by another key is left behind.
    const repairDevice = async (): Promise<void> => {
      const key = await DeviceKey.create(deviceKeys);
      await config.update((draft) => {
        draft.deviceId = newId('dev');
      });
      deviceKey = key;
      log(`re-paired this device: device id ${config.get().deviceId}, key ${key.fingerprint}`);
      relay.configure({});
      relay.setEnabled(true);
    };
    const api = new HostApiImpl({
      config,
      tokens,
      token,
      workspaces: set,
      broker,
      audit,
      relay,
      processes,
      oauth,
      log,
      mode: options.mode ?? 'headless',
      allowInsecureRelay: options.allowInsecureRelay === true,
      deviceKeyFingerprint: () => deviceKey.fingerprint,
      repairDevice,
    });
    disposers.push(() => api.dispose());

    let disposed: Promise<void> | undefined;
    return {
      api,
      relay,
      workspaces: set,
      config,
      broker,
      audit,
      oauth,
      dispose: () => (disposed ??= disposeAll()),
    };
  } catch (err) {
    await disposeAll();
    throw err;
  }
}

/** options.token, then TETHER_TOKEN, then the token store (keychain or file). */
async function resolveToken(
  option: string | undefined,
  env: NodeJS.ProcessEnv,
  tokens: TokenStore,
): Promise<{ value: string | undefined; source: TokenSource }> {
  if (option !== undefined && option.trim() !== '') return { value: option.trim(), source: 'memory' };
  const fromEnv = env.TETHER_TOKEN?.trim();
  if (fromEnv) return { value: fromEnv, source: 'memory' };
  const stored = await tokens.get();
  return stored ? { value: stored, source: tokens.kind } : { value: undefined, source: 'none' };
}

/** Adds each `--workspace` folder that is not a workspace yet, with the given policy. */
async function addCommandLineWorkspaces(
  set: WorkspaceSet,
  folders: Array<{ path: string; policy?: Policy }>,
  log: (line: string) => void,
): Promise<void> {
  for (const folder of folders) {
    const real = await realpath(absoluteRootOf(folder.path, { home: homedir(), platform: process.platform })).catch(
      () => {
        throw new TetherError('not_found', `--workspace ${folder.path}: there is no such folder.`);
      },
    );
    const existing = set.list().find((r) => r.config.root === real);
    if (existing) {
      log(`workspace ${existing.config.name} (${real}) is already configured; its policy is kept as it is`);
      continue;
    }
    const runtime = await set.add({ root: real, policy: folder.policy });
    log(`added workspace ${runtime.config.name} (${real})`);
    for (const warning of set.warningsOf(runtime.config.id)) log(`warning: ${warning}`);
  }
}
