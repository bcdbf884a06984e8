import { CATEGORIES, TOOL_NAMES, TOOLS, type ToolName, type WorkspaceView } from '@tether/shared';

const CATEGORY_TEXT = { read: 'Read', write: 'Write', shell: 'Shell' } as const;

/**
 * Each tool as a person knows it: a name and one line on what it lets an agent do. (The
 * agent-facing descriptions stay in shared/src/tools.ts; these are for the person deciding.)
 */
export const TOOL_TEXT: Record<ToolName, { name: string; description: string }> = {
  read_file: { name: 'Read files', description: 'Open a file and read its text (or its bytes).' },
  list_dir: { name: 'List folders', description: 'See which files and folders there are, with sizes and dates.' },
  glob: { name: 'Find files by name', description: 'Find files whose names match a pattern, like *.md.' },
  search: { name: 'Search inside files', description: 'Look for words or patterns in the files’ text.' },
  stat: { name: 'File details', description: 'Check whether a file exists, its size and when it changed.' },
  write_file: { name: 'Write files', description: 'Create a file or replace one’s whole content.' },
  edit_file: { name: 'Edit files', description: 'Change parts of a file’s text.' },
  move: { name: 'Move and rename', description: 'Move or rename files and folders.' },
  delete: { name: 'Delete', description: 'Delete files (and folders, when asked to).' },
  mkdir: { name: 'Create folders', description: 'Make new folders.' },
  run_command: { name: 'Run commands', description: 'Run one command in a terminal and get its output.' },
  shell_start: { name: 'Start a terminal', description: 'Open a terminal that keeps running (a dev server, a REPL).' },
  shell_write: { name: 'Type in a terminal', description: 'Type into a terminal it started.' },
  shell_read: { name: 'Read a terminal', description: 'Read what a terminal printed.' },
  shell_kill: { name: 'Stop a terminal', description: 'Stop a terminal it started.' },
  shell_list: { name: 'List terminals', description: 'See which terminals are open.' },
};

/** A tool's name for people, with its own name after it (the one the activity log and agents use). */
export function toolLabel(tool: ToolName): string {
  return `${TOOL_TEXT[tool].name} (${tool})`;
}

/**
 * One switch per tool of the catalog, grouped by category; a switched-off tool fails with
 * `tool_disabled`. A category the policy denies greys its tools out: no switch lets them through.
 */
export function ToolSwitches({
  workspace: w,
  onChange,
}: {
  workspace: WorkspaceView;
  onChange: (disabled: ToolName[]) => void;
}) {
  const off = new Set(w.disabledTools);
  const onCount = TOOL_NAMES.length - off.size;
  return (
    <details className="tools">
      <summary>
        Tools{' '}
        <span className="muted small">
          ({onCount} of {TOOL_NAMES.length} on)
        </span>
      </summary>
      <div className="tool-groups">
        {CATEGORIES.map((c) => {
          const denied = w.policy[c] === 'deny';
          return (
            <fieldset key={c} className={`tool-group${denied ? ' denied' : ''}`} disabled={denied}>
              <legend>
                {CATEGORY_TEXT[c]}
                {denied && <span className="muted small"> · denied by the rules above</span>}
              </legend>
              {TOOL_NAMES.filter((t) => TOOLS[t].category === c).map((t) => (
                <label key={t} className="switch tool-switch">
                  <input
                    type="checkbox"
                    role="switch"
                    aria-label={toolLabel(t)}
                    aria-describedby={`tool-${w.id}-${t}`}
                    checked={!off.has(t)}
                    onChange={(e) =>
                      onChange(e.target.checked ? w.disabledTools.filter((x) => x !== t) : [...w.disabledTools, t])
                    }
                  />
                  <span className="tool-text">
                    <span>
                      {TOOL_TEXT[t].name} <span className="mono small muted">{t}</span>
                    </span>
                    <span id={`tool-${w.id}-${t}`} className="small muted">
                      {TOOL_TEXT[t].description}
                    </span>
                  </span>
                </label>
              ))}
            </fieldset>
          );
        })}
      </div>
    </details>
  );
}
