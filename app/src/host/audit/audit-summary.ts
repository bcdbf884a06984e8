/** Longest argument summary in an audit entry: a path or a command line, not a document. */
export const AUDIT_SUMMARY_MAX_CHARS = 300;

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function cut(text: string, max = AUDIT_SUMMARY_MAX_CHARS): string {
  const oneLine = text.replace(/[\r\n\t]+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/**
 * A short human summary of a call's arguments for the audit log: the path(s), pattern,
 * command or session it touches. Never file contents, edit texts, input or environment values
 * (those may hold secrets). Works on unvalidated arguments too (an invalid call is audited).
 */
export function summarizeArgs(tool: string, args: unknown): string {
  const a = (args && typeof args === 'object' ? args : {}) as Record<string, unknown>;
  switch (tool) {
    case 'move':
      return cut(`${str(a.from) ?? '?'} → ${str(a.to) ?? '?'}`);
    case 'glob':
    case 'search': {
      const where = str(a.path);
      return cut(`${JSON.stringify(str(a.pattern) ?? '')}${where ? ` in ${where}` : ''}`);
    }
    case 'run_command':
    case 'shell_start': {
      const command = str(a.command) ?? (tool === 'shell_start' ? '(login shell)' : '');
      const cwd = str(a.cwd);
      return cut(`${command}${cwd ? ` (in ${cwd})` : ''}`);
    }
    case 'shell_write': {
      const input = str(a.input);
      return cut(`session ${str(a.sessionId) ?? '?'}${input !== undefined ? `, ${input.length} chars of input` : ''}`);
    }
    case 'shell_read':
    case 'shell_kill':
      return cut(`session ${str(a.sessionId) ?? '?'}`);
    case 'shell_list':
      return '';
    case 'edit_file': {
      const edits = Array.isArray(a.edits) ? a.edits.length : 0;
      return cut(
        `${str(a.path) ?? '?'} (${edits} edit${edits === 1 ? '' : 's'}${a.dryRun === true ? ', dry run' : ''})`,
      );
    }
    case 'write_file': {
      const content = str(a.content);
      return cut(`${str(a.path) ?? '?'}${content !== undefined ? ` (${content.length} chars)` : ''}`);
    }
    default:
      return cut(str(a.path) ?? (tool === 'list_dir' ? '.' : ''));
  }
}
