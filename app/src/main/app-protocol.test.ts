import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAppAsset } from './app-protocol.js';

const dir = '/opt/Tether/resources/app.asar/dist/renderer';

describe('resolveAppAsset', () => {
  it('serves index.html for the root and files of the UI folder with their types', () => {
    expect(resolveAppAsset('tether://app/', dir)).toEqual({
      path: join(dir, 'index.html'),
      contentType: 'text/html; charset=utf-8',
    });
    expect(resolveAppAsset('tether://app/index.html#/settings', dir)?.path).toBe(join(dir, 'index.html'));
    expect(resolveAppAsset('tether://app/assets/index-abc.js?v=1', dir)).toEqual({
      path: join(dir, 'assets/index-abc.js'),
      contentType: 'text/javascript; charset=utf-8',
    });
    expect(resolveAppAsset('tether://app/icon.svg', dir)?.contentType).toBe('image/svg+xml');
  });

  it('refuses paths that leave the UI folder, plain or encoded', () => {
    for (const url of [
      'tether://app/../../../../etc/passwd.txt',
      'tether://app/%2e%2e/%2e%2e/secret.json',
      'tether://app/assets/..%2f..%2f..%2fpackage.json',
      'tether://app/..%5c..%5csecret.json',
      'tether://app/a%00.html',
      'tether://app/%E0%A4%A',
    ]) {
      // URL parsing already clamps plain `..` at the root; what is left must stay inside.
      const asset = resolveAppAsset(url, dir);
      expect(asset === null || asset.path.startsWith(`${dir}/`), `${url} → ${asset?.path}`).toBe(true);
    }
    // An encoded slash survives URL parsing; decoded, it would climb out, so it is refused.
    expect(resolveAppAsset('tether://app/assets/..%2f..%2f..%2fpackage.json', dir)).toBeNull();
    expect(resolveAppAsset('tether://app/a%00.html', dir)).toBeNull();
  });

  it('refuses other hosts, other schemes and unknown file types', () => {
    expect(resolveAppAsset('tether://other/index.html', dir)).toBeNull();
    expect(resolveAppAsset('file:///opt/Tether/resources/app.asar/dist/renderer/index.html', dir)).toBeNull();
    expect(resolveAppAsset('tether://app/run.exe', dir)).toBeNull();
    expect(resolveAppAsset('nonsense', dir)).toBeNull();
  });

  it('does not let a sibling folder with the same prefix through', () => {
    expect(resolveAppAsset('tether://app/..%2frenderer-evil/index.html', dir)).toBeNull();
  });
});
