import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyXdgAutostart,
  autostartEntry,
  planLoginItem,
  quoteExecArg,
  type LoginItemEnvironment,
} from './login-item.js';

const base: LoginItemEnvironment = {
  platform: 'linux',
  execPath: '/opt/Tether/tether',
  appPath: '/opt/Tether/resources/app.asar',
  isPackaged: true,
  homeDir: '/home/me',
};

describe('planLoginItem', () => {
  it('writes an XDG autostart entry on Linux that starts hidden', () => {
    const plan = planLoginItem(true, base);
    expect(plan).toMatchObject({
      kind: 'xdg-autostart',
      file: '/home/me/.config/autostart/dev.tether.desktop.desktop',
    });
    expect(plan.kind === 'xdg-autostart' && plan.content).toContain('Exec=/opt/Tether/tether --hidden\n');
  });

  it('starts the AppImage itself, not its temporary mount', () => {
    const plan = planLoginItem(true, {
      ...base,
      execPath: '/tmp/.mount_Tether123/tether',
      appImagePath: '/home/me/Apps/Tether.AppImage',
    });
    expect(plan.kind === 'xdg-autostart' && plan.content).toContain('Exec=/home/me/Apps/Tether.AppImage --hidden');
  });

  it('honours XDG_CONFIG_HOME and removes the entry when switched off', () => {
    expect(planLoginItem(false, { ...base, xdgConfigHome: '/cfg' })).toEqual({
      kind: 'xdg-autostart',
      file: '/cfg/autostart/dev.tether.desktop.desktop',
      content: null,
    });
  });

  it('passes the app folder in development, where the executable is Electron itself', () => {
    const plan = planLoginItem(true, {
      ...base,
      isPackaged: false,
      execPath: '/src/node_modules/electron/dist/electron',
      appPath: '/src/app',
    });
    expect(plan.kind === 'xdg-autostart' && plan.content).toContain(
      'Exec=/src/node_modules/electron/dist/electron /src/app --hidden',
    );
    expect(
      planLoginItem(true, {
        ...base,
        platform: 'win32',
        isPackaged: false,
        execPath: 'C:\\e.exe',
        appPath: 'C:\\src\\app',
      }),
    ).toEqual({
      kind: 'electron',
      settings: { openAtLogin: true, path: 'C:\\e.exe', args: ['C:\\src\\app', '--hidden'] },
    });
  });

  it("uses Electron's login items on Windows (with --hidden) and macOS (no args there)", () => {
    expect(planLoginItem(true, { ...base, platform: 'win32', execPath: 'C:\\Tether\\Tether.exe' })).toEqual({
      kind: 'electron',
      settings: { openAtLogin: true, path: 'C:\\Tether\\Tether.exe', args: ['--hidden'] },
    });
    expect(planLoginItem(false, { ...base, platform: 'darwin' })).toEqual({
      kind: 'electron',
      settings: { openAtLogin: false },
    });
  });
});

describe('quoteExecArg', () => {
  it('leaves plain paths alone and quotes the rest per the Desktop Entry spec', () => {
    expect(quoteExecArg('/opt/Tether/tether')).toBe('/opt/Tether/tether');
    expect(quoteExecArg('/home/me/My Apps/Tether.AppImage')).toBe('"/home/me/My Apps/Tether.AppImage"');
    expect(quoteExecArg('/a/$HOME/`x`')).toBe('"/a/\\\\$HOME/\\\\`x\\\\`"');
    expect(quoteExecArg('/a/100%')).toBe('"/a/100%%"');
  });
});

describe('applyXdgAutostart', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-autostart-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the autostart folder and entry, then removes the entry', async () => {
    const on = planLoginItem(true, { ...base, xdgConfigHome: dir });
    if (on.kind !== 'xdg-autostart') throw new Error('expected an XDG plan');
    await applyXdgAutostart(on);
    expect(await readFile(on.file, 'utf8')).toBe(autostartEntry(['/opt/Tether/tether', '--hidden']));
    const off = planLoginItem(false, { ...base, xdgConfigHome: dir });
    if (off.kind !== 'xdg-autostart') throw new Error('expected an XDG plan');
    await applyXdgAutostart(off);
    await expect(stat(on.file)).rejects.toMatchObject({ code: 'ENOENT' });
    await applyXdgAutostart(off); // already gone: no error
  });
});
