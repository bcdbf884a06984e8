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
  serializers: { req: serializeRequest },
  hooks: { streamWrite: redactTokens },
};
