/**
 * Every limit of the protocol, in one place, with the reason for its value.
 * Units are in the names. Both ends import these; neither may hard-code a copy.
 */

/** Wire protocol version spoken in `hello`; bumped on any incompatible frame change. */
export const PROTOCOL_VERSION = 1;

/** Largest WebSocket frame either side accepts: a 4 MiB write (base64 grows it by a third) plus envelope. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Largest `content` of one `write_file` after decoding: big enough for source files and small assets. */
export const MAX_WRITE_BYTES = 4 * 1024 * 1024;

/**
 * Longest diff an `edit_file` result carries (its head and tail kept, `diffTruncated` set): a
 * 4 MB file rewritten has a diff of 8 MB, over MAX_FRAME_BYTES, and the caller would get
 * `too_large` for an edit that was applied. 512 Ki characters stay under the frame limit even
 * if every one is escaped in JSON.
 */
export const MAX_DIFF_RESULT_CHARS = 512 * 1024;

/** Largest slice one `read_file` returns, so one result frame stays well under MAX_FRAME_BYTES even in base64. */
export const MAX_READ_BYTES = 2 * 1024 * 1024;

/** Lines `read_file` returns when no `limit` is given: a screenful for an agent, not a whole log file. */
export const DEFAULT_READ_LINES = 2000;

/** Upper bound of `read_file.limit`. */
export const MAX_READ_LINES = 100_000;

/** Entries `list_dir` returns at most, so a node_modules listing cannot flood the caller. */
export const MAX_LIST_ENTRIES = 5000;

/** Deepest `list_dir.depth` accepted. */
export const MAX_LIST_DEPTH = 10;

/** Matches `glob` returns at most. */
export const MAX_GLOB_MATCHES = 5000;

/** Matches `search` returns when no `maxResults` is given, and its upper bound. */
export const DEFAULT_SEARCH_RESULTS = 200;
export const MAX_SEARCH_RESULTS = 5000;

/** Context lines `search` returns at most around a match. */
export const MAX_SEARCH_CONTEXT_LINES = 10;

/** Longest line text `search` returns for one match; longer lines are cut (minified files). */
export const MAX_SEARCH_LINE_CHARS = 500;

/** Longest path argument, in UTF-8 bytes: PATH_MAX on Linux. */
export const MAX_PATH_BYTES = 4096;

/** Longest single path component, in UTF-8 bytes: NAME_MAX on Linux, macOS and Windows. */
export const MAX_NAME_BYTES = 255;

/** Longest `edit_file` edit list, and longest oldText/newText per edit. */
export const MAX_EDITS = 100;

/** Command output kept by `run_command`: the first and last halves survive, the middle is dropped. */
export const COMMAND_OUTPUT_HEAD_BYTES = 32 * 1024;
export const COMMAND_OUTPUT_TAIL_BYTES = 32 * 1024;

/** Default and largest `run_command.timeoutMs`: long builds fit, a runaway process does not live forever. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
export const MAX_COMMAND_TIMEOUT_MS = 30 * 60_000;

/** Longest command line accepted. */
export const MAX_COMMAND_CHARS = 32 * 1024;

/** Pty output is batched for this long or this many bytes before a progress frame goes out (Hyper's DataBatcher). */
export const PTY_BATCH_MS = 8;
export const PTY_BATCH_BYTES = 64 * 1024;

/**
 * Flow control for streamed output: above the high watermark of unsent bytes on the
 * socket the pty is paused; below the low one it resumes (VS Code's FlowControlConstants).
 */
export const FLOW_HIGH_WATERMARK_BYTES = 1024 * 1024;
export const FLOW_LOW_WATERMARK_BYTES = 256 * 1024;

/** Interactive shell sessions: per-workspace cap, idle reaping, and the unread-output buffer. */
export const MAX_SHELL_SESSIONS_PER_WORKSPACE = 8;
export const SHELL_SESSION_IDLE_MS = 30 * 60_000;
export const SHELL_SESSION_BUFFER_BYTES = 1024 * 1024;
export const DEFAULT_SHELL_WAIT_MS = 500;
export const MAX_SHELL_WAIT_MS = 60_000;

/** Heartbeat: both sides ping at this interval; two missed pongs mean the peer is dead. */
export const HEARTBEAT_INTERVAL_MS = 15_000;
export const MISSED_HEARTBEATS_BEFORE_DEAD = 2;

/** Reconnect backoff with full jitter: delay = random(0, min(MAX, BASE * 2^attempt)). */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_MAX_MS = 30_000;

/** How long a person has to answer a confirmation; silence is a deny (`confirmation_timeout`). */
export const CONFIRMATION_TIMEOUT_MS = 60_000;

/** Longest "allow this workspace for N minutes". */
export const MAX_ALLOW_MINUTES = 8 * 60;

/** Default and largest deadline of one call at the relay. */
export const DEFAULT_CALL_TIMEOUT_MS = 120_000;
export const MAX_CALL_TIMEOUT_MS = 30 * 60_000;

/** Calls the relay keeps in flight per runtime; more are refused with `busy`. */
export const MAX_INFLIGHT_CALLS_PER_RUNTIME = 32;

/** Calls the desktop runs at once per workspace; more wait in a queue. */
export const MAX_CONCURRENT_CALLS_PER_WORKSPACE = 8;

/** Recent call results remembered by id so a re-delivered call never runs twice. */
export const RECENT_RESULTS_MAX = 2000;
export const RECENT_RESULTS_TTL_MS = 15 * 60_000;

/** File-change events are batched this long, and capped per batch (a checkout touches thousands). */
export const FILE_EVENT_BATCH_MS = 250;
export const MAX_FILE_EVENTS_PER_BATCH = 500;

/** Workspaces one device may announce. */
export const MAX_WORKSPACES_PER_DEVICE = 64;

/** Free-text sizes: names, descriptions, caller labels. */
export const MAX_NAME_CHARS = 120;
export const MAX_DESCRIPTION_CHARS = 2000;
export const MAX_LABEL_CHARS = 200;

/** A sandboxed command's proxy request head (request line and headers): a browser's are a few KB. */
export const SANDBOX_PROXY_HEAD_BYTES = 64 * 1024;
/** How long the sandbox proxy tries to reach a destination before answering 502. */
export const SANDBOX_PROXY_CONNECT_TIMEOUT_MS = 15_000;
/** Domains one workspace may allow its commands to reach, and the longest such name (DNS's limit). */
export const MAX_SANDBOX_DOMAINS = 200;
export const MAX_DOMAIN_CHARS = 253;
/** Extra paths one workspace may hide from its commands. */
export const MAX_SANDBOX_HIDE_PATHS = 200;
/** What `--token-fd` reads at most: a desktop token is under 100 bytes. */
export const MAX_TOKEN_FD_BYTES = 4096;
/** Standing allowances one workspace may hold: a person's handful of rules, bounded for a hand-edited config. */
export const MAX_ALLOWANCES_PER_WORKSPACE = 50;

/** Longest reason a person may give with a deny (it goes back to the agent in the error). */
export const MAX_DENY_REASON_CHARS = 500;

/** Missed questions (timed out, or dropped with their call) the UI is told about, newest kept. */
export const MAX_MISSED_CONFIRMATIONS = 50;

/** Entries a delete's confirmation counts (files, folders, bytes) before it says "at least". */
export const MAX_DELETE_COUNT_ENTRIES = 10_000;

/** Output the UI is sent and keeps per running command or session (the tail): enough to follow it, bounded for a chatty server. */
export const PROCESS_OUTPUT_TAIL_CHARS = 16 * 1024;

/** Finished commands and sessions the UI keeps listing (with their exit code) after they end. */
export const MAX_FINISHED_PROCESSES = 20;
/**
 * `refused` notices (calls the relay refused before they reached the desktop) per desktop
 * connection per minute, enforced by both ends: an agent retrying against a paused workspace
 * is recorded, a relay cannot flood the person's activity log. The relay counts what it left out.
 */
export const MAX_REFUSED_NOTICES_PER_MINUTE = 60;
export const REFUSED_NOTICE_WINDOW_MS = 60_000;

/**
 * What an activity entry keeps to be opened later: a write's diff, and the head and tail of a
 * command's output. Enough to see what happened; bounded so months of calls fit the rotated
 * audit files (AUDIT_MAX_BYTES each).
 */
export const MAX_AUDIT_DIFF_CHARS = 8000;
export const MAX_AUDIT_OUTPUT_HEAD_CHARS = 2000;
export const MAX_AUDIT_OUTPUT_TAIL_CHARS = 2000;
/** OAuth (MCP clients, see docs/relay.md): an access token lives an hour; its refresh token gets the next one. */
export const OAUTH_ACCESS_TOKEN_TTL_SECONDS = 60 * 60;
/** An authorization code is exchanged at once by a client that is waiting for it; a minute is plenty. */
export const OAUTH_CODE_TTL_SECONDS = 60;
/** How long a consent request waits for the person to approve it on the desktop. */
export const OAUTH_CONSENT_TTL_SECONDS = 10 * 60;
/** Longest time a person may approve an MCP client for (the choices of the consent dialog stay within it). */
export const MAX_OAUTH_APPROVAL_SECONDS = 90 * 24 * 60 * 60;
/** Characters of the short code the authorize page and the desktop both show (Crockford base32: ~40 bits). */
export const OAUTH_SHORT_CODE_CHARS = 8;
/** Redirect URIs one registered client may have. */
export const MAX_OAUTH_REDIRECT_URIS = 10;
/** Longest redirect URI or client id URL accepted (browsers and proxies balk at much longer URLs anyway). */
export const MAX_OAUTH_URL_CHARS = 2000;
