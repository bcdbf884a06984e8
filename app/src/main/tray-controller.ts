import { join } from 'node:path';
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import {
  TRAY_ICON_STATES,
  type TrayAction,
  type TrayIconState,
  type TrayMenuItem,
  type TrayModel,
} from './tray-model.js';

/**
 * The system tray: renders a TrayModel (tray-model.ts decides; this only draws). On macOS
 * the icons are template images (black + alpha) so the menu bar tints them; elsewhere they
 * are coloured. Each PNG has an @2x sibling that nativeImage picks up for HiDPI.
 */
export class TrayController {
  readonly #tray: Tray;
  readonly #icons: Map<TrayIconState, NativeImage>;
  readonly #onAction: (action: TrayAction) => void;
  #lastIcon: TrayIconState | null = null;

  constructor(options: { iconDir: string; platform: NodeJS.Platform; onAction(action: TrayAction): void }) {
    this.#onAction = options.onAction;
    this.#icons = new Map(
      TRAY_ICON_STATES.map((state) => {
        const file = options.platform === 'darwin' ? `tray-${state}Template.png` : `tray-${state}.png`;
        const image = nativeImage.createFromPath(join(options.iconDir, file));
        if (options.platform === 'darwin') image.setTemplateImage(true);
        return [state, image] as const;
      }),
    );
    this.#tray = new Tray(this.#icons.get('disconnected') ?? nativeImage.createEmpty());
    // On Windows and Linux a left click should open the window, as people expect there.
    this.#tray.on('click', () => {
      if (options.platform !== 'darwin') this.#onAction({ type: 'open' });
    });
  }

  /** Shows a model: icon, tooltip and a rebuilt menu. */
  render(model: TrayModel): void {
    if (this.#lastIcon !== model.icon) {
      const icon = this.#icons.get(model.icon);
      if (icon) this.#tray.setImage(icon);
      this.#lastIcon = model.icon;
    }
    this.#tray.setToolTip(model.tooltip);
    this.#tray.setContextMenu(Menu.buildFromTemplate(model.menu.map((item) => this.#toTemplate(item))));
  }

  /** Removes the tray icon. */
  dispose(): void {
    this.#tray.destroy();
  }

  #toTemplate(item: TrayMenuItem): MenuItemConstructorOptions {
    switch (item.kind) {
      case 'separator':
        return { type: 'separator' };
      case 'info':
        return { label: item.label, enabled: false };
      case 'submenu':
        return { label: item.label, submenu: item.items.map((child) => this.#toTemplate(child)) };
      case 'action': {
        const action = item.action;
        return { label: item.label, enabled: item.enabled, click: () => this.#onAction(action) };
      }
    }
  }
}
