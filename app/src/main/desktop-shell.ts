import { app, Notification, powerSaveBlocker } from 'electron';
import type { ConfirmationRequest, DesktopState } from '@tether/shared';
import type { ChannelClient } from './channel-client.js';
import { ConfirmationAttention, confirmationNotification } from './confirmation-attention.js';
import { HostConnection } from './host-connection.js';
import { KeepAwake, shouldKeepAwake } from './keep-awake.js';
import { workspacesToAdd } from './launch-args.js';
import { applyXdgAutostart, planLoginItem, type LoginItemEnvironment } from './login-item.js';
import { MainWindow } from './main-window.js';
import { TrayController } from './tray-controller.js';
import { buildTrayModel, type HostStatus, type TrayAction, type TrayModel } from './tray-model.js';

/** Paths and switches the shell is started with (main.ts works them out). */
export interface DesktopShellOptions {
  hostEntryPath: string;
  hostArgs: string[];
  hostEnv: NodeJS.ProcessEnv;
  hostToken?: string | undefined;
  preloadPath: string;
  trayIconDir: string;
  appUrl: string;
  startHidden: boolean;
  loginItemEnvironment: LoginItemEnvironment;
  log(line: string): void;
}

/**
 * The desktop shell: the window, the tray, the host process and the few OS integrations
 * (notifications, launch at login, keeping awake), wired to the host's state. It decides
 * nothing itself: tray-model, confirmation-attention, keep-awake and login-item do.
 */
export class DesktopShell {
  readonly #options: DesktopShellOptions;
  readonly #host: HostConnection;
  readonly #window: MainWindow;
  readonly #tray: TrayController;
  readonly #keepAwake = new KeepAwake(powerSaveBlocker);
  readonly #attention = new ConfirmationAttention();
  readonly #notifications = new Set<Notification>();
  readonly #confirmationNotifications = new Map<string, Notification>();
  #client: ChannelClient | null = null;
  #unsubscribe: (() => void)[] = [];
  #state: DesktopState | null = null;
  #hostStatus: HostStatus = 'starting';
  #loginItemApplied: boolean | undefined;
  #pendingWorkspaces: string[] = [];
  #quitting = false;
  #model: TrayModel;

  constructor(options: DesktopShellOptions) {
    this.#options = options;
    this.#tray = new TrayController({
      iconDir: options.trayIconDir,
      platform: process.platform,
      onAction: (action) => this.#onTrayAction(action),
    });
    this.#model = buildTrayModel(null, 'starting');
    this.#tray.render(this.#model);
    this.#host = new HostConnection({
      entryPath: options.hostEntryPath,
      args: options.hostArgs,
      env: options.hostEnv,
      token: options.hostToken,
      log: options.log,
      onStatus: (status) => {
        this.#hostStatus = status;
        this.#render();
      },
      onClient: (client) => this.#attach(client),
    });
    this.#window = new MainWindow({
      preloadPath: options.preloadPath,
      url: options.appUrl,
      hidden: options.startHidden,
      isQuitting: () => this.#quitting,
      onPageLoaded: (contents) => this.#host.connectWindow(contents),
    });
    this.#host.start();
  }

  /** The window, for IPC sender checks and dialogs. */
  get window(): MainWindow {
    return this.#window;
  }

  /** What the tray shows now (read by the Electron end-to-end test). */
  get trayModel(): TrayModel {
    return this.#model;
  }

  /** Brings the window forward (tray Open, a second launch, a notification click). */
  showWindow(): void {
    this.#window.show();
  }

  /** Adds folders from a second launch's `--workspace` once the host's state is known. */
  addWorkspaces(roots: readonly string[]): void {
    this.#pendingWorkspaces.push(...roots);
    this.#flushWorkspaces();
  }

  /** A native notification; clicking it opens the window. */
  notify(title: string, body: string): Notification | null {
    if (!Notification.isSupported()) return null;
    const notification = new Notification({ title, body });
    // Keep a reference until it is gone, or it can be collected before its click arrives.
    this.#notifications.add(notification);
    notification.on('click', () => this.showWindow());
    notification.on('close', () => this.#notifications.delete(notification));
    notification.show();
    return notification;
  }

  /** Stops the host cleanly and releases everything; the app may exit afterwards. */
  async shutdown(): Promise<void> {
    this.#quitting = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#client = null;
    await this.#host.stop().catch((err: unknown) => this.#options.log(`host shutdown: ${String(err)}`));
    this.#keepAwake.dispose();
    for (const notification of this.#notifications) notification.close();
    this.#notifications.clear();
    this.#confirmationNotifications.clear();
    this.#tray.dispose();
    this.#window.destroy();
  }

  #attach(client: ChannelClient): void {
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#client = client;
    this.#unsubscribe.push(
      client.on('state:changed', (state) => this.#onState(state)),
      // A confirmation may arrive before the state that lists it: react to either first.
      client.on('confirm:request', (request) => this.#onConfirmation(request)),
    );
    client.request('state:get', {}).then(
      (state) => this.#onState(state),
      (err: unknown) => this.#options.log(`state:get: ${String(err)}`),
    );
  }

  #onConfirmation(request: ConfirmationRequest): void {
    const state = this.#state;
    if (!state || state.pendingConfirmations.some((c) => c.id === request.id)) return;
    this.#onState({ ...state, pendingConfirmations: [...state.pendingConfirmations, request] });
  }

  #onState(state: DesktopState): void {
    this.#state = state;
    this.#render();
    this.#keepAwake.set(shouldKeepAwake(state));
    this.#syncLoginItem(state.settings.launchAtLogin);
    const actions = this.#attention.update(state.pendingConfirmations, this.#window.status);
    if (actions.bringForward) {
      this.#window.setAlwaysOnTop(true);
      this.#window.show();
      if (process.platform === 'darwin') app.focus({ steal: true });
    }
    if (actions.releaseOnTop) this.#window.setAlwaysOnTop(false);
    for (const request of actions.notify) {
      const { title, body } = confirmationNotification(request);
      const notification = this.notify(title, body);
      if (notification) this.#confirmationNotifications.set(request.id, notification);
    }
    // An answered (or timed-out) confirmation's notification would only mislead: withdraw it.
    for (const [id, notification] of this.#confirmationNotifications) {
      if (state.pendingConfirmations.some((c) => c.id === id)) continue;
      notification.close();
      this.#confirmationNotifications.delete(id);
    }
    this.#flushWorkspaces();
  }

  #render(): void {
    this.#model = buildTrayModel(this.#state, this.#hostStatus);
    this.#tray.render(this.#model);
  }

  #syncLoginItem(enabled: boolean): void {
    if (this.#loginItemApplied === enabled) return;
    this.#loginItemApplied = enabled;
    const plan = planLoginItem(enabled, this.#options.loginItemEnvironment);
    if (plan.kind === 'electron') app.setLoginItemSettings(plan.settings);
    else void applyXdgAutostart(plan).catch((err: unknown) => this.#options.log(`launch at login: ${String(err)}`));
  }

  #flushWorkspaces(): void {
    const client = this.#client;
    const state = this.#state;
    if (!client || !state || this.#pendingWorkspaces.length === 0) return;
    const roots = workspacesToAdd(
      this.#pendingWorkspaces,
      state.workspaces.map((w) => w.root),
    );
    this.#pendingWorkspaces = [];
    for (const root of roots) {
      client
        .request('workspace:add', { root })
        .catch((err: unknown) => this.#options.log(`--workspace ${root}: ${String(err)}`));
    }
  }

  #onTrayAction(action: TrayAction): void {
    const log = (err: unknown): void => this.#options.log(`tray ${action.type}: ${String(err)}`);
    switch (action.type) {
      case 'open':
        this.showWindow();
        return;
      case 'quit':
        app.quit();
        return;
      case 'connection:set':
        this.#client?.request('connection:set', { enabled: action.enabled }).catch(log);
        return;
      case 'workspace:pause':
        this.#client?.request('workspace:update', { id: action.workspaceId, paused: action.paused }).catch(log);
        return;
    }
  }
}
