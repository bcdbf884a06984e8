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
 * a shell startup file or prompt, Node/Python/Perl/Ruby/Lua start-up hooks, an editor, pager,
 * browser or proxy command a tool starts, a conversion or TLS module loaded from a path, a
 * compiler wrapper, a different `PATH` making `ls` mean something else) or send traffic or
 * secrets elsewhere (proxies, TLS key logs, disabled certificate checks). A caller who needs
 * one can write it into the command itself, where the person sees it. The confirmation shows
 * every variable set too (a list like this can never name every program's hooks).
 */
const FORBIDDEN_EXACT = new Set([
  'PATH',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PROMPT_COMMAND',
  'PS0',
  'PS1',
  'PS2',
  'PS3',
  'PS4',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'INPUTRC',
  'ZDOTDIR',
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'MANOPT',
  'BROWSER',
  'EXINIT',
  'VIMINIT',
  'GVIMINIT',
  'MYVIMRC',
  'TERMINFO',
  'TERMINFO_DIRS',
  'TERMCAP',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'SSH_AUTH_SOCK',
  'GNUPGHOME',
  'SSLKEYLOGFILE',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'CURL_HOME',
  'WGETRC',
  'MAKEFLAGS',
  'GNUMAKEFLAGS',
  'MFLAGS',
  'GOFLAGS',
  'RUSTC_WRAPPER',
  'RUSTC_WORKSPACE_WRAPPER',
  'PHPRC',
  'PHP_INI_SCAN_DIR',
  'CLASSPATH',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'MAVEN_OPTS',
  'GRADLE_OPTS',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'KUBECONFIG',
  'DOCKER_HOST',
  'DOCKER_CONFIG',
  'R_PROFILE',
  'R_PROFILE_USER',
  'R_ENVIRON',
  'R_ENVIRON_USER',
  'SHELL',
  'HOME',
  'COMSPEC',
  'PATHEXT',
  'SYSTEMROOT',
]);
const FORBIDDEN_PREFIXES = [
  'LD_',
  'DYLD_',
  'BASH_',
  'HIST', // HISTFILE would append the session's history to a file of the caller's choosing
  'GIT_', // GIT_EXTERNAL_DIFF, GIT_PROXY_COMMAND, GIT_SSH_COMMAND, GIT_DIR, GIT_CONFIG_*, …
  'NODE_', // NODE_OPTIONS, NODE_PATH, NODE_TLS_REJECT_UNAUTHORIZED, NODE_EXTRA_CA_CERTS, …
  'PYTHON', // PYTHONSTARTUP, PYTHONPATH, PYTHONWARNINGS (imports a module), PYTHONBREAKPOINT, …
  'PERL',
  'RUBY',
  'LUA_',
  'LESS', // LESSOPEN, LESSCLOSE, LESSKEY, and LESS itself (`+!cmd`)
  'XDG_', // where every program reads its configuration from
  'OPENSSL_', // OPENSSL_CONF can load an engine, a shared library
  'CARGO_',
  'DOTNET_',
  'COMPLUS_',
  'CORECLR_',
  'COR_',
  'GTK_',
  'QT_',
  'GIO_',
  'PIP_',
  'NPM_CONFIG_',
  'YARN_',
  'TETHER_',
  'ELECTRON_',
];
/** Harmless names under a forbidden prefix that commands commonly need. */
const SETTABLE_EXCEPTIONS = new Set([
  'NODE_ENV',
  'PYTHONUNBUFFERED',
  'PYTHONDONTWRITEBYTECODE',
  'PYTHONIOENCODING',
  'PYTHONHASHSEED',
  'PYTHONUTF8',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_AUTHOR_DATE',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_COMMITTER_DATE',
  'GIT_TERMINAL_PROMPT',
]);

/** True when the person's variable `name` may be passed to a command. */
export function isPassedThrough(name: string): boolean {
  const upper = name.toUpperCase();
  if (SECRET_NAME.test(upper)) return false;
  return ALLOWED_NAMES.has(upper) || ALLOWED_PREFIXES.some((p) => upper.startsWith(p));
}

/** True when a caller may set `name` through a tool's `env` argument. */
export function isCallerSettable(name: string): boolean {
  const upper = name.toUpperCase();
  if (SETTABLE_EXCEPTIONS.has(upper)) return true;
  if (FORBIDDEN_EXACT.has(upper)) return false;
  // http_proxy, HTTPS_PROXY, ALL_PROXY, …: every request a tool makes would go through the caller's server.
  if (upper.endsWith('_PROXY') && upper !== 'NO_PROXY') return false;
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
    checkCallerEnv(extra);
    Object.assign(env, extra);
  }
  return env;
}

/**
 * Throws `invalid_args` naming every variable of a caller's `env` that it may not set. The call
 * runner checks this before the policy too, so the person is never asked about a call that
 * would be refused anyway.
 */
export function checkCallerEnv(extra: Record<string, string> | undefined): void {
  if (!extra) return;
  const refused = Object.keys(extra).filter((name) => !isCallerSettable(name));
  if (refused.length === 0) return;
  throw new TetherError(
    'invalid_args',
    `env may not set ${refused.join(', ')}: these change what a command runs without showing it in the command text; put them in the command instead`,
    { fields: refused.map((name) => ({ path: `env.${name}`, message: 'may not be set' })) },
  );
}

/** A value as the shell would read it back: bare when plain, else single-quoted (line breaks as $'\n'). */
function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  const quoted = `'${value.replace(/'/g, `'\\''`)}'`;
  // A line break inside quotes would push the command itself out of sight in the question.
  // (A function, not a replacement string: `$'` there means "the text after the match".)
  return quoted.replace(/[\r\n]/g, (c) => (c === '\n' ? `'$'\\n''` : `'$'\\r''`));
}

/**
 * The command as the person is asked about it: the caller's `env` written in front as shell
 * assignments (`NAME=value … command`), which is what running it with that environment means.
 * The question must show every variable set: a variable can change what a command does (a
 * list of forbidden names can never name every program's hooks).
 */
export function commandWithEnv(command: string, env: Record<string, string> | undefined): string {
  const names = env ? Object.keys(env) : [];
  if (names.length === 0) return command;
  return `${names.map((name) => `${name}=${shellQuote(env?.[name] ?? '')}`).join(' ')} ${command}`;
}
