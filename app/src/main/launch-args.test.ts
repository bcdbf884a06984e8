import { describe, expect, it } from 'vitest';
import { parseLaunchArgs, secondLaunchQuestion, workspacesToAdd } from './launch-args.js';

describe('parseLaunchArgs', () => {
  it('reads our flags between the executable, the app path and Chromium switches', () => {
    const args = parseLaunchArgs(
      [
        '/usr/bin/electron',
        '/src/app',
        '--no-sandbox',
        '--hidden',
        '--workspace',
        'proj',
        '--workspace=/abs/other',
        '--relay',
        'wss://r.example',
        '--token=tdt_x',
        '--config-dir',
        'cfg',
      ],
      '/home/me',
    );
    expect(args).toEqual({
      hidden: true,
      workspaces: ['/home/me/proj', '/abs/other'],
      relayUrl: 'wss://r.example',
      token: 'tdt_x',
      configDir: '/home/me/cfg',
    });
  });

  it('ignores a flag whose value is missing or is another flag', () => {
    expect(parseLaunchArgs(['tether', '--workspace', '--hidden', '--relay'], '/')).toEqual({
      hidden: true,
      workspaces: [],
    });
    expect(parseLaunchArgs(['tether', '--workspace='], '/')).toEqual({ hidden: false, workspaces: [] });
  });

  it('reads --token-fd (3 or more) and --insecure-relay', () => {
    expect(parseLaunchArgs(['/e', '--token-fd', '3', '--insecure-relay'], '/')).toMatchObject({
      tokenFd: 3,
      insecureRelay: true,
    });
    expect(parseLaunchArgs(['/e', '--token-fd', '0'], '/').tokenFd).toBeUndefined();
    expect(parseLaunchArgs(['/e'], '/').insecureRelay).toBeUndefined();
  });

  it('starts visible by default', () => {
    expect(parseLaunchArgs(['/opt/Tether/tether'], '/')).toEqual({ hidden: false, workspaces: [] });
  });
});

describe('secondLaunchQuestion', () => {
  it('names every folder a second launch wants to add', () => {
    const q = secondLaunchQuestion(['/home/me', '/srv/data']);
    expect(q.message).toBe('Add these 2 folders as workspaces?');
    expect(q.detail).toContain('\n\n/home/me\n/srv/data');
    expect(secondLaunchQuestion(['/a']).message).toBe('Add this folder as a workspace?');
  });
});

describe('workspacesToAdd', () => {
  it('skips folders that are already workspaces and duplicates', () => {
    expect(workspacesToAdd(['/a', '/b/', '/b', '/c/../a'], ['/a'])).toEqual(['/b']);
  });
});
