import { z } from 'zod';
import type { Category } from './policy.js';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_READ_LINES,
  DEFAULT_SEARCH_RESULTS,
  MAX_COMMAND_CHARS,
  MAX_COMMAND_TIMEOUT_MS,
  MAX_EDITS,
  MAX_LIST_DEPTH,
  MAX_PATH_BYTES,
  MAX_READ_BYTES,
  MAX_READ_LINES,
  MAX_SEARCH_CONTEXT_LINES,
  MAX_SEARCH_RESULTS,
  MAX_SHELL_WAIT_MS,
  MAX_WRITE_BYTES,
} from './limits.js';

/**
 * A path argument as sent by a caller. Deliberately permissive (NUL bytes, `..`, absolute
 * paths pass): the desktop's path guard decides, and refuses with `path_outside_workspace`.
 */
export const pathArg = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_PATH_BYTES, `must be at most ${MAX_PATH_BYTES} characters`);

const encodingSchema = z.enum(['utf8', 'base64']);
const envSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'), z.string().max(32 * 1024))
  .refine((env) => Object.keys(env).length <= 100, 'at most 100 variables');
const sessionIdSchema = z.string().min(1).max(100);
const entryTypeSchema = z.enum(['file', 'dir', 'symlink', 'other']);

// ---- read ----

export const readFileArgs = z.strictObject({
  path: pathArg,
  /** utf8: lines to skip from the start (0 = from the first line). base64: bytes to skip. */
  offset: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('utf8: lines to skip (0 = from the first line). base64: bytes to skip.'),
  /** utf8: lines to return at most (default DEFAULT_READ_LINES). base64: bytes (default and cap MAX_READ_BYTES). */
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_READ_LINES)
    .optional()
    .describe(
      `utf8: lines to return at most (default ${DEFAULT_READ_LINES}; a page also stops at ${MAX_READ_BYTES} bytes). ` +
        `base64: bytes to return (default and cap ${MAX_READ_BYTES}).`,
    ),
  encoding: encodingSchema
    .optional()
    .describe('utf8 (default): text by lines; a binary file is refused with binary_file. base64: any file, by bytes.'),
});
export const readFileResult = z.object({
  path: z.string(),
  content: z.string(),
  encoding: encodingSchema,
  /** Lines in the whole file (utf8 only). */
  totalLines: z.number().int().optional(),
  /** 0-based line index of the first returned line (utf8), or byte offset (base64). */
  offset: z.number().int(),
  /** Lines returned (utf8) or bytes returned (base64). */
  count: z.number().int(),
  size: z.number().int(),
  truncated: z.boolean(),
});

export const listDirArgs = z.strictObject({
  path: pathArg.default('.'),
  depth: z.number().int().min(1).max(MAX_LIST_DEPTH).default(1),
  includeHidden: z.boolean().default(false),
  respectGitignore: z.boolean().default(true),
});
export const listDirResult = z.object({
  path: z.string(),
  entries: z.array(z.object({ path: z.string(), type: entryTypeSchema, size: z.number().int(), mtimeMs: z.number() })),
  truncated: z.boolean(),
});

export const globArgs = z.strictObject({
  pattern: z
    .string()
    .min(1)
    .max(1000)
    .describe(
      'Glob matched against paths relative to `path`, e.g. `**/*.ts`; files and links, not folders; .gitignore respected, .git skipped. Syntax: `*`, `?`, `[a-z]`, `[!x]`, `{a,b}`, `**` segments, `\\` escapes; wildcards match dotfiles; extglobs such as `+(a|b)` are literal text.',
    ),
  path: pathArg.optional().describe('Folder to search from (default: the workspace root).'),
});
export const globResult = z.object({ matches: z.array(z.string()), truncated: z.boolean() });

export const searchArgs = z.strictObject({
  pattern: z.string().min(1).max(1000).describe('Text to find on one line (a literal unless `regex`).'),
  regex: z
    .boolean()
    .default(false)
    .describe(
      'Treat `pattern` as a regular expression (ripgrep/Rust syntax; JavaScript syntax where ripgrep is absent).',
    ),
  path: pathArg.optional().describe('File or folder to search (default: the workspace root).'),
  glob: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe(
      'Only files matching this glob (ripgrep -g: `*.ts` matches names at any depth, `src/**` whole paths; `!x` excludes).',
    ),
  caseSensitive: z.boolean().default(true),
  contextLines: z.number().int().min(0).max(MAX_SEARCH_CONTEXT_LINES).default(0),
  maxResults: z.number().int().min(1).max(MAX_SEARCH_RESULTS).default(DEFAULT_SEARCH_RESULTS),
});
export const searchMatch = z.object({
  path: z.string(),
  /** 1-based line number. */
  line: z.number().int(),
  /** 1-based column of the match start, in characters. */
  column: z.number().int(),
  text: z.string(),
  before: z.array(z.string()).optional(),
  after: z.array(z.string()).optional(),
});
export const searchResult = z.object({
  matches: z.array(searchMatch),
  truncated: z.boolean(),
  engine: z.enum(['ripgrep', 'js']),
});

export const statArgs = z.strictObject({ path: pathArg });
export const statResult = z.object({
  path: z.string(),
  type: entryTypeSchema,
  size: z.number().int(),
  mtimeMs: z.number(),
  mode: z.number().int(),
});

// ---- write ----

export const writeFileArgs = z.strictObject({
  path: pathArg,
  content: z.string().max(Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 4, 'is too large'),
  encoding: encodingSchema.default('utf8'),
  createDirs: z.boolean().default(true),
});
export const writeFileResult = z.object({ path: z.string(), bytesWritten: z.number().int(), created: z.boolean() });

export const editFileArgs = z.strictObject({
  path: pathArg,
  edits: z
    .array(
      z.strictObject({
        oldText: z.string().min(1, 'must not be empty').max(MAX_WRITE_BYTES),
        newText: z.string().max(MAX_WRITE_BYTES),
        replaceAll: z.boolean().default(false),
      }),
    )
    .min(1, 'at least one edit')
    .max(MAX_EDITS),
  dryRun: z.boolean().default(false),
});
export const editFileResult = z.object({
  path: z.string(),
  /** Unified diff; past MAX_DIFF_RESULT_CHARS only its head and tail, with a line saying what is left out. */
  diff: z.string(),
  /** True when the diff was cut to MAX_DIFF_RESULT_CHARS (the edit itself is whole). */
  diffTruncated: z.boolean(),
  replacements: z.number().int(),
  applied: z.boolean(),
});

export const moveArgs = z.strictObject({ from: pathArg, to: pathArg, overwrite: z.boolean().default(false) });
export const moveResult = z.object({ from: z.string(), to: z.string() });

export const deleteArgs = z.strictObject({ path: pathArg, recursive: z.boolean().default(false) });
export const deleteResult = z.object({ path: z.string(), deleted: z.boolean() });

export const mkdirArgs = z.strictObject({ path: pathArg });
export const mkdirResult = z.object({ path: z.string(), created: z.boolean() });

// ---- shell ----

export const runCommandArgs = z.strictObject({
  command: z.string().min(1).max(MAX_COMMAND_CHARS),
  cwd: pathArg.optional(),
  timeoutMs: z.number().int().min(1).max(MAX_COMMAND_TIMEOUT_MS).default(DEFAULT_COMMAND_TIMEOUT_MS),
  env: envSchema.optional(),
});
export const runCommandResult = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  output: z.string(),
  truncated: z.boolean(),
  durationMs: z.number(),
  timedOut: z.boolean(),
});

export const shellStartArgs = z.strictObject({
  /** Program line to start; the person's login shell when left out. */
  command: z.string().min(1).max(MAX_COMMAND_CHARS).optional(),
  cwd: pathArg.optional(),
  env: envSchema.optional(),
  cols: z.number().int().min(10).max(1000).default(120),
  rows: z.number().int().min(5).max(500).default(30),
});
export const shellSessionInfo = z.object({
  sessionId: z.string(),
  command: z.string(),
  cwd: z.string(),
  startedAt: z.string(),
  exited: z.boolean(),
  exitCode: z.number().int().nullable(),
});
export const shellStartResult = shellSessionInfo;

export const shellWriteArgs = z.strictObject({
  sessionId: sessionIdSchema,
  input: z.string().max(64 * 1024),
  waitMs: z.number().int().min(0).max(MAX_SHELL_WAIT_MS).optional(),
});
export const shellReadArgs = z.strictObject({
  sessionId: sessionIdSchema,
  waitMs: z.number().int().min(0).max(MAX_SHELL_WAIT_MS).optional(),
});
/** Output produced since the last read; `dropped` counts bytes lost to the buffer cap. */
export const shellOutputResult = z.object({
  sessionId: z.string(),
  output: z.string(),
  dropped: z.number().int(),
  exited: z.boolean(),
  exitCode: z.number().int().nullable(),
});
export const shellKillArgs = z.strictObject({ sessionId: sessionIdSchema });
export const shellKillResult = z.object({ sessionId: z.string(), killed: z.boolean() });
export const shellListArgs = z.strictObject({});
export const shellListResult = z.object({ sessions: z.array(shellSessionInfo) });

// ---- the catalog ----

/**
 * What a tool does to the workspace, as MCP tool annotations state it (hints for an agent's
 * confirmation prompts; the desktop's policy decides regardless). `readOnly`: changes nothing;
 * `destructive`: may delete or overwrite what is there (only meaningful when not read-only);
 * `idempotent`: calling again with the same arguments has no further effect.
 */
export interface ToolHints {
  readOnly: boolean;
  destructive: boolean;
  idempotent: boolean;
}

const READ_HINTS: ToolHints = { readOnly: true, destructive: false, idempotent: true };

interface ToolSpec<A extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  category: Category;
  /** Short human-readable name (MCP `title`). */
  title: string;
  description: string;
  hints: ToolHints;
  args: A;
  result: R;
}

function tool<A extends z.ZodType, R extends z.ZodType>(spec: ToolSpec<A, R>): ToolSpec<A, R> {
  return spec;
}

/** The tool catalog (v1): name → category, one-line description, argument and result schemas. */
export const TOOLS = {
  read_file: tool({
    category: 'read',
    title: 'Read file',
    hints: READ_HINTS,
    description: 'Read a text file by lines (offset/limit), or any file as base64.',
    args: readFileArgs,
    result: readFileResult,
  }),
  list_dir: tool({
    category: 'read',
    title: 'List folder',
    hints: READ_HINTS,
    description: 'List a directory (optionally recursively), respecting .gitignore by default.',
    args: listDirArgs,
    result: listDirResult,
  }),
  glob: tool({
    category: 'read',
    title: 'Find files by pattern',
    hints: READ_HINTS,
    description: 'Find files whose workspace-relative path matches a glob pattern.',
    args: globArgs,
    result: globResult,
  }),
  search: tool({
    category: 'read',
    title: 'Search file contents',
    hints: READ_HINTS,
    description: 'Search file contents for a literal string or regular expression.',
    args: searchArgs,
    result: searchResult,
  }),
  stat: tool({
    category: 'read',
    title: 'File information',
    hints: READ_HINTS,
    description: 'Get the type, size, mode and modification time of a path.',
    args: statArgs,
    result: statResult,
  }),
  write_file: tool({
    category: 'write',
    title: 'Write file',
    hints: { readOnly: false, destructive: true, idempotent: true },
    description: 'Create or replace a file atomically, creating parent folders by default.',
    args: writeFileArgs,
    result: writeFileResult,
  }),
  edit_file: tool({
    category: 'write',
    title: 'Edit file',
    hints: { readOnly: false, destructive: true, idempotent: false },
    description:
      'Replace exact text in a file; each oldText must match once unless replaceAll. Returns a unified diff.',
    args: editFileArgs,
    result: editFileResult,
  }),
  move: tool({
    category: 'write',
    title: 'Move or rename',
    hints: { readOnly: false, destructive: true, idempotent: false },
    description: 'Move or rename a file or folder inside the workspace.',
    args: moveArgs,
    result: moveResult,
  }),
  delete: tool({
    category: 'write',
    title: 'Delete',
    hints: { readOnly: false, destructive: true, idempotent: true },
    description: 'Delete a file, or a folder (recursive for non-empty ones); never the workspace root.',
    args: deleteArgs,
    result: deleteResult,
  }),
  mkdir: tool({
    category: 'write',
    title: 'Create folder',
    hints: { readOnly: false, destructive: false, idempotent: true },
    description: 'Create a folder and any missing parents.',
    args: mkdirArgs,
    result: mkdirResult,
  }),
  run_command: tool({
    category: 'shell',
    title: 'Run command',
    hints: { readOnly: false, destructive: true, idempotent: false },
    description: 'Run a shell command in the workspace and return its exit code and output.',
    args: runCommandArgs,
    result: runCommandResult,
  }),
  shell_start: tool({
    category: 'shell',
    title: 'Start terminal session',
    hints: { readOnly: false, destructive: true, idempotent: false },
    description: 'Start a long-lived interactive session (a REPL, a dev server) in a terminal.',
    args: shellStartArgs,
    result: shellStartResult,
  }),
  shell_write: tool({
    category: 'shell',
    title: 'Type into terminal session',
    hints: { readOnly: false, destructive: true, idempotent: false },
    description: 'Type input into a session, then return the output that follows within waitMs.',
    args: shellWriteArgs,
    result: shellOutputResult,
  }),
  shell_read: tool({
    category: 'shell',
    title: 'Read terminal output',
    // Reading consumes the session's pending output (not idempotent), and changes nothing else.
    hints: { readOnly: false, destructive: false, idempotent: false },
    description: 'Return the output a session produced since the last read, waiting up to waitMs for some.',
    args: shellReadArgs,
    result: shellOutputResult,
  }),
  shell_kill: tool({
    category: 'shell',
    title: 'End terminal session',
    hints: { readOnly: false, destructive: true, idempotent: true },
    description: 'End a session and its whole process tree.',
    args: shellKillArgs,
    result: shellKillResult,
  }),
  shell_list: tool({
    category: 'shell',
    title: 'List terminal sessions',
    hints: READ_HINTS,
    description: "List this workspace's sessions.",
    args: shellListArgs,
    result: shellListResult,
  }),
} as const;

export type ToolName = keyof typeof TOOLS;
export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];
export const toolNameSchema = z.enum(TOOL_NAMES as [ToolName, ...ToolName[]]);

/** Parsed (defaults applied) arguments of a tool. */
export type ToolArgs<T extends ToolName> = z.output<(typeof TOOLS)[T]['args']>;
/** Arguments as a caller writes them (defaults optional). */
export type ToolArgsInput<T extends ToolName> = z.input<(typeof TOOLS)[T]['args']>;
/** The result value of a tool. */
export type ToolResult<T extends ToolName> = z.output<(typeof TOOLS)[T]['result']>;

export function isToolName(name: string): name is ToolName {
  return Object.prototype.hasOwnProperty.call(TOOLS, name);
}

export function categoryOf(name: ToolName): Category {
  return TOOLS[name].category;
}

/**
 * JSON Schema of a tool's result value, for MCP `outputSchema` and OpenAPI. Open to extra
 * properties (a newer desktop may add fields), so a strict client validating against it does
 * not reject an older relay's description of a newer result.
 */
export function toolResultJsonSchema(name: ToolName): Record<string, unknown> {
  return z.toJSONSchema(TOOLS[name].result, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** JSON Schema of a tool's arguments (as a caller writes them), for MCP `tools/list` and OpenAPI. */
export function toolInputJsonSchema(name: ToolName): Record<string, unknown> {
  return z.toJSONSchema(TOOLS[name].args, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
