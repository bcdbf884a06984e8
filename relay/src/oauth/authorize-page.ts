import { randomBytes } from 'node:crypto';
import { AUTHORIZE_PAGE_REFRESH_SECONDS } from './oauth-limits.js';
import { formatShortCode } from '@tether/shared';

/** Text made safe for HTML content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A page with its headers: a nonce'd stylesheet and nothing else may load (no script at all). */
export interface Page {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px 36px;max-width:460px;width:100%}
h1{font-size:20px;margin:0 0 16px}
.code{font:600 34px/1.2 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:.08em;text-align:center;background:#eef2ff;border-radius:8px;padding:14px;margin:18px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0 0 16px}dt{color:#5b6475}dd{margin:0;word-break:break-all}
.muted{color:#5b6475;font-size:14px}.error{color:#b42318}
label{display:block;margin:12px 0 4px}input[type=text]{font:inherit;padding:8px;width:100%;box-sizing:border-box;border:1px solid #c5cad3;border-radius:6px}
button{font:inherit;margin-top:14px;padding:8px 16px;border:0;border-radius:6px;background:#3b5bdb;color:#fff;cursor:pointer}
`;

function page(status: number, title: string, content: string, refreshSeconds?: number): Page {
  const nonce = randomBytes(16).toString('base64');
  const refresh = refreshSeconds !== undefined ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : '';
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // Nothing but this page's own style: no script, no frame, no external asset, forms only to the relay.
      'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${refresh}<title>${escapeHtml(title)} · Tether</title><style nonce="${nonce}">${STYLE}</style></head><body><main>${content}</main></body></html>`,
  };
}

/** The page the person keeps open while approving in Tether Desktop. */
export function consentPage(input: {
  shortCode: string;
  clientName: string;
  clientId: string;
  redirectHost: string;
  verifiedHost: boolean;
  expiresAt: string;
  /** Whether a desktop of the org is connected to ask. */
  desktopOnline: boolean;
}): Page {
  const clientId = input.clientId.length > 80 ? `${input.clientId.slice(0, 77)}…` : input.clientId;
  return page(
    200,
    'Approve in Tether Desktop',
    `<h1>Approve this client in Tether Desktop</h1>
<p>Open Tether Desktop: it is asking whether to let this client use your workspaces. Check that it shows this code:</p>
<div class="code" id="short-code">${escapeHtml(formatShortCode(input.shortCode))}</div>
<dl><dt>Client</dt><dd id="client-name">${escapeHtml(input.clientName)}${input.verifiedHost ? '' : ' <span class="muted">(name not verified)</span>'}</dd>
<dt>Client id</dt><dd>${escapeHtml(clientId)}</dd>
<dt>Returns to</dt><dd id="redirect-host">${escapeHtml(input.redirectHost)}</dd></dl>
${input.desktopOnline ? '' : '<p class="error" id="no-desktop">No Tether Desktop of this organization is connected right now. Open it (and connect it); this page waits. An admin of the organization can also approve with a platform key.</p>'}
<p class="muted">This page moves on by itself once you answer. The request expires at ${escapeHtml(new Date(input.expiresAt).toUTCString())}. If you did not start this, deny it in Tether Desktop.</p>`,
    AUTHORIZE_PAGE_REFRESH_SECONDS,
  );
}

/** The form asking which organization an org-wide MCP URL is for (the authorize parameters ride along hidden). */
export function orgFormPage(params: Record<string, string | undefined>, clientName: string, problem?: string): Page {
  const hidden = Object.entries(params)
    .filter(([k, v]) => v !== undefined && k !== 'org')
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v!)}">`)
    .join('');
  return page(
    problem ? 400 : 200,
    'Which organization?',
    `<h1>Connect ${escapeHtml(clientName)} to Tether</h1>
<form method="post" action="/oauth/authorize">${hidden}
<label for="org">Your Tether organization on this relay</label>
<input type="text" id="org" name="org" autocomplete="organization" required maxlength="100">
${problem ? `<p class="error">${escapeHtml(problem)}</p>` : ''}
<button type="submit">Continue</button></form>
<p class="muted">Tether Desktop of that organization will ask you to approve the client.</p>`,
  );
}

/** An authorize request that cannot go back to its client: said to the person, nobody is redirected. */
export function errorPage(status: number, message: string): Page {
  return page(
    status,
    'Cannot authorize',
    `<h1>This request cannot be authorized</h1><p class="error">${escapeHtml(message)}</p>`,
  );
}

/** After the code went back to the client. */
export function donePage(): Page {
  return page(200, 'Done', `<h1>Done</h1><p>The client has its answer. You can close this window.</p>`);
}
