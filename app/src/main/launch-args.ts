import { isAbsolute, resolve } from 'node:path';
import { HIDDEN_ARG } from './login-item.js';

/**
 * The desktop app's own command-line arguments (DESIGN.md, Command lines), read from
 * Electron's argv, which also carries the executable, the app path in development and
 * Chromium switches. Used at start and for a second instance's argv (single-instance lock).
 */
export interface LaunchArgs {
  /** Start in the tray without showing the window (launch at login). */
  hidden: boolean;
  /** `--workspace PATH` (repeatable), resolved against the launching process's directory. */
  workspaces: string[];
  /** `--relay URL`. */
  relayUrl?: string;
  /** `--token T`: handed to the host in its start message, never its argv or environment. */
  token?: string;
  /** `--config-dir DIR`: where the host keeps its config (default: Electron's userData). */
  configDir?: string;
  /** `--token-fd N`: read the token from this inherited pipe (what `npm start` does). */
  tokenFd?: number;
  /** `--insecure-relay`: allow an unencrypted relay that is not on this machine. */
  insecureRelay?: boolean;
}

const VALUE_FLAGS = new Set(['--workspace', '--relay', '--token', '--token-fd', '--config-dir']);

/** Reads our flags out of an Electron argv; unknown arguments (Chromium's) are ignored. */
export function parseLaunchArgs(argv: readonly string[], cwd: string): LaunchArgs {
  const out: LaunchArgs = { hidden: false, workspaces: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === HIDDEN_ARG) {
      out.hidden = true;
      continue;
    }
    if (arg === '--insecure-relay') {
      out.insecureRelay = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(name)) continue;
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) continue;
      i++;
    }
    if (value === '') continue;
    switch (name) {
      case '--workspace':
        out.workspaces.push(isAbsolute(value) ? value : resolve(cwd, value));
        break;
      case '--relay':
        out.relayUrl = value;
        break;
      case '--token':
        out.token = value;
        break;
      case '--token-fd':
        if (/^\d+$/.test(value) && Number(value) >= 3) out.tokenFd = Number(value);
        break;
      case '--config-dir':
        out.configDir = isAbsolute(value) ? value : resolve(cwd, value);
        break;
    }
  }
  return out;
}

/** Folders from `--workspace` that are not workspaces yet (so a relaunch adds nothing twice). */
export function workspacesToAdd(requested: readonly string[], existingRoots: readonly string[]): string[] {
  const existing = new Set(existingRoots.map((root) => resolve(root)));
  const out: string[] = [];
  for (const root of requested.map((r) => resolve(r))) {
    if (!existing.has(root) && !out.includes(root)) out.push(root);
  }
  return out;
}

/**
 * The question put before a second launch's `--workspace` folders are added: any program the
 * person runs could start `tether --workspace ~` and hand an agent their home folder, so the
 * person confirms the exact folders first.
 */
export function secondLaunchQuestion(folders: readonly string[]): { message: string; detail: string } {
  const one = folders.length === 1;
  return {
    message: one ? 'Add this folder as a workspace?' : `Add these ${folders.length} folders as workspaces?`,
    detail: `Another launch of Tether asked to add ${one ? 'it' : 'them'}. Agents you connect could then use ${one ? 'it' : 'them'} under the default policy (read allowed; changes and commands ask you first):\n\n${folders.join('\n')}`,
  };
}
