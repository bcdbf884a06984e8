import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The layering of DESIGN.md is enforced by lint: these cases lint a probe file placed in
 * each layer and expect `no-restricted-imports` to fire for what that layer may not import.
 */
const eslint = new ESLint({ cwd: process.cwd() });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering lint', () => {
  const forbidden: Array<[string, string]> = [
    ['shared/src/probe.ts', "import { readFile } from 'node:fs';"],
    ['shared/src/probe.ts', "import WebSocket from 'ws';"],
    ['shared/src/probe.ts', "import { app } from 'electron';"],
    ['app/src/host/probe.ts', "import { app } from 'electron';"],
    ['app/src/host/probe.ts', "import { createRoot } from 'react-dom/client';"],
    ['app/src/renderer/probe.ts', "import { readFile } from 'node:fs';"],
    ['app/src/renderer/probe.ts', "import path from 'path';"],
    ['app/src/renderer/probe.ts', "import { ipcRenderer } from 'electron';"],
    ['app/src/renderer/probe.ts', "import { PathGuard } from '../host/fs/path-guard.js';"],
    ['app/src/preload/probe.ts', "import { spawn } from 'node:child_process';"],
    ['app/src/main/probe.ts', "import * as pty from 'node-pty';"],
    ['relay/src/probe.ts', "import { startHost } from '../../app/src/host/host.js';"],
  ];

  it.each(forbidden)('fails the lint for %s importing: %s', async (file, code) => {
    const messages = await restrictedImports(file, `${code}\nexport const x = 1;\n`);
    expect(messages.length).toBeGreaterThan(0);
  });

  const allowed: Array<[string, string]> = [
    ['shared/src/probe.ts', "import { z } from 'zod';"],
    ['app/src/host/probe.ts', "import { readFile } from 'node:fs/promises';"],
    ['app/src/main/probe.ts', "import { app } from 'electron';"],
    ['app/src/renderer/probe.ts', "import type { DesktopApi } from '@tether/shared';"],
    ['relay/src/probe.ts', "import { createServer } from 'node:http';"],
  ];

  it.each(allowed)('passes the lint for %s importing: %s', async (file, code) => {
    const messages = await restrictedImports(file, `${code}\nexport const x = 1;\n`);
    expect(messages).toEqual([]);
  });
});
