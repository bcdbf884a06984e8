#!/usr/bin/env node
// `tether-desktop`: the headless Tether Desktop host (see docs/desktop-host.md). Runs the built
// code in ../dist; build it first with `npx tsc -b` at the repository root.
import { readFile } from 'node:fs/promises';
import { runCli } from '../dist/host/cli.js';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const code = await runCli(process.argv.slice(2), { appVersion: pkg.version });
// Exit explicitly: stdin left open by the terminal prompt must not keep a finished host alive.
process.exit(code);
