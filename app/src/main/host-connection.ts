import {
  MessageChannelMain,
  utilityProcess,
  type MessagePortMain,
  type UtilityProcess,
  type WebContents,
} from 'electron';
import type { HostChildMessage, HostParentMessage } from '../host/utility-entry.js';
import { ChannelClient, type ChannelPortLike } from './channel-client.js';
import { HostSupervisor, type SupervisedProcess } from './host-supervisor.js';
import type { HostStatus } from './tray-model.js';

/** IPC channel on which a window receives its MessagePort to the host (the preload listens). */
export const PORT_CHANNEL = 'tether:port';
/** IPC channel that tells a window the host process is down or back. */
export const HOST_STATUS_CHANNEL = 'tether:host-status';

/** An Electron UtilityProcess seen by the supervisor. */
class UtilityHost implements SupervisedProcess {
  constructor(readonly child: UtilityProcess) {}
  onExit(listener: (code: number | null) => void): void {
    this.child.once('exit', (code) => listener(code));
  }
  kill(): void {
    this.child.kill();
  }
  post(message: HostParentMessage, ports: MessagePortMain[] = []): void {
    this.child.postMessage(message, ports);
  }
}

/** A MessagePortMain as the channel client's port. */
function adaptPort(port: MessagePortMain): ChannelPortLike {
  return {
    send: (message) => port.postMessage(message),
    onMessage: (listener) => port.on('message', (event) => listener(event.data)),
    onClose: (listener) => port.on('close', listener),
    close: () => port.close(),
  };
}

/** How to start the host and what to tell whom. */
export interface HostConnectionOptions {
  entryPath: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The desktop token for this run (--token, --token-fd, TETHER_TOKEN), handed over in the start message. */
  token?: string | undefined;
  onStatus(status: HostStatus, detail?: string): void;
  /** The main process's own client to the host, new after every (re)start. */
  onClient(client: ChannelClient): void;
  log(line: string): void;
}

/**
 * The host core as an Electron utilityProcess (STYLE.md 2, like VS Code's pty host): started
 * and restarted by a HostSupervisor, with one MessageChannelMain per window (port1 to the
 * host, port2 to the renderer) and one for the main process itself (the tray). A restart
 * hands every window a fresh port.
 */
export class HostConnection {
  readonly #options: HostConnectionOptions;
  readonly #supervisor: HostSupervisor<UtilityHost>;
  readonly #windows = new Set<WebContents>();
  #client: ChannelClient | null = null;
  #status: { status: HostStatus; detail?: string } = { status: 'starting' };

  constructor(options: HostConnectionOptions) {
    this.#options = options;
    this.#supervisor = new HostSupervisor<UtilityHost>({
      spawn: () => this.#spawn(),
      onStarted: (host) => this.#onStarted(host),
      onStatus: (status, detail) => {
        this.#status = detail === undefined ? { status } : { status, detail };
        for (const contents of this.#windows) contents.send(HOST_STATUS_CHANNEL, this.#status);
        options.onStatus(status, detail);
      },
    });
  }

  /** Starts the host process. */
  start(): void {
    this.#supervisor.start();
  }

  /**
   * Gives a window's page a port to the host (after each load: a reload drops the old one)
   * and keeps giving it one after host restarts until the page is destroyed.
   */
  connectWindow(contents: WebContents): void {
    if (!this.#windows.has(contents)) {
      this.#windows.add(contents);
      contents.once('destroyed', () => this.#windows.delete(contents));
    }
    contents.send(HOST_STATUS_CHANNEL, this.#status);
    const host = this.#supervisor.current;
    if (host) this.#sendWindowPort(host, contents);
  }

  /** Asks the host to shut down cleanly (it disposes ptys, watchers, the relay socket), then kills it if it must. */
  async stop(): Promise<void> {
    this.#client?.dispose();
    this.#client = null;
    await this.#supervisor.stop((host) => host.post({ type: 'shutdown' }));
  }

  #spawn(): UtilityHost {
    const child = utilityProcess.fork(this.#options.entryPath, this.#options.args, {
      serviceName: 'tether-host',
      env: this.#options.env,
      stdio: 'inherit',
    });
    child.on('message', (message: HostChildMessage) => {
      if (message?.type === 'fatal') this.#options.log(`host could not start: ${message.message}`);
    });
    const host = new UtilityHost(child);
    // First message: the token goes here, not into the host's environment.
    host.post({ type: 'start', ...(this.#options.token ? { token: this.#options.token } : {}) });
    return host;
  }

  #onStarted(host: UtilityHost): void {
    const { port1, port2 } = new MessageChannelMain();
    host.post({ type: 'port', role: 'tray' }, [port1]);
    this.#client?.dispose();
    const client = new ChannelClient(adaptPort(port2));
    port2.start();
    this.#client = client;
    this.#options.onClient(client);
    for (const contents of this.#windows) this.#sendWindowPort(host, contents);
  }

  #sendWindowPort(host: UtilityHost, contents: WebContents): void {
    if (contents.isDestroyed()) return;
    const { port1, port2 } = new MessageChannelMain();
    host.post({ type: 'port', role: 'window' }, [port1]);
    contents.postMessage(PORT_CHANNEL, null, [port2]);
  }
}
