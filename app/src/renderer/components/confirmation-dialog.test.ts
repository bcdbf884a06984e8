import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ConfirmationRequest, DesktopApi } from '@tether/shared';
import { ConfirmationDialog } from './confirmation-dialog.js';

const api = { request: () => Promise.reject(new Error('not used')), on: () => () => {} } as unknown as DesktopApi;

function render(request: ConfirmationRequest): string {
  return renderToStaticMarkup(createElement(ConfirmationDialog, { api, request, queued: 0 }));
}

const base = {
  id: 'cf_1',
  callId: 'call_1',
  workspaceId: 'ws_1',
  workspaceName: 'site',
  tool: 'run_command',
  category: 'shell',
  createdAt: Date.now(),
  expiresAt: Date.now() + 60_000,
} as const;

describe('ConfirmationDialog', () => {
  it('shows the command and cwd with bidi and control characters made visible', () => {
    const html = render({
      ...base,
      caller: 'agent\u202e',
      detail: { kind: 'shell', command: 'echo hi \u202e; rm -rf ~\u001b[2K', cwd: 'src\u200f' },
    });
    expect(html).toContain('echo hi \\u202e; rm -rf ~\\x1b[2K');
    expect(html).toContain('src\\u200f');
    expect(html).toContain('agent\\u202e');
    // eslint-disable-next-line no-control-regex -- the point is that no raw escape reaches the page
    expect(html).not.toMatch(/[\u202e\u200f\u001b]/);
  });

  it('shows the diff of a write with its path, hiding nothing', () => {
    const html = render({
      ...base,
      tool: 'write_file',
      category: 'write',
      caller: 'agent',
      detail: {
        kind: 'write',
        path: 'notes.md',
        isNew: false,
        summary: 'write notes.md: 1 line',
        diff: '--- a/notes.md\n+++ b/notes.md\n@@ -1 +1 @@\n-old\n+new \u2066line\u2069\n',
      },
    });
    expect(html).toContain('notes.md');
    expect(html).toContain('+new \\u2066line\\u2069');
    expect(html).not.toMatch(/[\u2066\u2069]/);
  });

  it('says what a write without a diff does (binary content) instead of "no changes"', () => {
    const html = render({
      ...base,
      tool: 'write_file',
      category: 'write',
      caller: 'agent',
      detail: {
        kind: 'write',
        path: 'logo.png',
        isNew: false,
        summary: 'replace logo.png with 2048 bytes of binary content',
        diff: '',
      },
    });
    expect(html).toContain('replace logo.png with 2048 bytes of binary content');
    expect(html).not.toContain('No changes');
  });

  it('starts with the allow answers marked unavailable until it is armed', () => {
    const html = render({ ...base, caller: 'agent', detail: { kind: 'shell', command: 'ls', cwd: '.' } });
    expect(html).toContain('data-armed="false"');
    expect(html.match(/aria-disabled="true"/g)).toHaveLength(2);
  });
});
