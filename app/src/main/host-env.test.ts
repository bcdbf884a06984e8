import { describe, expect, it } from 'vitest';
import { hostEnvironment } from './host-env.js';

describe('hostEnvironment', () => {
  it('passes what Node, the keychain and shells need, and nothing else', () => {
    const env = hostEnvironment({
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
      XDG_RUNTIME_DIR: '/run/user/1000',
      Path: 'C:\\Windows',
      TETHER_TOKEN: 'tdt_secret',
      NODE_OPTIONS: '--require /tmp/evil.js',
      ELECTRON_RUN_AS_NODE: '1',
      AWS_SECRET_ACCESS_KEY: 'x',
      GITHUB_TOKEN: 'ghp_x',
      SSH_AUTH_SOCK: '/tmp/agent',
      LD_PRELOAD: '/tmp/x.so',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
      XDG_RUNTIME_DIR: '/run/user/1000',
      Path: 'C:\\Windows',
    });
  });
});
