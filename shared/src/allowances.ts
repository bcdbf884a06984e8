import { z } from 'zod';
import { MAX_COMMAND_CHARS, MAX_PATH_BYTES } from './limits.js';
import { printable } from './text.js';

/**
 * Standing approvals ("don't ask again for …"): what one covers, how it is matched, and how it
 * is described. Each covers one narrow kind of call in one workspace, never a whole workspace.
 */

/** The write tools a path or folder allowance covers; moves and deletes always ask (or need the category). */
export const PATH_SCOPE_TOOLS = ['write_file', 'edit_file', 'mkdir'] as const;

/** The shell tools a command or prefix allowance covers (they start a command). */
export const COMMAND_SCOPE_TOOLS = ['run_command', 'shell_start'] as const;

export const allowanceScopeSchema = z.discriminatedUnion('kind', [
  /** Every call of the category (only `write` is offered: a command allowance is always narrower). */
  z.strictObject({ kind: z.literal('category'), category: z.literal('write') }),
  /** write_file / edit_file / mkdir of this workspace-relative path, or of anything inside it when `folder`. */
  z.strictObject({ kind: z.literal('path'), path: z.string().min(1).max(MAX_PATH_BYTES), folder: z.boolean() }),
  /** Exactly this command line (with the variables it sets in front) in this cwd. */
  z.strictObject({
    kind: z.literal('command'),
    command: z.string().min(1).max(MAX_COMMAND_CHARS),
    cwd: z.string().min(1).max(MAX_PATH_BYTES),
  }),
  /** Commands whose first words are these, with no shell control operators anywhere (see commandMatchesPrefix). */
  z.strictObject({ kind: z.literal('prefix'), prefix: z.string().min(1).max(1000) }),
]);
export type AllowanceScope = z.infer<typeof allowanceScopeSchema>;

export const allowanceSchema = z.strictObject({
  id: z.string().min(1).max(64),
  scope: allowanceScopeSchema,
  createdAt: z.number(),
  /** Epoch ms it ends; null: until the person revokes it (the only kind kept across a restart). */
  expiresAt: z.number().nullable(),
});
export type Allowance = z.infer<typeof allowanceSchema>;

/**
 * Characters after which a shell may run something else or read a command from elsewhere:
 * separators and operators (`;` `&` `|` newline), redirections (`<` `>`), subshells and
 * groups (`(` `)` `{` `}`), substitutions and expansions (`$` and backtick), escapes (`\`,
 * which can join lines), history expansion (`!`) and quotes (which can hide any of these from
 * a naive reader). A prefix rule never matches a command holding one of them.
 */
const SHELL_SPECIAL = /[;&|<>(){}$`\\!'"\n\r]/;

/** A word a prefix may consist of: no shell syntax, no `=` (a variable assignment in front). */
const PLAIN_WORD = /^[A-Za-z0-9_./:@%+,-]+$/;

/** The command's words, or null when it holds shell syntax or characters a person cannot see. */
export function simpleCommandWords(command: string): string[] | null {
  if (SHELL_SPECIAL.test(command) || printable(command) !== command) return null;
  // Only ASCII spaces and tabs separate words; any other space is part of a word (and not plain).
  if (/[^\x20-\x7e\t]/.test(command)) return null;
  const words = command.split(/[ \t]+/).filter(Boolean);
  return words.length > 0 ? words : null;
}

/**
 * Whether a prefix rule covers a command: the command's first words are exactly the prefix's
 * words (whole words: `npm test` does not cover `npm testx`), and the whole command has no
 * shell control operators, substitutions, redirections, quotes or escapes, so `npm test; rm -rf ~`,
 * `npm test && x`, `npm test | sh` and `npm test $(x)` all ask again. A command that sets
 * variables (`env`) never matches a prefix: they can change what the program does.
 */
export function commandMatchesPrefix(command: string, prefix: string, hasEnv = false): boolean {
  if (hasEnv) return false;
  const want = prefix.split(' ');
  if (want.length === 0 || !want.every((w) => PLAIN_WORD.test(w))) return false;
  const words = simpleCommandWords(command);
  if (!words || words.length < want.length) return false;
  return want.every((w, i) => words[i] === w);
}

/** Most words a prefix rule offered for a command may have. */
export const MAX_PREFIX_WORDS = 3;

/**
 * The prefix rules worth offering for a command, longest first: its first one to three plain
 * words (only for a simple command, so every offer covers the command asked about).
 */
export function prefixOffers(command: string, hasEnv = false): string[] {
  if (hasEnv) return [];
  const words = simpleCommandWords(command);
  if (!words) return [];
  const offers: string[] = [];
  for (let n = 1; n <= Math.min(MAX_PREFIX_WORDS, words.length); n++) {
    const head = words.slice(0, n);
    if (!head.every((w) => PLAIN_WORD.test(w))) break;
    offers.push(head.join(' '));
  }
  return offers.reverse();
}

/** Whether a workspace-relative path is the scope's path or (for a folder) inside it. */
export function pathInScope(rel: string, scope: { path: string; folder: boolean }): boolean {
  if (!scope.folder) return rel === scope.path;
  if (scope.path === '.') return true;
  return rel === scope.path || rel.startsWith(`${scope.path}/`);
}

/** What an allowance covers, in words (the dialog, the workspace card and the audit log say the same). */
export function describeScope(scope: AllowanceScope): string {
  switch (scope.kind) {
    case 'category':
      return 'every change to files in this workspace (write, edit, move, delete, new folders)';
    case 'path':
      return scope.folder
        ? scope.path === '.'
          ? 'writes, edits and new folders anywhere in this workspace (not moves or deletes)'
          : `writes, edits and new folders inside ${printable(scope.path)}/ (not moves or deletes)`
        : `writes and edits of ${printable(scope.path)}`;
    case 'command':
      return `exactly the command ${printable(scope.command)} (in ${printable(scope.cwd)})`;
    case 'prefix':
      return `commands that start with ${printable(scope.prefix)} (with no ; & | < > $ or quotes after it)`;
  }
}

/** The same scope? (The host refuses to record a second copy of a live one.) */
export function sameScope(a: AllowanceScope, b: AllowanceScope): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The policy category whose calls an allowance lets through. */
export function categoryOfScope(scope: AllowanceScope): 'write' | 'shell' {
  return scope.kind === 'category' || scope.kind === 'path' ? 'write' : 'shell';
}
