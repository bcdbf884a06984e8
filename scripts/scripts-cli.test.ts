import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs a root script to its end (every case here stops before any step or bench runs). */
function runScript(script: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', script), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

describe('scripts/test.mjs', () => {
  describe('arguments', () => {
    it('prints its steps for --help and runs none', async () => {
      const { code, out } = await runScript('test.mjs', ['--help']);
      expect(code).toBe(0);
      expect(out).toContain('Usage: npm test');
      expect(out).toContain('end-to-end tests');
      expect(out).not.toContain('▶');
    });

    it('refuses a word that matches no step (exit 2) instead of running nothing and passing', async () => {
      const { code, err, out } = await runScript('test.mjs', ['lnit']);
      expect(code).toBe(2);
      expect(err).toContain('no step matches "lnit"');
      expect(out).not.toContain('▶');
    });
  });
});

describe('scripts/bench.mjs', () => {
  describe('arguments', () => {
    it('prints its usage for --help and runs no bench', async () => {
      const { code, out } = await runScript('bench.mjs', ['--help']);
      expect(code).toBe(0);
      expect(out).toContain('Usage: npm run bench');
      expect(out).not.toContain('▶');
    });

    it('refuses an unknown option (exit 2) instead of running every bench', async () => {
      const { code, err, out } = await runScript('bench.mjs', ['--stritc']);
      expect(code).toBe(2);
      expect(err).toContain('unknown option --stritc');
      expect(out).not.toContain('▶');
    });
  });
});
