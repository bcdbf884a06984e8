import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { APP_ID, PRODUCT_NAME } from './app-identity.js';

/**
 * Launch at login. Electron's app.setLoginItemSettings covers macOS and Windows only; on
 * Linux the freedesktop way is a `.desktop` file in ~/.config/autostart, written here.
 * A launch at login starts with `--hidden`: the app comes up in the tray, not in your face.
 */

/** The argument that makes a launch start in the tray (see launch-args.ts). */
export const HIDDEN_ARG = '--hidden';
/** File name of the XDG autostart entry. */
export const AUTOSTART_FILE_NAME = `${APP_ID}.desktop`;

/** Where and how this copy of the app runs. */
export interface LoginItemEnvironment {
  platform: NodeJS.Platform;
  /** process.execPath: the app's executable (the Electron binary in development). */
  execPath: string;
  /** app.getAppPath(): the app folder, needed as an argument when not packaged. */
  appPath: string;
  isPackaged: boolean;
  /** $APPIMAGE: an AppImage's execPath is inside a temporary mount, so start the image itself. */
  appImagePath?: string;
  homeDir: string;
  /** $XDG_CONFIG_HOME, when set. */
  xdgConfigHome?: string;
}

/** Settings for Electron's app.setLoginItemSettings (macOS, Windows). */
export interface ElectronLoginItemSettings {
  openAtLogin: boolean;
  path?: string;
  args?: string[];
}

/** What to do to make launch-at-login match the setting. */
export type LoginItemPlan =
  | { kind: 'electron'; settings: ElectronLoginItemSettings }
  | { kind: 'xdg-autostart'; file: string; content: string | null };

/** Quotes one Exec argument per the Desktop Entry spec (quoting rule, then string escaping). */
export function quoteExecArg(arg: string): string {
  const quoted = /^[A-Za-z0-9_./:=+-]+$/.test(arg) ? arg : `"${arg.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`;
  // `%` starts a field code; a literal one is `%%`. The string-value escape doubles backslashes.
  return quoted.replace(/%/g, '%%').replace(/\\/g, '\\\\');
}

/** The autostart `.desktop` entry that starts the app hidden. */
export function autostartEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${PRODUCT_NAME}`,
    'Comment=Lets your AI agents work in folders you choose, with your OK',
    `Exec=${command.map(quoteExecArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Decides what launch-at-login needs on this platform. */
export function planLoginItem(enabled: boolean, env: LoginItemEnvironment): LoginItemPlan {
  const devArgs = env.isPackaged ? [] : [env.appPath];
  if (env.platform === 'linux') {
    const file = join(env.xdgConfigHome || join(env.homeDir, '.config'), 'autostart', AUTOSTART_FILE_NAME);
    const executable = env.appImagePath || env.execPath;
    return {
      kind: 'xdg-autostart',
      file,
      content: enabled ? autostartEntry([executable, ...devArgs, HIDDEN_ARG]) : null,
    };
  }
  if (env.platform === 'win32') {
    return { kind: 'electron', settings: { openAtLogin: enabled, path: env.execPath, args: [...devArgs, HIDDEN_ARG] } };
  }
  // macOS: arguments cannot be passed to a login item; main checks wasOpenedAtLogin instead.
  return { kind: 'electron', settings: { openAtLogin: enabled } };
}

/** Writes or removes the XDG autostart entry (no error when it is already gone). */
export async function applyXdgAutostart(plan: Extract<LoginItemPlan, { kind: 'xdg-autostart' }>): Promise<void> {
  if (plan.content === null) {
    await rm(plan.file, { force: true });
    return;
  }
  await mkdir(dirname(plan.file), { recursive: true });
  await writeFile(plan.file, plan.content, { mode: 0o644 });
}
