import { z } from 'zod';
import { toolErrorSchema, type ToolErrorValue, formatIssues } from './errors.js';
import {
  MAX_DESCRIPTION_CHARS,
  MAX_FRAME_BYTES,
  MAX_PATH_BYTES,
  MAX_LABEL_CHARS,
  MAX_NAME_CHARS,
  MAX_WORKSPACES_PER_DEVICE,
  MAX_FILE_EVENTS_PER_BATCH,
  MAX_OAUTH_APPROVAL_SECONDS,
  OAUTH_SHORT_CODE_CHARS,
} from './limits.js';
import { scanJson, type JsonScan } from './json-bounds.js';
import { categorySchema, policySchema } from './policy.js';
import { toolNameSchema } from './tools.js';

/** Ids made by either side: opaque, printable, bounded. */
export const idSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'must be letters, digits or _.:-');

/** What a workspace offers: its policy and the tools that are switched on. */
export const capabilitiesSchema = z.object({
  policy: policySchema,
  tools: z.array(toolNameSchema),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;

/** A workspace's health as the desktop sees it. `paused` is the person's choice. */
export const workspaceStateSchema = z.enum(['running', 'paused', 'error']);
export type WorkspaceState = z.infer<typeof workspaceStateSchema>;

/** A workspace as announced to the relay; never its root path (the platform must not learn where it is). */
export const workspaceAnnouncementSchema = z.object({
  workspaceId: idSchema,
  name: z.string().min(1).max(MAX_NAME_CHARS),
  description: z.string().max(MAX_DESCRIPTION_CHARS).default(''),
  state: workspaceStateSchema,
  reason: z.string().max(1000).optional(),
  capabilities: capabilitiesSchema,
});
export type WorkspaceAnnouncement = z.infer<typeof workspaceAnnouncementSchema>;

export const deviceSchema = z.object({
  deviceId: idSchema,
  name: z.string().min(1).max(MAX_NAME_CHARS),
  os: z.string().min(1).max(100),
});
export type Device = z.infer<typeof deviceSchema>;

/** Unpadded base64url of `bytes` bytes: exactly this many characters, nothing else. */
function base64urlOf(bytes: number) {
  const chars = Math.ceil((bytes * 4) / 3);
  return z
    .string()
    .length(chars)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be unpadded base64url');
}

/** A device's Ed25519 public key: the raw 32 bytes, base64url. */
export const devicePublicKeySchema = base64urlOf(32);
/** The relay's challenge for one connection: 32 random bytes, base64url. */
export const challengeNonceSchema = base64urlOf(32);

/**
 * A hello's proof that the desktop holds its device's private key: the public key, the relay
 * host it signed for (its connect URL's host, so the relay can say what did not match) and an
 * Ed25519 signature (64 bytes, base64url) of `deviceProofMessage(...)` for this connection.
 */
export const deviceProofSchema = z.strictObject({
  publicKey: devicePublicKeySchema,
  relayHost: z.string().min(1).max(300),
  signature: base64urlOf(64),
});
export type DeviceProof = z.infer<typeof deviceProofSchema>;

/**
 * The exact text a device signs in its hello. It names the relay as the desktop reached it (the
 * connect URL's host, lower case, port unless the scheme's default), the device id, the relay's
 * nonce for this one connection and the public key: a signature is good for one connection to
 * one relay, so neither a replay nor a relay passing the challenge on to another relay gets in.
 */
export function deviceProofMessage(parts: {
  relayHost: string;
  deviceId: string;
  nonce: string;
  publicKey: string;
}): string {
  return JSON.stringify([
    'tether-device-proof/1',
    parts.relayHost.toLowerCase(),
    parts.deviceId,
    parts.nonce,
    parts.publicKey,
  ]);
}

/**
 * How a device key is shown to people (the desktop's connection card, `tether-relay device
 * list`): its first 16 characters in groups of four, enough to tell two keys apart by eye.
 */
export function deviceKeyFingerprint(publicKey: string): string {
  return (publicKey.slice(0, 16).match(/.{1,4}/g) ?? []).join('-');
}

// ---- app → relay ----

export const helloFrame = z.strictObject({
  type: z.literal('hello'),
  protocolVersion: z.number().int().min(1),
  device: deviceSchema,
  appVersion: z.string().min(1).max(50),
  workspaces: z.array(workspaceAnnouncementSchema).max(MAX_WORKSPACES_PER_DEVICE),
  /** Proof of the device key (answering this connection's `challenge`); absent only from desktops older than device keys. */
  proof: deviceProofSchema.optional(),
});

export const workspacesFrame = z.strictObject({
  type: z.literal('workspaces'),
  workspaces: z.array(workspaceAnnouncementSchema).max(MAX_WORKSPACES_PER_DEVICE),
});

export const progressFrame = z.strictObject({
  type: z.literal('progress'),
  id: idSchema,
  status: z.enum(['awaiting_confirmation', 'running', 'output']),
  /** Output text for `output`; UTF-8 safe (never splits a character). */
  chunk: z.string().optional(),
});

export const resultFrame = z.discriminatedUnion('ok', [
  z.strictObject({ type: z.literal('result'), id: idSchema, ok: z.literal(true), value: z.unknown() }),
  z.strictObject({ type: z.literal('result'), id: idSchema, ok: z.literal(false), error: toolErrorSchema }),
]);

export const fileChangeSchema = z.object({
  path: z.string().max(MAX_PATH_BYTES),
  change: z.enum(['add', 'change', 'unlink', 'addDir', 'unlinkDir']),
});
export type FileChange = z.infer<typeof fileChangeSchema>;

export const appEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('files'),
    workspaceId: idSchema,
    changes: z.array(fileChangeSchema).max(MAX_FILE_EVENTS_PER_BATCH),
    /** Changes left out of this batch because it was full. */
    dropped: z.number().int().min(0).default(0),
  }),
  z.strictObject({
    kind: z.literal('health'),
    workspaceId: idSchema,
    state: workspaceStateSchema,
    reason: z.string().max(1000).optional(),
  }),
]);
export type AppEvent = z.infer<typeof appEventSchema>;

export const eventFrame = z.strictObject({
  type: z.literal('event'),
  events: z.array(appEventSchema).min(1).max(100),
});

/**
 * The person's answer to an `oauth_consent` (approve: which of this device's workspaces, which
 * tool categories, for how long). The relay mints nothing beyond it, and only for workspaces this
 * connection announced. `shortCode` is the code the person checked against the authorize page.
 */
export const oauthAnswerFrame = z.discriminatedUnion('approve', [
  z.strictObject({
    type: z.literal('oauth_answer'),
    requestId: idSchema,
    approve: z.literal(true),
    shortCode: z.string().length(OAUTH_SHORT_CODE_CHARS),
    workspaceIds: z.array(idSchema).min(1).max(MAX_WORKSPACES_PER_DEVICE),
    categories: z.array(categorySchema).min(1).max(3),
    ttlSeconds: z.number().int().min(60).max(MAX_OAUTH_APPROVAL_SECONDS),
  }),
  z.strictObject({ type: z.literal('oauth_answer'), requestId: idSchema, approve: z.literal(false) }),
]);

/** Revokes an approved MCP client of the org (its tokens stop working at once). */
export const oauthRevokeFrame = z.strictObject({ type: z.literal('oauth_revoke'), authorizationId: idSchema });

// ---- relay → app ----

export const runtimeBindingSchema = z.object({ workspaceId: idSchema, runtimeId: idSchema });

export const welcomeFrame = z.strictObject({
  type: z.literal('welcome'),
  sessionId: idSchema,
  runtimes: z.array(runtimeBindingSchema),
  limits: z.object({
    maxFrameBytes: z.number().int().positive(),
    maxInFlightPerRuntime: z.number().int().positive(),
  }),
  heartbeatIntervalMs: z.number().int().positive(),
});

/** Sent after a `workspaces` frame: the runtime ids of the workspaces now announced. */
export const runtimesFrame = z.strictObject({
  type: z.literal('runtimes'),
  runtimes: z.array(runtimeBindingSchema),
});

export const callFrame = z.strictObject({
  type: z.literal('call'),
  id: idSchema,
  runtimeId: idSchema,
  workspaceId: idSchema,
  tool: toolNameSchema,
  /** Validated again by the desktop against the tool's schema: the relay is not trusted. */
  args: z.unknown(),
  /** Epoch milliseconds after which the relay no longer waits for the result. */
  deadline: z.number().int().positive(),
  /** Who asks, for the person's eyes (a grant's label, a platform key's name). */
  caller: z.string().max(MAX_LABEL_CHARS),
  /**
   * Set on a retry of an idempotency key the relay's call log knows: epoch milliseconds of its
   * first attempt. A write or shell call the desktop no longer knows and whose first attempt is
   * before what its journal still covers is refused with `idempotency_expired`, never run.
   */
  firstAt: z.number().int().positive().optional(),
});

/**
 * Asks for the result of a call the desktop was given before (`GET /v1/runtimes/{id}/calls/{callId}`):
 * answered with a `result` frame of that id (when the call ends, if it is running), or `not_found`
 * when the desktop keeps nothing of it. Never runs anything.
 */
export const lookupFrame = z.strictObject({
  type: z.literal('lookup'),
  id: idSchema,
  runtimeId: idSchema,
  workspaceId: idSchema,
});

export const cancelFrame = z.strictObject({
  type: z.literal('cancel'),
  id: idSchema,
  reason: z.string().max(500).optional(),
});

/**
 * The relay's first frame on every connection, before the desktop's `hello`: the nonce the
 * hello's device proof signs.
 */
export const challengeFrame = z.strictObject({
  type: z.literal('challenge'),
  nonce: challengeNonceSchema,
});

/**
 * Something the relay tells a connected desktop about its device: `device_claim_refused`, a
 * hello with this device id was refused because it did not prove this device's key (someone
 * has the desktop token and the device id). `at` is when (ISO 8601).
 */
export const noticeFrame = z.strictObject({
  type: z.literal('notice'),
  kind: z.enum(['device_claim_refused']),
  at: z.string().max(40),
});

/**
 * A call the relay refused before it reached the desktop (the workspace paused, the tool
 * switched off, its category denied), so the person's activity log has every call. Only
 * informational: the desktop records it and never acts on it; at most
 * MAX_REFUSED_NOTICES_PER_MINUTE per connection, `dropped` counting those left out before it.
 */
export const refusedFrame = z.strictObject({
  type: z.literal('refused'),
  /** The call's id at the relay. */
  id: idSchema,
  runtimeId: idSchema,
  workspaceId: idSchema,
  tool: toolNameSchema,
  caller: z.string().max(MAX_LABEL_CHARS),
  code: z.enum(['runtime_paused', 'tool_disabled', 'policy_denied']),
  /** Epoch milliseconds of the refusal. */
  at: z.number().int().positive(),
  dropped: z.number().int().min(0).max(1_000_000).default(0),
});

/**
 * An MCP client asks for access (OAuth authorize page open in someone's browser). The desktop
 * shows it; the person checks that `shortCode` is the one the page shows before approving.
 * `runtimeId` is set when the client asked for one runtime's MCP URL (only that one may be chosen).
 */
export const oauthConsentSchema = z.strictObject({
  requestId: idSchema,
  clientId: z.string().max(2000),
  clientName: z.string().max(MAX_NAME_CHARS),
  /** Where the browser will be sent back: the host the person should recognise (claude.ai, chatgpt.com). */
  redirectHost: z.string().max(300),
  shortCode: z.string().length(OAUTH_SHORT_CODE_CHARS),
  runtimeId: idSchema.nullable(),
  /** Categories the client asked for with `scope` (a suggestion; the person decides). */
  requestedCategories: z.array(categorySchema).max(3),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
});
export type OAuthConsent = z.infer<typeof oauthConsentSchema>;

/** An approved MCP client of the org, as the relay lists it. */
export const oauthAuthorizationSchema = z.strictObject({
  id: idSchema,
  clientId: z.string().max(2000),
  clientName: z.string().max(MAX_NAME_CHARS),
  redirectHost: z.string().max(300),
  runtimeIds: z.array(idSchema),
  categories: z.array(categorySchema),
  /** Who approved it: a device id, or `platform:<key id>` for an admin's approval. */
  approvedBy: z.string().max(200),
  createdAt: z.string(),
  expiresAt: z.string(),
});
export type OAuthAuthorization = z.infer<typeof oauthAuthorizationSchema>;

export const oauthConsentFrame = z.strictObject({ type: z.literal('oauth_consent'), consent: oauthConsentSchema });

/** A consent request is settled (approved or denied anywhere, expired): stop showing it. */
export const oauthConsentClosedFrame = z.strictObject({
  type: z.literal('oauth_consent_closed'),
  requestId: idSchema,
  outcome: z.enum(['approved', 'denied', 'expired']),
});

/** The org's approved MCP clients, sent after welcome and whenever they change. */
export const oauthAuthorizationsFrame = z.strictObject({
  type: z.literal('oauth_authorizations'),
  authorizations: z.array(oauthAuthorizationSchema).max(1000),
});

export const appFrameSchema = z.discriminatedUnion('type', [
  helloFrame,
  workspacesFrame,
  progressFrame,
  resultFrame,
  eventFrame,
  oauthAnswerFrame,
  oauthRevokeFrame,
]);
export const relayFrameSchema = z.discriminatedUnion('type', [
  welcomeFrame,
  runtimesFrame,
  callFrame,
  cancelFrame,
  lookupFrame,
  refusedFrame,
  oauthConsentFrame,
  oauthConsentClosedFrame,
  oauthAuthorizationsFrame,
  challengeFrame,
  noticeFrame,
]);

export type HelloFrame = z.infer<typeof helloFrame>;
export type WorkspacesFrame = z.infer<typeof workspacesFrame>;
export type ProgressFrame = z.infer<typeof progressFrame>;
export type ResultFrame = z.infer<typeof resultFrame>;
export type EventFrame = z.infer<typeof eventFrame>;
export type WelcomeFrame = z.infer<typeof welcomeFrame>;
export type RuntimesFrame = z.infer<typeof runtimesFrame>;
export type CallFrame = z.infer<typeof callFrame>;
export type CancelFrame = z.infer<typeof cancelFrame>;
export type LookupFrame = z.infer<typeof lookupFrame>;
export type RefusedFrame = z.infer<typeof refusedFrame>;
export type OAuthAnswerFrame = z.infer<typeof oauthAnswerFrame>;
export type OAuthRevokeFrame = z.infer<typeof oauthRevokeFrame>;
export type OAuthConsentFrame = z.infer<typeof oauthConsentFrame>;
export type ChallengeFrame = z.infer<typeof challengeFrame>;
export type NoticeFrame = z.infer<typeof noticeFrame>;
export type AppFrame = z.infer<typeof appFrameSchema>;
export type RelayFrame = z.infer<typeof relayFrameSchema>;

/**
 * WebSocket close codes (4000–4999 are the application's own). Both ends rely on them:
 * the desktop does not reconnect after an auth or protocol refusal.
 */
export const CLOSE_CODES = {
  /** The relay is shutting down; reconnect. */
  goingAway: 1001,
  /** Frame not JSON, unknown type, or failing its schema. */
  protocolError: 4400,
  /** Token revoked while connected. */
  unauthorized: 4401,
  /**
   * The hello's deviceId is registered to another desktop token of the org that is still valid:
   * a token cannot take over (and knock off) another install's device. Final: revoking the old
   * token lets this one take the device over on its next connection.
   */
  deviceClaimed: 4403,
  /** Protocol version not supported. */
  unsupportedVersion: 4406,
  /** A newer connection of the same device took over. */
  replaced: 4409,
  /** A frame over MAX_FRAME_BYTES (ws itself uses 1009 when maxPayload trips). */
  tooLarge: 1009,
  /** No heartbeat answered. */
  heartbeatTimeout: 4408,
  /**
   * A frame nested deeper than MAX_JSON_DEPTH or holding more than MAX_JSON_KEYS keys: refused
   * from its raw text, before it is parsed (JSON.parse of a deep frame stalls the whole process).
   */
  tooComplex: 4413,
  /** The announced workspaces would take the org past the relay's runtime limit (maxRuntimesPerOrg). */
  tooManyRuntimes: 4429,
  /** The first frame was not `hello`, or `hello` came twice. */
  unexpectedFrame: 4422,
  /**
   * The hello's device proof failed: its signature does not verify for this connection (a
   * replay, another relay's challenge), or the device id is bound to another device key (or has
   * one and the hello brings none). Final: the desktop shows it and offers to re-pair (a new
   * device id and key); an admin can also forget the device's key (`tether-relay device forget`).
   */
  deviceKeyRefused: 4412,
} as const;

/** Node's Buffer where there is one (the relay, the desktop host); absent in a browser. */
const nodeBuffer = (globalThis as { Buffer?: { byteLength(text: string, encoding: 'utf8'): number } }).Buffer;

/**
 * Byte length of a string in UTF-8: natively where node:buffer exists (a 2 MiB result counted in
 * JS, one char code at a time, took 9 ms of the desktop's CPU per read), else counted here.
 */
export function utf8ByteLength(text: string): number {
  return nodeBuffer !== undefined ? nodeBuffer.byteLength(text, 'utf8') : countUtf8Bytes(text);
}

/** Byte length of a string in UTF-8, counted without node:buffer (exported for its test). */
export function countUtf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * A parsed frame, with where its top-level object and array values lie in the text it came
 * from (JsonScan.spans): a relay can pass a result's value on as the desktop wrote it.
 */
export type ParsedFrame<T> =
  { ok: true; frame: T; spans: JsonScan['spans'] } | { ok: false; error: ToolErrorValue; closeCode: number };

function parseWith<T>(schema: z.ZodType<T>, text: string, maxBytes: number): ParsedFrame<T> {
  const tooLarge = (): ParsedFrame<T> => ({
    ok: false,
    closeCode: CLOSE_CODES.tooLarge,
    error: { code: 'too_large', message: `frame exceeds ${maxBytes} bytes` },
  });
  if (text.length > maxBytes) return tooLarge();
  // The bounds scan first: it stops at the first level too deep, where the byte count reads all.
  const { violation: bounds, spans } = scanJson(text);
  if (bounds !== null) {
    return {
      ok: false,
      closeCode: CLOSE_CODES.tooComplex,
      error: { code: 'too_large', message: `frame refused: ${bounds.message}` },
    };
  }
  // Fewer than maxBytes/3 characters cannot be more than maxBytes bytes: no need to count.
  if (text.length * 3 > maxBytes && utf8ByteLength(text) > maxBytes) return tooLarge();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {
      ok: false,
      closeCode: CLOSE_CODES.protocolError,
      error: { code: 'invalid_request', message: 'frame is not valid JSON' },
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      closeCode: CLOSE_CODES.protocolError,
      error: { code: 'invalid_request', message: `bad frame: ${formatIssues(parsed.error)}` },
    };
  }
  return { ok: true, frame: parsed.data, spans };
}

/** Parses and validates a frame sent by the app (used by the relay). */
export function parseAppFrame(text: string, maxBytes: number = MAX_FRAME_BYTES): ParsedFrame<AppFrame> {
  return parseWith(appFrameSchema, text, maxBytes);
}

/** Parses and validates a frame sent by the relay (used by the app, which does not trust the relay). */
export function parseRelayFrame(text: string, maxBytes: number = MAX_FRAME_BYTES): ParsedFrame<RelayFrame> {
  return parseWith(relayFrameSchema, text, maxBytes);
}
