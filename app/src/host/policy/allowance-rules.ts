import {
  COMMAND_SCOPE_TOOLS,
  PATH_SCOPE_TOOLS,
  categoryOf,
  commandMatchesPrefix,
  pathInScope,
  prefixOffers,
  type Allowance,
  type AllowanceScope,
  type ToolName,
} from '@tether/shared';

/**
 * What a call would act on, as standing allowances are matched against it: the
 * workspace-relative paths a write touches (as the path guard resolved them), or the command a
 * shell call starts. `none`: nothing an allowance could cover (typing into a session, a login shell).
 */
export type CallTarget =
  | { kind: 'write'; paths: string[] }
  | {
      kind: 'command';
      /** The command argument itself. */
      command: string;
      /** The command as the person is shown it: the variables it sets in front. */
      shown: string;
      hasEnv: boolean;
      /** The workspace-relative cwd. */
      cwd: string;
    }
  | { kind: 'none' };

const isPathTool = (tool: ToolName): boolean => (PATH_SCOPE_TOOLS as readonly string[]).includes(tool);
const isCommandTool = (tool: ToolName): boolean => (COMMAND_SCOPE_TOOLS as readonly string[]).includes(tool);

/** Whether one allowance covers a call. */
export function allowanceCovers(scope: AllowanceScope, tool: ToolName, target: CallTarget): boolean {
  switch (scope.kind) {
    case 'category':
      return categoryOf(tool) === scope.category && target.kind === 'write';
    case 'path':
      return (
        isPathTool(tool) &&
        target.kind === 'write' &&
        target.paths.length > 0 &&
        target.paths.every((p) => pathInScope(p, scope))
      );
    case 'command':
      return (
        isCommandTool(tool) && target.kind === 'command' && target.shown === scope.command && target.cwd === scope.cwd
      );
    case 'prefix':
      return (
        isCommandTool(tool) &&
        target.kind === 'command' &&
        commandMatchesPrefix(target.command, scope.prefix, target.hasEnv)
      );
  }
}

/** The live allowance that lets this call through without asking, if any. */
export function coveringAllowance(
  allowances: readonly Allowance[],
  tool: ToolName,
  target: CallTarget,
  now: number,
): Allowance | undefined {
  return allowances.find((a) => (a.expiresAt === null || a.expiresAt > now) && allowanceCovers(a.scope, tool, target));
}

/**
 * The allowances the person may choose for this call, the suggested one first; every one
 * covers the call. A write: its folder, the file, or every change to files. A command: exactly
 * it, or its first words. Anything else: none (it asks every time).
 */
export function offersFor(tool: ToolName, target: CallTarget): AllowanceScope[] {
  const offers: AllowanceScope[] = [];
  if (target.kind === 'write' && categoryOf(tool) === 'write') {
    const [only] = target.paths;
    if (isPathTool(tool) && target.paths.length === 1 && only !== undefined) {
      const slash = only.lastIndexOf('/');
      offers.push({ kind: 'path', path: slash === -1 ? '.' : only.slice(0, slash), folder: true });
      if (only !== '.') offers.push({ kind: 'path', path: only, folder: false });
    }
    offers.push({ kind: 'category', category: 'write' });
  } else if (target.kind === 'command' && isCommandTool(tool)) {
    offers.push({ kind: 'command', command: target.shown, cwd: target.cwd });
    for (const prefix of prefixOffers(target.command, target.hasEnv)) offers.push({ kind: 'prefix', prefix });
  }
  return offers.filter((o) => allowanceCovers(o, tool, target));
}
