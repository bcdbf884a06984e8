import { z } from 'zod';

/**
 * The one registry of error codes: each with its HTTP status (used by the relay's
 * platform API) and a default message. Codes are a contract; never rename one.
 */
export const ERROR_CODES = {
  invalid_args: { status: 400, message: 'The arguments are not valid for this tool.' },
  invalid_request: { status: 400, message: 'The request is not valid.' },
  unknown_tool: { status: 400, message: 'There is no tool by that name.' },
  unauthorized: { status: 401, message: 'A valid token is required.' },
  forbidden: { status: 403, message: 'This token may not do that.' },
  path_outside_workspace: { status: 403, message: 'The path is outside the workspace.' },
  policy_denied: { status: 403, message: "The workspace's policy denies this tool category." },
  tool_disabled: { status: 403, message: 'This tool is switched off for the workspace.' },
  permission_denied: { status: 403, message: 'The system denied access to a file or folder inside the workspace.' },
  confirmation_denied: { status: 403, message: 'The person denied this call.' },
  short_code_mismatch: { status: 403, message: 'The code does not match the one the authorize page shows.' },
  not_found: { status: 404, message: 'Not found.' },
  session_not_found: { status: 404, message: 'There is no shell session with that id.' },
  confirmation_timeout: { status: 408, message: 'Nobody answered the confirmation in time.' },
  conflict: { status: 409, message: 'The call conflicts with the current state.' },
  already_exists: { status: 409, message: 'The target already exists.' },
  not_empty: { status: 409, message: 'The directory is not empty.' },
  runtime_paused: { status: 409, message: 'The person has paused agent access to this runtime.' },
  cancelled: { status: 409, message: 'The call was cancelled.' },
  interrupted: {
    status: 409,
    message: 'The desktop stopped while this call was running; it was not run again.',
  },
  runtime_archived: { status: 410, message: 'The runtime is archived.' },
  too_large: { status: 413, message: 'The content is too large.' },
  binary_file: { status: 415, message: 'The file is binary; read it with encoding "base64".' },
  not_a_file: { status: 422, message: 'The path is not a regular file.' },
  not_a_directory: { status: 422, message: 'The path is not a directory.' },
  no_match: { status: 422, message: 'The text to replace was not found.' },
  ambiguous_match: { status: 422, message: 'The text to replace occurs more than once.' },
  busy: { status: 429, message: 'Too many calls are in flight for this runtime.' },
  rate_limited: { status: 429, message: 'Too many requests; retry after the time the Retry-After header gives.' },
  internal: { status: 500, message: 'Something went wrong.' },
  confirmation_unavailable: { status: 503, message: 'Nobody is there to confirm this call.' },
  runtime_offline: { status: 503, message: 'The runtime is not connected.' },
  runtime_error: { status: 503, message: 'The runtime is in an error state.' },
  unavailable: { status: 503, message: 'The service is shutting down or not ready.' },
  timeout: { status: 504, message: 'The call did not finish before its deadline.' },
  unsafe_workspace_root: {
    status: 422,
    message: 'This folder cannot be a workspace: it is the whole disk, the home folder or a system folder.',
  },
  token_refused: { status: 422, message: 'The relay refused this token; the token in use was kept.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

export const errorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/**
 * Longest error message a frame or body may carry. Messages may echo a caller's path (up to
 * MAX_PATH_BYTES characters) with words around it, so errorValue shortens longer ones: a result
 * the relay's schema refused would close the desktop's whole connection.
 */
export const MAX_ERROR_MESSAGE_CHARS = 4000;

/** The error value carried by failed results, frames and HTTP bodies. */
export const toolErrorSchema = z.object({
  code: errorCodeSchema,
  message: z.string().max(MAX_ERROR_MESSAGE_CHARS),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ToolErrorValue = z.infer<typeof toolErrorSchema>;

/** The HTTP status that goes with a code. */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** Builds an error value, with the registry's default message when none is given (shortened to MAX_ERROR_MESSAGE_CHARS). */
export function errorValue(code: ErrorCode, message?: string, details?: Record<string, unknown>): ToolErrorValue {
  let text = message ?? ERROR_CODES[code].message;
  if (text.length > MAX_ERROR_MESSAGE_CHARS) text = `${text.slice(0, MAX_ERROR_MESSAGE_CHARS - 1)}…`;
  const value: ToolErrorValue = { code, message: text };
  if (details !== undefined) value.details = details;
  return value;
}

/**
 * An expected failure thrown inside a boundary and turned into an error value at its edge.
 * Unexpected failures are plain Errors and become `internal`.
 */
export class TetherError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options);
    this.name = 'TetherError';
    this.code = code;
    this.details = details;
  }
  toValue(): ToolErrorValue {
    return errorValue(this.code, this.message, this.details);
  }
}

/** Turns anything thrown into an error value; unknown errors become `internal` without leaking their text. */
export function toErrorValue(err: unknown): ToolErrorValue {
  if (err instanceof TetherError) return err.toValue();
  return errorValue('internal');
}

/** Result of an operation whose failures are expected: `{ ok: true, value }` or `{ ok: false, error }`. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ToolErrorValue };

/** Formats zod issues as one message naming each offending field, e.g. `edits.0.oldText: Required`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Turns a zod error into an `invalid_args` value whose details list the field paths. */
export function invalidArgs(error: z.ZodError, code: ErrorCode = 'invalid_args'): ToolErrorValue {
  return errorValue(code, formatIssues(error), {
    fields: error.issues
      .slice(0, 10)
      .map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
  });
}
