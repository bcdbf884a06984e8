import * as nodePty from 'node-pty';
import { describe, expect, it } from 'vitest';
import { attachPtyOutput } from './pty-output.js';

describe('attachPtyOutput', () => {
  it.skipIf(process.platform === 'win32')(
    'finds the node-pty internals its end-of-output drain relies on (skipped on Windows: no drain there)',
    async () => {
      // If a node-pty upgrade renames these, the drain silently stops working: fail here instead.
      const pty = nodePty.spawn('/bin/sh', ['-c', 'printf "%s" "$0"', 'done'], {
        encoding: null,
        env: { PATH: '/usr/bin:/bin' },
      });
      const internals = pty as unknown as { _socket?: { allowHalfOpen: boolean }; _fd?: number };
      expect(typeof internals._fd).toBe('number');
      expect(internals._socket).toBeDefined();
      let text = '';
      const output = attachPtyOutput(pty, (t) => (text += t));
      expect(internals._socket!.allowHalfOpen).toBe(true);
      await new Promise((resolve) => pty.onExit(resolve));
      output.dispose();
      expect(text).toBe('done');
    },
  );

  it('decodes characters split across reads', async () => {
    const pty = nodePty.spawn('/bin/sh', ['-c', "printf '\\342\\202'; sleep 0.1; printf '\\254\\n'"], {
      encoding: null,
      env: { PATH: '/usr/bin:/bin' },
    });
    const parts: string[] = [];
    const output = attachPtyOutput(pty, (t) => parts.push(t));
    await new Promise((resolve) => pty.onExit(resolve));
    output.dispose();
    expect(parts.join('')).toBe('€\r\n');
  });
});
