import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_DELETE_COUNT_ENTRIES,
  TOOLS,
  TetherError,
  type ConfirmationDetail,
  type ToolArgs,
  type ToolName,
} from '@tether/shared';
import { unifiedDiff } from './edit-text.js';
import type { PathGuard } from './path-guard.js';
import { planEdit, planWrite, readWhole } from './write-tools.js';

/** Lines of a text, for summaries (a final newline does not start another line). */
function lineCount(text: string): number {
  if (text === '') return 0;
  const n = text.split('\n').length;
  return text.endsWith('\n') ? n - 1 : n;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function looksBinary(data: Buffer): boolean {
  return data.subarray(0, 8000).indexOf(0) !== -1;
}

/**
 * What a write-category call would change, for the person's confirmation dialog: a unified
 * diff for write_file and edit_file, a one-line summary for move, delete and mkdir. Reads
 * only, never writes; a refused path (or bad edit) throws the TetherError the tool would.
 * `args` are the parsed (defaults applied) arguments of `tool`.
 */
export async function previewWrite(
  tool: ToolName,
  args: unknown,
  ctx: { guard: PathGuard },
): Promise<ConfirmationDetail> {
  const guard = ctx.guard;
  switch (tool) {
    case 'write_file': {
      const a = args as ToolArgs<'write_file'>;
      const plan = await planWrite(a, guard);
      const rel = plan.target.rel;
      const binaryNew = a.encoding === 'base64' && looksBinary(plan.data);
      let before = '';
      let binaryOld = false;
      if (!plan.created) {
        const old = await readWhole(plan.target, guard).catch((err: unknown) => {
          if (err instanceof TetherError && err.code === 'too_large') return undefined;
          throw err;
        });
        binaryOld = old === undefined || looksBinary(old.data);
        before = old && !binaryOld ? old.data.toString('utf8') : '';
      }
      if (binaryNew || binaryOld) {
        const summary = `${plan.created ? 'create' : 'replace'} ${rel} with ${plural(plan.data.length, 'byte')} of binary content`;
        return { kind: 'write', path: rel, diff: '', isNew: plan.created, summary };
      }
      const after = plan.data.toString('utf8');
      const summary = `${plan.created ? 'create' : 'write'} ${rel}: ${plural(lineCount(after), 'line')}`;
      return {
        kind: 'write',
        path: rel,
        diff: unifiedDiff(rel, before, after, plan.created),
        isNew: plan.created,
        summary,
      };
    }
    case 'edit_file': {
      const a = args as ToolArgs<'edit_file'>;
      const plan = await planEdit(a, guard);
      const summary = `edit ${plan.target.rel}: ${plural(plan.replacements, 'replacement')}`;
      return { kind: 'write', path: plan.target.rel, diff: plan.diff, isNew: false, summary };
    }
    case 'move': {
      const a = args as ToolArgs<'move'>;
      const from = await guard.resolve(a.from, { allowRoot: false });
      const to = await guard.resolve(a.to, { allowRoot: false });
      if (!from.exists) throw new TetherError('not_found', `No such file or folder: ${from.rel}`);
      const replacing = to.exists ? (a.overwrite ? ', replacing it' : ' (it exists: the move will fail)') : '';
      return { kind: 'other', summary: `move ${from.rel} to ${to.rel}${replacing}` };
    }
    case 'delete': {
      const a = args as ToolArgs<'delete'>;
      const target = await guard.resolve(a.path, { allowRoot: false });
      if (!target.exists) throw new TetherError('not_found', `No such file or folder: ${target.rel}`);
      const st = await lstat(target.entry);
      const what = st.isDirectory() ? (a.recursive ? 'folder' : 'empty folder') : st.isSymbolicLink() ? 'link' : 'file';
      const inside = st.isDirectory()
        ? await countTree(target.entry, MAX_DELETE_COUNT_ENTRIES)
        : { files: 0, folders: 0, bytes: st.isSymbolicLink() ? 0 : st.size, capped: false };
      // The delete tool removes for good (unlink / rm), never to a trash folder.
      return { kind: 'delete', path: target.rel, what, ...inside, permanent: true };
    }
    case 'mkdir': {
      const a = args as ToolArgs<'mkdir'>;
      const target = await guard.resolve(a.path);
      return {
        kind: 'other',
        summary: target.exists ? `create folder ${target.rel} (already there)` : `create folder ${target.rel}`,
      };
    }
    default:
      return { kind: 'other', summary: `${tool} (${TOOLS[tool].category})` };
  }
}

/**
 * What is inside a folder about to be deleted: files (anything not a folder: links count as
 * files, never followed), folders and bytes, counting at most `cap` entries (then `capped`).
 */
export async function countTree(
  dir: string,
  cap: number,
): Promise<{ files: number; folders: number; bytes: number; capped: boolean }> {
  const total = { files: 0, folders: 0, bytes: 0, capped: false };
  const queue = [dir];
  let seen = 0;
  while (queue.length > 0) {
    const current = queue.pop() as string;
    let handle;
    try {
      handle = await opendir(current);
    } catch {
      continue; // unreadable: the delete will say so; the counts stay a lower bound
    }
    for await (const entry of handle) {
      if (++seen > cap) {
        total.capped = true;
        return total; // leaving the loop closes the directory handle
      }
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        total.folders++;
        queue.push(path);
      } else {
        total.files++;
        if (entry.isFile())
          total.bytes += await lstat(path).then(
            (s) => s.size,
            () => 0,
          );
      }
    }
  }
  return total;
}
