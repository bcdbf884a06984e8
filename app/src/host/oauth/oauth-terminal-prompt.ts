import { createInterface } from 'node:readline';
import { CATEGORIES, TetherError, categorySchema, printable, type Category, type OAuthConsent } from '@tether/shared';
import type { OAuthConsents } from './oauth-consents.js';

/** Default time an approval at the terminal lasts. */
export const TERMINAL_APPROVAL_DEFAULT_DAYS = 1;
/** Longest approval at the terminal (the dialog allows up to MAX_OAUTH_APPROVAL_SECONDS). */
const MAX_DAYS = 90;

/**
 * The headless OAuth consent front end: prints each MCP client's request and takes commands
 * prefixed with `oauth` (so they never mix with the answers to call confirmations on the same
 * terminal): `oauth approve CODE [read,write,shell] [DAYS]` approves the oldest request for the
 * workspaces it may get (the one it asked for, or every workspace of this device), after checking
 * CODE against the one the authorize page shows; `oauth deny` declines it.
 */
export function createOAuthTerminalPrompt(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  consents: OAuthConsents,
  workspaces: () => Array<{ id: string; name: string }>,
  runtimes: () => ReadonlyArray<{ workspaceId: string; runtimeId: string }> = () => [],
): { dispose(): void } {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const write = (text: string): void => void output.write(text);

  const onRequest = (c: OAuthConsent): void => {
    write(
      [
        '',
        '── Tether: an MCP client asks for access to your workspaces ──',
        `Client:     ${printable(c.clientName)}`,
        `Client id:  ${printable(c.clientId)}`,
        `Returns to: ${printable(c.redirectHost)}`,
        c.runtimeId ? `For:        one workspace (its MCP URL)` : `For:        the workspaces you choose`,
        `Approve with: oauth approve <the code its page shows> [read,write,shell] [days, default ${TERMINAL_APPROVAL_DEFAULT_DAYS}]`,
        'Decline with: oauth deny',
        '',
      ].join('\n'),
    );
  };
  consents.on('request', onRequest);

  rl.on('line', (line) => {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toLowerCase() !== 'oauth') return;
    const consent = consents.pending()[0];
    if (!consent) return write('No MCP client is waiting for an answer.\n');
    try {
      if (words[1] === 'deny') {
        consents.answer({ requestId: consent.requestId, approve: false });
        return write(`Declined ${printable(consent.clientName)}.\n`);
      }
      if (words[1] !== 'approve' || !words[2])
        return write('Type: oauth approve CODE [read,write,shell] [days], or oauth deny\n');
      const categories: Category[] = words[3]
        ? words[3].split(',').map((c) => categorySchema.parse(c.trim().toLowerCase()))
        : ['read'];
      const days = words[4] ? Number(words[4]) : TERMINAL_APPROVAL_DEFAULT_DAYS;
      if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS)
        return write(`Days must be a whole number from 1 to ${MAX_DAYS}.\n`);
      const binding = consent.runtimeId ? runtimes().find((b) => b.runtimeId === consent.runtimeId) : undefined;
      const chosen = consent.runtimeId
        ? workspaces().filter((w) => w.id === binding?.workspaceId)
        : workspaces().filter((w) => runtimes().length === 0 || runtimes().some((b) => b.workspaceId === w.id));
      consents.answer({
        requestId: consent.requestId,
        approve: true,
        shortCode: words[2],
        workspaceIds: chosen.map((w) => w.id),
        categories: CATEGORIES.filter((c) => categories.includes(c)),
        ttlSeconds: days * 86_400,
      });
      write(
        `Approved ${printable(consent.clientName)}: ${categories.join(', ')} in ${chosen.map((w) => printable(w.name)).join(', ')} for ${days} day${days === 1 ? '' : 's'}.\n`,
      );
    } catch (err) {
      write(`Not done: ${err instanceof TetherError ? err.message : 'that is not a category (read, write, shell)'}\n`);
    }
  });

  return {
    dispose() {
      consents.off('request', onRequest);
      rl.close();
    },
  };
}
