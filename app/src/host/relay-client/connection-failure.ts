import { CLOSE_CODES, PROTOCOL_VERSION } from '@tether/shared';

/** Why a socket ended, as noted before its `close` event. */
export interface Failure {
  reason: string;
  /** True when retrying cannot help (the token was refused). */
  final: boolean;
  /** The relay asked not to be tried again sooner than this (Retry-After). */
  retryAfterMs?: number;
  /** Something the person must act on, shown as an alert with its action (RelayStatus.alert). */
  alert?: ConnectionAlert;
  /**
   * The relay refused a frame of this desktop as too large or too complex (1009, 4413): a bug on
   * this side. Retried, but never soon (RelayClient: at least the longest backoff, doubling).
   */
  oversize?: boolean;
}

/**
 * How long the desktop waits after the relay refused its workspaces for the org's runtime limit
 * (4429): nothing changes until an admin raises the limit or runtimes are archived, so retrying
 * at the usual backoff (at most 30 s) would only knock on the relay all day.
 */
export const RUNTIME_LIMIT_RETRY_MS = 5 * 60_000;

/** `device_key_refused`: the relay refused this device's key (4412); the fix is re-pairing the device. */
export type ConnectionAlert = 'device_key_refused';

/** What a relay's close code means for reconnecting: refusals of the token or protocol are final. */
export function closeFailure(code: number, reason: string): Failure {
  // The relay's words go to the log and the UI: no control characters (escape sequences) from it.
  // eslint-disable-next-line no-control-regex
  const text = reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 123);
  const said = text ? `: ${text}` : '';
  switch (code) {
    case CLOSE_CODES.unauthorized:
      return { reason: `The relay revoked or refused the desktop token (${code}${said})`, final: true };
    case CLOSE_CODES.deviceClaimed:
      // Retrying cannot help: the relay keeps refusing until the admin revokes the other token.
      return {
        reason: `The relay says this device is registered to another desktop token (${code}); ask its admin to revoke the old token (tether-relay token revoke), then reconnect`,
        final: true,
      };
    case CLOSE_CODES.unsupportedVersion:
      return {
        reason: `The relay does not support protocol version ${PROTOCOL_VERSION} (${code}${said}); update Tether Desktop`,
        final: true,
      };
    case CLOSE_CODES.deviceKeyRefused:
      // Retrying cannot help, and it must not be silent: someone else's key may hold this device id.
      return {
        reason: `The relay refused this device's key (${code}${said})`,
        final: true,
        alert: 'device_key_refused',
      };
    case CLOSE_CODES.replaced:
      return {
        reason: `Another connection of this device took over (${code}); is Tether Desktop running twice?`,
        final: true,
      };
    case CLOSE_CODES.tooManyRuntimes:
      return {
        reason: `The relay refused this desktop's workspaces: the org is at the relay's runtime limit (${code}${said}); ask its admin to raise the limit or archive unused runtimes`,
        final: false,
        retryAfterMs: RUNTIME_LIMIT_RETRY_MS,
      };
    case CLOSE_CODES.tooComplex:
    case CLOSE_CODES.tooLarge:
      return {
        reason: `The relay refused a frame of this desktop as too large or too complex (${code}${said}); this is a bug in Tether Desktop, please report it`,
        final: false,
        oversize: true,
      };
    default:
      return { reason: `the connection closed (${code}${said})`, final: false };
  }
}

/** A network or TLS error in words for the person. */
export function describeNetworkError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && /CERT|SSL|TLS|SIGNATURE/.test(code)) {
    return `the relay's TLS certificate was refused (${code}); for a self-hosted relay, set caFile in the config`;
  }
  if (code === undefined) return `connection error: ${err.message}`;
  const why = NETWORK_ERRORS[code];
  return why !== undefined ? `cannot reach the relay: ${why} (${code})` : `cannot reach the relay (${code})`;
}

/** The usual network failures in words for the person; the code stays in brackets for whoever helps them. */
const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing answers at that address; is the relay running, and is the port right?',
  ENOTFOUND: 'the relay’s host name is not known; check the relay URL',
  EAI_AGAIN: 'the relay’s host name could not be looked up; is this computer online?',
  ETIMEDOUT: 'the relay did not answer in time',
  ECONNRESET: 'the connection was cut',
  EHOSTUNREACH: 'there is no route to the relay’s host; is this computer online?',
  ENETUNREACH: 'the network is unreachable; is this computer online?',
};
