import { TetherError } from '@tether/shared';
import { describe, expect, it } from 'vitest';
import { buildCommandEnv, commandWithEnv, isCallerSettable } from './command-env.js';

describe('buildCommandEnv', () => {
  const base = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/p',
    USER: 'p',
    LANG: 'en_US.UTF-8',
    LC_ALL: 'C.UTF-8',
    TETHER_TOKEN: 'tdt_x',
    GITHUB_TOKEN: 'ghp_x',
    AWS_SECRET_ACCESS_KEY: 'k',
    AWS_REGION: 'eu-west-1',
    NPM_TOKEN: 'n',
    ELECTRON_RUN_AS_NODE: '1',
    NODE_OPTIONS: '--require /x.js',
    SSH_AUTH_SOCK: '/tmp/agent',
    OPENAI_API_KEY: 'sk',
    LD_PRELOAD: '/x.so',
  };

  it('keeps only the allow-listed part of the person\u2019s environment, plus TERM', () => {
    expect(buildCommandEnv(base, undefined)).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/home/p',
      USER: 'p',
      LANG: 'en_US.UTF-8',
      LC_ALL: 'C.UTF-8',
      TERM: 'xterm-256color',
    });
  });

  it('adds the caller\u2019s variables', () => {
    expect(buildCommandEnv(base, { CI: '1', DEBUG: 'x' })).toMatchObject({
      CI: '1',
      DEBUG: 'x',
      PATH: '/usr/bin:/bin',
    });
  });

  it.each([
    'PATH',
    'LD_PRELOAD',
    'DYLD_INSERT_LIBRARIES',
    'BASH_ENV',
    'NODE_OPTIONS',
    'GIT_SSH_COMMAND',
    'TETHER_TOKEN',
    'ld_library_path',
    'HOME',
  ])('refuses a caller setting %s with invalid_args', (name) => {
    let err: unknown;
    try {
      buildCommandEnv(base, { [name]: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TetherError);
    expect((err as TetherError).code).toBe('invalid_args');
    expect((err as TetherError).message).toContain(name);
  });

  it.each(['PS1', 'HISTFILE', 'GIT_DIR', 'PYTHONWARNINGS', 'https_proxy', 'GCONV_PATH', 'OPENSSL_CONF', 'LESS'])(
    'refuses %s, which runs or loads code the command text does not show',
    (name) => {
      expect(isCallerSettable(name)).toBe(false);
    },
  );

  it.each(['NODE_ENV', 'GIT_AUTHOR_NAME', 'PYTHONUNBUFFERED', 'NO_PROXY', 'CI', 'DEBUG'])(
    'lets a caller set %s',
    (name) => {
      expect(isCallerSettable(name)).toBe(true);
    },
  );
});

describe('commandWithEnv', () => {
  it('writes every variable in front of the command as the shell would read it', () => {
    expect(commandWithEnv('npm test', undefined)).toBe('npm test');
    expect(commandWithEnv('npm test', {})).toBe('npm test');
    expect(commandWithEnv('npm test', { CI: '1', MSG: "it's $(x)" })).toBe(`CI=1 MSG='it'\\''s $(x)' npm test`);
  });

  it('keeps line breaks in a value from pushing the command out of sight', () => {
    const shown = commandWithEnv('make', { A: 'x\ny\r' });
    expect(shown).not.toMatch(/[\r\n]/);
    expect(shown).toBe(`A='x'$'\\n''y'$'\\r''' make`);
  });
});
