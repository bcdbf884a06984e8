import { describe, expect, it } from 'vitest';
import {
  categoryOf,
  formatIssues,
  isToolName,
  MAX_WRITE_BYTES,
  TOOL_NAMES,
  TOOLS,
  toolInputJsonSchema,
  toolResultJsonSchema,
  type ToolName,
} from './index.js';

/** For each tool: arguments that must be accepted, and arguments that must be refused naming a field. */
const cases: Record<ToolName, { valid: unknown[]; invalid: Array<[unknown, string]> }> = {
  read_file: {
    valid: [{ path: 'a.txt' }, { path: 'a.txt', offset: 10, limit: 20, encoding: 'base64' }],
    invalid: [
      [{}, 'path'],
      [{ path: '' }, 'path'],
      [{ path: 'a', offset: -1 }, 'offset'],
      [{ path: 'a', limit: 0 }, 'limit'],
      [{ path: 'a', encoding: 'latin1' }, 'encoding'],
    ],
  },
  list_dir: {
    valid: [{}, { path: 'src', depth: 3, includeHidden: true, respectGitignore: false }],
    invalid: [
      [{ depth: 0 }, 'depth'],
      [{ depth: 1.5 }, 'depth'],
      [{ includeHidden: 'yes' }, 'includeHidden'],
    ],
  },
  glob: {
    valid: [{ pattern: '**/*.ts' }, { pattern: '*.md', path: 'docs' }],
    invalid: [
      [{}, 'pattern'],
      [{ pattern: '' }, 'pattern'],
    ],
  },
  search: {
    valid: [
      { pattern: 'TODO' },
      { pattern: 'a.c', regex: true, path: 'src', glob: '*.ts', caseSensitive: false, contextLines: 2, maxResults: 10 },
    ],
    invalid: [
      [{ pattern: 'x', contextLines: 99 }, 'contextLines'],
      [{ pattern: 'x', maxResults: 0 }, 'maxResults'],
      [{ regex: true }, 'pattern'],
    ],
  },
  stat: { valid: [{ path: '.' }], invalid: [[{ path: 3 }, 'path']] },
  write_file: {
    valid: [
      { path: 'a', content: '' },
      { path: 'a', content: 'aGk=', encoding: 'base64', createDirs: false },
    ],
    invalid: [
      [{ path: 'a' }, 'content'],
      [{ path: 'a', content: 'x'.repeat(Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 10) }, 'content'],
    ],
  },
  edit_file: {
    valid: [
      { path: 'a', edits: [{ oldText: 'x', newText: 'y' }] },
      { path: 'a', edits: [{ oldText: 'x', newText: '', replaceAll: true }], dryRun: true },
    ],
    invalid: [
      [{ path: 'a', edits: [] }, 'edits'],
      [{ path: 'a', edits: [{ oldText: '', newText: 'y' }] }, 'edits.0.oldText'],
      [{ path: 'a', edits: [{ oldText: 'x' }] }, 'edits.0.newText'],
    ],
  },
  move: {
    valid: [
      { from: 'a', to: 'b' },
      { from: 'a', to: 'b', overwrite: true },
    ],
    invalid: [[{ from: 'a' }, 'to']],
  },
  delete: {
    valid: [{ path: 'a' }, { path: 'a', recursive: true }],
    invalid: [[{ path: 'a', recursive: 1 }, 'recursive']],
  },
  mkdir: { valid: [{ path: 'a/b' }], invalid: [[{}, 'path']] },
  run_command: {
    valid: [{ command: 'ls' }, { command: 'npm test', cwd: 'pkg', timeoutMs: 5000, env: { CI: '1' } }],
    invalid: [
      [{ command: '' }, 'command'],
      [{ command: 'ls', timeoutMs: 0 }, 'timeoutMs'],
      [{ command: 'ls', env: { 'BAD-NAME': 'x' } }, 'env'],
    ],
  },
  shell_start: { valid: [{}, { command: 'python3', cwd: '.', cols: 80, rows: 24 }], invalid: [[{ cols: 2 }, 'cols']] },
  shell_write: {
    valid: [
      { sessionId: 's1', input: 'ls\n' },
      { sessionId: 's1', input: '', waitMs: 100 },
    ],
    invalid: [
      [{ input: 'x' }, 'sessionId'],
      [{ sessionId: 's', input: 'x', waitMs: -1 }, 'waitMs'],
    ],
  },
  shell_read: { valid: [{ sessionId: 's1' }], invalid: [[{}, 'sessionId']] },
  shell_kill: { valid: [{ sessionId: 's1' }], invalid: [[{ sessionId: '' }, 'sessionId']] },
  shell_list: { valid: [{}], invalid: [[{ extra: true }, 'extra']] },
};

describe('tool hints', () => {
  it('marks exactly the tools that change nothing read-only, and those that can lose data destructive', () => {
    const readOnly = TOOL_NAMES.filter((n) => TOOLS[n].hints.readOnly).sort();
    expect(readOnly).toEqual(['glob', 'list_dir', 'read_file', 'search', 'shell_list', 'stat']);
    const notDestructive = TOOL_NAMES.filter((n) => !TOOLS[n].hints.destructive).sort();
    expect(notDestructive).toEqual([...readOnly, 'mkdir', 'shell_read'].sort());
    expect(TOOLS.mkdir.hints.idempotent).toBe(true);
    expect(TOOLS.edit_file.hints.idempotent).toBe(false);
    expect(TOOLS.shell_read.hints.idempotent).toBe(false);
  });

  it('describes results with closed-world-tolerant schemas (a newer desktop may add a field)', () => {
    expect(toolResultJsonSchema('stat')).not.toHaveProperty('additionalProperties', false);
    expect(toolResultJsonSchema('stat')).toMatchObject({ required: expect.arrayContaining(['path', 'type']) });
  });
});

describe('TOOLS', () => {
  it('has exactly the catalog of DESIGN.md, with categories', () => {
    expect(TOOL_NAMES.sort()).toEqual(Object.keys(cases).sort());
    expect(categoryOf('read_file')).toBe('read');
    expect(categoryOf('edit_file')).toBe('write');
    expect(categoryOf('shell_write')).toBe('shell');
    expect(isToolName('rm_rf')).toBe(false);
    expect(isToolName('toString')).toBe(false);
  });

  for (const name of TOOL_NAMES) {
    describe(name, () => {
      it.each(cases[name].valid.map((v) => [JSON.stringify(v), v]))('accepts %s', (_label, args) => {
        const parsed = TOOLS[name].args.safeParse(args);
        expect(parsed.error?.issues).toBeUndefined();
      });
      it.each(cases[name].invalid.map(([v, field]) => [JSON.stringify(v).slice(0, 80), v, field]))(
        'rejects %s naming the field',
        (_label, args, field) => {
          const parsed = TOOLS[name].args.safeParse(args);
          expect(parsed.success).toBe(false);
          expect(formatIssues(parsed.error!)).toContain(field as string);
        },
      );
      it('refuses unknown arguments', () => {
        const valid = cases[name].valid[0] as Record<string, unknown>;
        expect(TOOLS[name].args.safeParse({ ...valid, unexpectedArg: 1 }).success).toBe(false);
      });
      it('has a description and a JSON schema for MCP', () => {
        expect(TOOLS[name].description.length).toBeGreaterThan(10);
        expect(toolInputJsonSchema(name)).toMatchObject({ type: 'object' });
        expect(TOOLS[name].title.length).toBeGreaterThan(3);
        // MCP requires an object root for outputSchema; every result is one.
        expect(toolResultJsonSchema(name)).toMatchObject({ type: 'object' });
      });
    });
  }

  it('applies the defaults of DESIGN.md', () => {
    expect(TOOLS.list_dir.args.parse({})).toEqual({
      path: '.',
      depth: 1,
      includeHidden: false,
      respectGitignore: true,
    });
    expect(TOOLS.write_file.args.parse({ path: 'a', content: '' })).toMatchObject({
      createDirs: true,
      encoding: 'utf8',
    });
    expect(TOOLS.move.args.parse({ from: 'a', to: 'b' }).overwrite).toBe(false);
    expect(TOOLS.delete.args.parse({ path: 'a' }).recursive).toBe(false);
  });
});
