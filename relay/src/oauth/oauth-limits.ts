/** Limits of the relay's OAuth authorization server, in one place (shared ones live in @tether/shared). */

/** Largest Client ID Metadata Document read: a client's metadata is a few hundred bytes. */
export const MAX_CLIENT_METADATA_BYTES = 16 * 1024;

/** How long fetching a Client ID Metadata Document may take, connect to last byte: the person's browser waits on it. */
export const CLIENT_METADATA_TIMEOUT_MS = 5_000;

/** Consent requests waiting at once across the relay; more get `temporarily_unavailable` (nobody approves 1000 at once). */
export const MAX_PENDING_OAUTH_REQUESTS = 1_000;

/** Registrations (RFC 7591) and authorize requests one client address may make per window: a person makes a few. */
export const OAUTH_REQUESTS_PER_ADDRESS = 30;
export const OAUTH_REQUEST_WINDOW_MS = 10 * 60_000;

/** How often the authorize page reloads itself while the person decides (no script: a meta refresh). */
export const AUTHORIZE_PAGE_REFRESH_SECONDS = 2;

/** Expired authorizations are kept this long for the record before their rows go. */
export const OAUTH_EXPIRED_KEEP_MS = 7 * 24 * 3600_000;
