import { TetherError } from '@tether/shared';

/**
 * Variables of the person's own environment a command may see. Everything else (tokens,
 * cloud credentials, the app's own settings, ELECTRON_*, NODE_OPTIONS, …) stays behind: a
 * command runs on behalf of a remote agent and must not read the secrets the person's
 * login session happens to carry. Compared case-insensitively (Windows names are).
 */
const ALLOWED_NAMES = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TMPDIR',
  'TZ',
  'COLORTERM',
  // Windows: without these many programs (and cmd.exe itself) misbehave.
  'SYSTEMROOT',
  'SYSTEMDRIVE',
  'WINDIR',
  'COMSPEC',
  'PATHEXT',
  'TEMP',
  'TMP',
  'USERPROFILE',
  'USERNAME',
  'HOMEDRIVE',
  'HOMEPATH',
  'APPDATA',
  'LOCALAPPDATA',
  'PROGRAMDATA',
  'PROGRAMFILES',
  'PROGRAMFILES(X86)',
  'COMMONPROGRAMFILES',
  'NUMBER_OF_PROCESSORS',
  'PROCESSOR_ARCHITECTURE',
  'OS',
]);

/** Allowed by prefix: locale settings. */
const ALLOWED_PREFIXES = ['LC_'];

/** Never passed through from the person's environment, even if a later allow-list edit would let it. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|COOKIE|SESSION/i;

/**
 * Names a caller may not set through `env`. The person confirms a command by reading its
 * text and cwd; these variables would run code the text does not show (a preloaded library,
 * a shell startup file, Node/Python/Perl/Ruby start-up hooks, a different `PATH` making `ls`
 * mean something else). A caller who needs one can write it into the command itself, where
 * the person sees it.
 */
const FORBIDDEN_EXACT = new Set([
  'PATH',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PROMPT_COMMAND',
  'PS4',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'ZDOTDIR',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_EXEC_PATH',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_SYSTEM',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'GIT_PAGER',
  'GIT_EDITOR',
  'MANPAGER',
  'LESSOPEN',
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'XDG_CONFIG_HOME',
  'SHELL',
  'HOME',
  'COMSPEC',
  'PATHEXT',
  'SYSTEMROOT',
]);
const FORBIDDEN_PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG_', 'TETHER_', 'ELECTRON_', 'NPM_CONFIG_'];

/** True when the person's variable `name` may be passed to a command. */
export function isPassedThrough(name: string): boolean {
  const upper = name.toUpperCase();
  if (SECRET_NAME.test(upper)) return false;
  return ALLOWED_NAMES.has(upper) || ALLOWED_PREFIXES.some((p) => upper.startsWith(p));
}

/** True when a caller may set `name` through a tool's `env` argument. */
export function isCallerSettable(name: string): boolean {
  const upper = name.toUpperCase();
  if (FORBIDDEN_EXACT.has(upper)) return false;
  return !FORBIDDEN_PREFIXES.some((p) => upper.startsWith(p));
}

/**
 * The environment a command runs with: the allow-listed part of `base` (the person's
 * environment), `TERM`, then the caller's `extra` variables. Throws `invalid_args` naming
 * every variable the caller may not set, rather than dropping them silently.
 */
export function buildCommandEnv(
  base: NodeJS.ProcessEnv,
  extra: Record<string, string> | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && isPassedThrough(name)) env[name] = value;
  }
  env.TERM = 'xterm-256color';
  if (extra) {
    const refused = Object.keys(extra).filter((name) => !isCallerSettable(name));
    if (refused.length > 0) {
      throw new TetherError(
        'invalid_args',
        `env may not set ${refused.join(', ')}: these change what a command runs without showing it in the command text; put them in the command instead`,
        { fields: refused.map((name) => ({ path: `env.${name}`, message: 'may not be set' })) },
      );
    }
    Object.assign(env, extra);
  }
  return env;
}
