import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import { DebugLogger } from 'builder-util';
import picomatch from 'picomatch';
import { beforeAll, describe, expect, it } from 'vitest';
import { APP_ID, PRODUCT_NAME } from './app-identity.js';
import { TRAY_ICON_STATES } from './tray-model.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const appDir = fileURLToPath(new URL('../../', import.meta.url));
type Config = Awaited<ReturnType<typeof getConfig>>;

/** Width and height from a PNG's IHDR chunk (after checking the signature). */
async function pngSize(path: string): Promise<{ width: number; height: number }> {
  const bytes = await readFile(path);
  expect(bytes.subarray(0, 8).toString('hex'), path).toBe('89504e470d0a1a0a');
  expect(bytes.subarray(12, 16).toString('ascii'), path).toBe('IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('electron-builder.yml', () => {
  let config: Config;
  beforeAll(async () => {
    // electron-builder's own loader: the same file reading and merging as a real build.
    config = await getConfig(root, 'electron-builder.yml', null);
  });

  it("passes electron-builder's own schema validation", async () => {
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
  });

  it('is checked by a validator that does reject a wrong option', async () => {
    const wrong = { ...config, mac: { ...config.mac, hardenedRuntme: true } } as Config;
    await expect(validateConfiguration(wrong, new DebugLogger(false))).rejects.toThrow(
      /Invalid configuration object[\s\S]*configuration\.mac/,
    );
  });

  it('flips the Electron fuses that would let the packaged app run other code', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      grantFileProtocolExtraPrivileges: false,
      onlyLoadAppFromAsar: true,
      enableCookieEncryption: true,
    });
  });

  it('names the app and builds AppImage + deb, dmg with hardened runtime, and nsis', () => {
    expect(config.appId).toBe('dev.tether.desktop');
    expect(config.productName).toBe('Tether');
    // The run-time copies (Windows AppUserModelID, Linux autostart entry) must match.
    expect([APP_ID, PRODUCT_NAME]).toEqual([config.appId, config.productName]);
    expect(config.linux?.target).toEqual(['AppImage', 'deb']);
    expect(config.linux?.category).toBe('Development');
    expect(config.mac?.target).toEqual(['dmg']);
    expect(config.mac?.hardenedRuntime).toBe(true);
    expect(config.win?.target).toEqual(['nsis']);
  });

  it('unpacks the native modules from the asar', () => {
    expect(config.asar).toBe(true);
    const unpack = [config.asarUnpack].flat().filter((p): p is string => typeof p === 'string');
    const unpacked = (path: string) => unpack.some((pattern) => picomatch(pattern, { dot: true })(path));
    expect(unpacked('node_modules/node-pty/build/Release/pty.node')).toBe(true);
    expect(unpacked('node_modules/node-pty/build/Release/spawn-helper')).toBe(true);
    expect(unpacked('node_modules/@napi-rs/keyring-linux-x64-gnu/keyring.linux-x64-gnu.node')).toBe(true);
    expect(unpacked('node_modules/bufferutil/prebuilds/linux-x64/bufferutil.node')).toBe(true);
    expect(unpacked('node_modules/zod/index.js')).toBe(false);
  });

  it('packages the built entry points and icons, and no sources, maps or tests', async () => {
    const pkg = JSON.parse(await readFile(`${appDir}package.json`, 'utf8')) as { main: string };
    // getConfig normalises `files` into file sets ({ filter: [...] }).
    const patterns = [config.files]
      .flat()
      .flatMap((set) => (typeof set === 'string' ? [set] : [set?.filter ?? []].flat()))
      .filter((p): p is string => typeof p === 'string');
    const include = patterns.filter((p) => !p.startsWith('!')).map((p) => picomatch(p, { dot: true }));
    const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => picomatch(p.slice(1), { dot: true }));
    // Production node_modules are collected separately; only the `!` patterns apply to them.
    const packaged = (path: string) =>
      (path.startsWith('node_modules/') || include.some((m) => m(path))) && !exclude.some((m) => m(path));
    for (const path of [
      'package.json',
      'node_modules/@tether/shared/dist/index.js',
      pkg.main,
      'dist/preload/preload.cjs',
      'dist/host/utility-entry.js',
      'dist/renderer/index.html',
      'assets/tray/tray-waitingTemplate@2x.png',
    ]) {
      expect(packaged(path), path).toBe(true);
    }
    for (const path of [
      'src/main/main.ts',
      'dist/main/main.js.map',
      'dist/main/tray-model.test.js',
      'dist/main/test-fixtures.js',
      'dist/host/test-stack.js',
      'dist/host/host.d.ts',
      'dist/preload/preload.d.cts',
      'node_modules/@tether/shared/src/index.ts',
      'node_modules/@tether/shared/dist/index.js.map',
    ]) {
      expect(packaged(path), path).toBe(false);
    }
    expect(pkg.main).toBe('dist/main/main.js');
  });

  it('has the macOS entitlements file it names, allowing JIT and the native modules', async () => {
    const plist = await readFile(`${root}${config.mac?.entitlements}`, 'utf8');
    for (const key of [
      'com.apple.security.cs.allow-jit',
      'com.apple.security.cs.allow-unsigned-executable-memory',
      'com.apple.security.cs.disable-library-validation',
    ]) {
      expect(plist).toMatch(new RegExp(`<key>${key.replace(/\./g, '\\.')}</key>\\s*<true/>`));
    }
    expect(config.mac?.entitlementsInherit).toBe(config.mac?.entitlements);
  });

  it('has the icons it names: a 512 px app icon and 16/32 px tray icons for every state', async () => {
    expect(await pngSize(`${root}app/build/icon.png`)).toEqual({ width: 512, height: 512 });
    for (const state of TRAY_ICON_STATES) {
      for (const variant of ['', 'Template']) {
        expect(await pngSize(`${appDir}assets/tray/tray-${state}${variant}.png`)).toEqual({ width: 16, height: 16 });
        expect(await pngSize(`${appDir}assets/tray/tray-${state}${variant}@2x.png`)).toEqual({ width: 32, height: 32 });
      }
    }
  });
});
