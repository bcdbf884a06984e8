import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TOOLS, TetherError, type ToolName } from '@tether/shared';
import { mountSmallDisk, type SmallDisk } from '../test-tmpfs.js';
import type { ToolContext, ToolHandler } from '../tools/tool-context.js';
import { createFsTools } from './fs-tools.js';
import { PathGuard } from './path-guard.js';

let disk: SmallDisk | null = null;
afterEach(async () => {
  await disk?.dispose();
  disk = null;
});

/** Runs a file tool on a workspace at `root`: its value, or the error value the host would send. */
async function call(root: string, tool: ToolName, args: unknown) {
  const guard = await PathGuard.open(root);
  const handler = createFsTools()[tool] as ToolHandler<ToolName>;
  const ctx: ToolContext = {
    workspace: { id: 'ws', name: 'ws', root: guard.root },
    guard,
    signal: new AbortController().signal,
    callId: 'call-1',
    onOutput: () => true,
    whenDrained: () => Promise.resolve(),
  };
  try {
    return { ok: true as const, value: await handler(TOOLS[tool].args.parse(args) as never, ctx) };
  } catch (err) {
    if (err instanceof TetherError) return { ok: false as const, error: err.toValue() };
    throw err;
  }
}

describe('file tools on a full disk', () => {
  it('answer a write with no_space naming the path, leave no temp file, and still read', async (ctx) => {
    const mounted = await mountSmallDisk('1m');
    if ('skip' in mounted) return ctx.skip(mounted.skip);
    disk = mounted;
    const root = path.join(disk.dir, 'ws');
    await mkdir(path.join(root, 'docs'), { recursive: true });
    await writeFile(path.join(root, 'docs', 'a.txt'), 'kept');
    const filler = await disk.fill();

    const big = 'x'.repeat(64 * 1024);
    for (const [tool, args] of [
      ['write_file', { path: 'docs/new.txt', content: big }],
      ['edit_file', { path: 'docs/a.txt', edits: [{ oldText: 'kept', newText: big }] }],
    ] as const) {
      const answer = await call(root, tool, args);
      expect(answer).toMatchObject({
        ok: false,
        error: { code: 'no_space', details: { path: args.path } },
      });
      if (!answer.ok) {
        expect(answer.error.message).toContain(args.path);
        expect(answer.error.message).not.toContain(disk.dir);
      }
    }
    expect((await readdir(path.join(root, 'docs'))).sort()).toEqual(['a.txt']);
    expect(await readFile(path.join(root, 'docs', 'a.txt'), 'utf8')).toBe('kept');
    expect(await call(root, 'read_file', { path: 'docs/a.txt' })).toMatchObject({ ok: true });

    await unlink(filler);
    expect(await call(root, 'write_file', { path: 'docs/new.txt', content: big })).toMatchObject({ ok: true });
  });
});
