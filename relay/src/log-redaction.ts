import type { IncomingMessage } from 'node:http';
import { TOKEN_PREFIXES } from '@tether/shared';

/** A token of any kind the relay issues, wherever it appears in a text (a URL, a message, a body). */
const TOKEN_PATTERN = new RegExp(`(?:${Object.values(TOKEN_PREFIXES).join('|')})[A-Za-z0-9_-]*`, 'g');

/** What replaces a secret in a log line. */
export const REDACTED = '[redacted]';

/** The text with every relay token (`tdt_…`, `tpk_…`, `tgr_…`) replaced by `[redacted]`. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_PATTERN, REDACTED);
}

/**
 * A request URL fit for a log: its query string is replaced (a client may put a token or other
 * secret there; the relay refuses `?token=` but the refusal was logged with it), and any token
 * left in the path goes too.
 */
export function redactUrl(url: string | undefined): string {
  if (url === undefined) return '';
  const query = url.indexOf('?');
  return redactTokens(query < 0 ? url : `${url.slice(0, query)}?${REDACTED}`);
}

/** The `req` serializer of the relay's logger: Fastify's fields, with the URL redacted. */
export function serializeRequest(req: {
  method?: string;
  url?: string;
  hostname?: string;
  ip?: string;
  raw?: IncomingMessage;
  socket?: { remotePort?: number | undefined };
}): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.hostname,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** How deep a chain of `cause`s is followed in a log line. */
const MAX_CAUSE_DEPTH = 3;

/**
 * The `err` serializer of the relay's logger: an error's type, message, stack, and those of its
 * own properties that are plain values (a code, a status, PostgreSQL's severity and routine),
 * with its `cause` the same way. Object-valued properties are left out: pino's standard
 * serializer copies them all, and an error of the PostgreSQL driver carries its whole client,
 * with the connection's parameters and the server's cancel key.
 */
export function serializeError(
  err: unknown,
  depth = 0,
): { type: string; message: string; stack: string; [key: string]: unknown } {
  // Something thrown that is no Error (a string, a number): its text, which the line's redaction still sees.
  if (!(err instanceof Error)) return { type: typeof err, message: String(err), stack: '' };
  const out = { type: err.constructor.name, message: err.message, stack: err.stack ?? '' } as {
    type: string;
    message: string;
    stack: string;
    [key: string]: unknown;
  };
  for (const [key, value] of Object.entries(err)) {
    if (key in out) continue;
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      out[key] = value;
  }
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/**
 * Pino options that keep secrets out of every line: headers that carry them are censored by
 * path, request URLs lose their query string, and the last step before a line is written
 * replaces any relay token left anywhere in it (an error message echoing a URL, a header
 * logged under another name), so one careless log call cannot leak a credential.
 */
export const REDACTING_LOGGER_OPTIONS = {
  redact: {
    paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'authorization'],
    censor: REDACTED,
  },
  serializers: { req: serializeRequest, err: serializeError },
  hooks: { streamWrite: redactTokens },
};
