#!/usr/bin/env node
// The `tether-relay` command (DESIGN.md, command lines). Runs the built code: `npx tsc -b relay` first.
import { runCli } from '../dist/cli.js';

const code = await runCli(process.argv.slice(2));
// `serve` keeps running until a signal; the admin commands end here.
if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
