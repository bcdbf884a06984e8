import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_POLICY,
  MAX_ALLOWANCES_PER_WORKSPACE,
  MAX_ALLOW_MINUTES,
  MAX_DESCRIPTION_CHARS,
  MAX_NAME_CHARS,
  MAX_SANDBOX_DOMAINS,
  MAX_SANDBOX_HIDE_PATHS,
  MAX_WORKSPACES_PER_DEVICE,
  TetherError,
  allowanceSchema,
  domainSchema,
  formatIssues,
  idSchema,
  policySchema,
  toolNameSchema,
  type Allowance,
  type Policy,
  type ToolName,
} from '@tether/shared';

/** File name of the config inside the config directory. */
export const CONFIG_FILE = 'config.json';

/** Relay a fresh install points at: the local relay `npm start` runs. */
export const DEFAULT_RELAY_URL = 'ws://127.0.0.1:8787';

/** Most watch-ignore globs per workspace: enough for real projects, bounded for a hand-edited file. */
export const MAX_WATCH_IGNORE_GLOBS = 100;

/** One workspace folder the person added, as stored on disk. */
export interface WorkspaceConfig {
  id: string;
  name: string;
  description: string;
  /** The folder's real path, pinned when it was added. */
  root: string;
  policy: Policy;
  disabledTools: ToolName[];
  paused: boolean;
  /** Extra globs (relative to the root) the file watcher ignores, besides `.git` and `node_modules`. */
  watchIgnore: string[];
  /** `os`: commands run in the OS sandbox (the default); `off`: the person opted out. */
  sandbox: 'os' | 'off';
  /** A sandboxed command's network: filtered internet (default), none, or only `allowDomains`. */
  network: 'internet' | 'none' | 'domains';
  allowDomains: string[];
  /** Paths (absolute or relative to home) hidden from commands besides the standard secret places. */
  hidePaths: string[];
  /**
   * Standing allowances ("don't ask again for …"). Timed ones live only while the host runs:
   * they are dropped when the config is loaded; only "until I revoke" ones survive a restart.
   */
  allowances: Allowance[];
}

/** The desktop's whole persisted configuration. */
export interface DesktopConfig {
  version: 1;
  relayUrl: string;
  deviceId: string;
  deviceName: string;
  connectOnStart: boolean;
  launchAtLogin: boolean;
  keepAwake: boolean;
  /** Extra CA certificate (PEM file) trusted for the relay's TLS. */
  caFile?: string;
  /** The duration last chosen for a standing allowance (the dialog offers it first next time). */
  lastAllowDuration?: number | 'lasting';
  workspaces: WorkspaceConfig[];
}

const workspaceConfigSchema = z.strictObject({
  id: idSchema,
  name: z.string().min(1).max(MAX_NAME_CHARS),
  description: z.string().max(MAX_DESCRIPTION_CHARS).default(''),
  root: z.string().min(1).max(4096),
  policy: policySchema.default({ ...DEFAULT_POLICY }),
  disabledTools: z.array(toolNameSchema).default([]),
  paused: z.boolean().default(false),
  watchIgnore: z.array(z.string().min(1).max(1000)).max(MAX_WATCH_IGNORE_GLOBS).default([]),
  // Versions before the default sandbox wrote `none` for every workspace (nobody could choose it)
  // and `bwrap` for a hand-edited one: both mean the OS sandbox now.
  sandbox: z
    .enum(['os', 'off', 'none', 'bwrap'])
    .default('os')
    .transform((v) => (v === 'off' ? 'off' : 'os')),
  network: z.enum(['internet', 'none', 'domains']).default('internet'),
  allowDomains: z.array(domainSchema).max(MAX_SANDBOX_DOMAINS).default([]),
  hidePaths: z.array(z.string().min(1).max(4096)).max(MAX_SANDBOX_HIDE_PATHS).default([]),
  allowances: z.array(allowanceSchema).max(MAX_ALLOWANCES_PER_WORKSPACE).default([]),
});

/**
 * The config file's schema. Strict on purpose: a key this version does not know (perhaps a
 * rule from a newer version) makes the file invalid rather than silently ignored (fail closed).
 */
export const desktopConfigSchema = z
  .strictObject({
    version: z.literal(1),
    relayUrl: z.string().max(2000),
    deviceId: idSchema,
    deviceName: z.string().min(1).max(MAX_NAME_CHARS),
    connectOnStart: z.boolean().default(true),
    launchAtLogin: z.boolean().default(false),
    keepAwake: z.boolean().default(false),
    caFile: z.string().min(1).max(4096).optional(),
    lastAllowDuration: z.union([z.number().int().min(1).max(MAX_ALLOW_MINUTES), z.literal('lasting')]).optional(),
    workspaces: z.array(workspaceConfigSchema).max(MAX_WORKSPACES_PER_DEVICE).default([]),
  })
  .superRefine((config, ctx) => {
    const ids = new Set<string>();
    const roots = new Set<string>();
    config.workspaces.forEach((w, i) => {
      if (ids.has(w.id))
        ctx.addIssue({ code: 'custom', path: ['workspaces', i, 'id'], message: `duplicate workspace id ${w.id}` });
      if (roots.has(w.root))
        ctx.addIssue({
          code: 'custom',
          path: ['workspaces', i, 'root'],
          message: `duplicate workspace root ${w.root}`,
        });
      ids.add(w.id);
      roots.add(w.root);
    });
  });

/** The per-user directory Tether keeps its config, token file and audit log in. */
export function defaultConfigDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Tether');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Tether');
  const xdg = env.XDG_CONFIG_HOME;
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.config'), 'tether');
}

/** A new random id with a readable prefix, e.g. `dev_3k9…`; fits the protocol's idSchema. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12)
    .toString('base64url')
    .replace(/[^A-Za-z0-9]/g, 'x')}`;
}

function freshConfig(deviceId?: string): DesktopConfig {
  return {
    version: 1,
    relayUrl: DEFAULT_RELAY_URL,
    deviceId: deviceId ?? newId('dev'),
    deviceName: (hostname() || 'tether-device').slice(0, MAX_NAME_CHARS),
    connectOnStart: true,
    launchAtLogin: false,
    keepAwake: false,
    workspaces: [],
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Writes a file atomically: a temp file in the same directory (same file system), fsynced,
 * then renamed over the target, so a crash leaves either the old or the new file, never half.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable (POSIX); Windows cannot open a folder this way, nor needs to.
  if (process.platform !== 'win32') {
    const dir = await open(dirname(path), 'r').catch(() => null);
    await dir?.sync().catch(() => undefined);
    await dir?.close();
  }
}

/**
 * The desktop's config file: loaded and validated once, changed only through `update`, which
 * validates the result and writes it atomically, one change at a time. A corrupt or unreadable
 * file is moved aside and the app starts with no workspaces (fail closed): never with rules
 * looser than the person set.
 */
export class ConfigStore {
  /** Problems found while loading, in words for the person (shown in the UI and the log). */
  readonly warnings: string[] = [];
  readonly path: string;
  private current: DesktopConfig;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    initial: DesktopConfig,
  ) {
    this.path = join(dir, CONFIG_FILE);
    this.current = deepFreeze(initial);
  }

  /** Loads (or creates) the config in `dir`. */
  static async open(dir: string): Promise<ConfigStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, CONFIG_FILE);
    let text: string | null = null;
    let problem: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') problem = `could not be read (${code ?? String(err)})`;
    }

    if (text === null && problem === null) {
      const store = new ConfigStore(dir, freshConfig());
      await store.write(store.current);
      return store;
    }

    let salvagedDeviceId: string | undefined;
    if (text !== null) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        problem = `is not valid JSON (${(err as Error).message})`;
      }
      if (problem === null) {
        const parsed = desktopConfigSchema.safeParse(json);
        if (parsed.success) {
          const config = parsed.data as DesktopConfig;
          // A timed allowance was for this run of the host only: the person chose "for N minutes".
          const timed = config.workspaces.some((w) => w.allowances.some((a) => a.expiresAt !== null));
          for (const w of config.workspaces) w.allowances = w.allowances.filter((a) => a.expiresAt === null);
          const store = new ConfigStore(dir, config);
          if (timed) await store.write(store.current);
          return store;
        }
        problem = `is not a valid config (${formatIssues(parsed.error)})`;
      }
      // Keep the device's identity (not its rules): the relay then keeps the same runtimes' device.
      const id = idSchema.safeParse((json as { deviceId?: unknown } | undefined)?.deviceId);
      if (id.success) salvagedDeviceId = id.data;
    }

    const store = new ConfigStore(dir, freshConfig(salvagedDeviceId));
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, aside);
      store.warnings.push(
        `The config file ${path} ${problem}. It was moved to ${aside}; Tether started with no workspaces. Add them again or repair the file.`,
      );
    } catch (err) {
      store.warnings.push(
        `The config file ${path} ${problem} and could not be moved aside (${(err as NodeJS.ErrnoException).code ?? String(err)}); Tether started with no workspaces.`,
      );
      return store;
    }
    await store.write(store.current);
    return store;
  }

  /** The current config (deeply frozen: change it through `update`). */
  get(): DesktopConfig {
    return this.current;
  }

  /**
   * Applies `mutate` to a copy, validates the result and writes it atomically. Changes run
   * one at a time in call order. Rejects with `invalid_request` (keeping the old config) when
   * the result is invalid.
   */
  update(mutate: (draft: DesktopConfig) => void): Promise<DesktopConfig> {
    const run = async (): Promise<DesktopConfig> => {
      const draft = structuredClone(this.current) as DesktopConfig;
      mutate(draft);
      const parsed = desktopConfigSchema.safeParse(draft);
      if (!parsed.success) throw new TetherError('invalid_request', `Invalid settings: ${formatIssues(parsed.error)}`);
      const next = parsed.data as DesktopConfig;
      await this.write(next);
      this.current = deepFreeze(next);
      return this.current;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async write(config: DesktopConfig): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(config, null, 2)}\n`);
  }
}
