/** OAuth consent helpers shared by the relay, the desktop host and the UI (pure functions, no I/O). */

/** A short code as typed by a person (lower case, spaces or a dash, O for 0, I or L for 1) in its canonical form. */
export function normalizeShortCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

/** How a short code is shown: two groups of four. */
export function formatShortCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** The durations the consent dialog and the terminal offer, in seconds (all within MAX_OAUTH_APPROVAL_SECONDS). */
export const OAUTH_APPROVAL_CHOICES: ReadonlyArray<{ label: string; seconds: number }> = [
  { label: '1 hour', seconds: 3600 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
  { label: '90 days', seconds: 90 * 86_400 },
];
