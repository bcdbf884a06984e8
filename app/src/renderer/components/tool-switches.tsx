import { CATEGORIES, TOOL_NAMES, TOOLS, type ToolName, type WorkspaceView } from '@tether/shared';

const CATEGORY_TEXT = { read: 'Read', write: 'Write', shell: 'Shell' } as const;

/** One switch per tool of the catalog, grouped by category; a switched-off tool fails with `tool_disabled`. */
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
        {CATEGORIES.map((c) => (
          <fieldset key={c} className="tool-group">
            <legend>{CATEGORY_TEXT[c]}</legend>
            {TOOL_NAMES.filter((t) => TOOLS[t].category === c).map((t) => (
              <label key={t} className="switch" title={TOOLS[t].description}>
                <input
                  type="checkbox"
                  role="switch"
                  checked={!off.has(t)}
                  onChange={(e) =>
                    onChange(e.target.checked ? w.disabledTools.filter((x) => x !== t) : [...w.disabledTools, t])
                  }
                />
                <span className="mono">{t}</span>
              </label>
            ))}
          </fieldset>
        ))}
      </div>
    </details>
  );
}
