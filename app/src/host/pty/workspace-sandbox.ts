import type { SandboxView } from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import type { Confinement } from './pty-launcher.js';
import type { SandboxSpec } from './sandbox-rules.js';

/** A workspace's confinement settings as the launcher takes them; the other workspaces' roots are hidden. */
export function sandboxSpecOf(config: WorkspaceConfig, all: readonly WorkspaceConfig[]): SandboxSpec {
  return {
    mode: config.sandbox,
    network:
      config.network === 'domains' ? { mode: 'domains', domains: [...config.allowDomains] } : { mode: config.network },
    hidePaths: [...config.hidePaths],
    otherRoots: all.filter((w) => w.id !== config.id).map((w) => w.root),
  };
}

/** What the workspace card shows: the setting, whether it holds here, and what is hidden. */
export function sandboxViewOf(config: WorkspaceConfig, c: Confinement): SandboxView {
  const view: SandboxView = {
    setting: config.sandbox,
    sandboxed: c.sandboxed,
    engine: c.engine,
    network: c.network.mode,
    allowDomains: c.network.mode === 'domains' ? [...c.network.domains] : [],
    hidden: [...c.hidden],
    hidePaths: [...config.hidePaths],
  };
  if (c.reason !== undefined) view.reason = c.reason;
  if (c.networkNote !== undefined) view.networkNote = c.networkNote;
  return view;
}
