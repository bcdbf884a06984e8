import { z } from 'zod';
import { errorCodeSchema, toolErrorSchema } from './errors.js';
import { idSchema, workspaceStateSchema } from './frames.js';
import { MAX_ALLOW_MINUTES, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS } from './limits.js';
import { categorySchema, policySchema } from './policy.js';
import { toolNameSchema } from './tools.js';

/**
 * The one contract between the desktop UI and the host core: request/response methods
 * named `domain:verb`, and events. Carried over a MessagePort under Electron and over an
 * authenticated local WebSocket in headless mode; both transports validate with these schemas.
 */

export const connectionStateSchema = z.enum(['disconnected', 'connecting', 'connected', 'error']);
export type ConnectionState = z.infer<typeof connectionStateSchema>;

export const workspaceViewSchema = z.object({
  id: idSchema,
  name: z.string(),
  description: z.string(),
  root: z.string(),
  policy: policySchema,
  disabledTools: z.array(toolNameSchema),
  paused: z.boolean(),
  state: workspaceStateSchema,
  reason: z.string().optional(),
  runtimeId: z.string().optional(),
  /** Until when (epoch ms) asks in this workspace are answered "allow" without asking. */
  allowUntil: z.number().optional(),
});
export type WorkspaceView = z.infer<typeof workspaceViewSchema>;

export const confirmationDetailSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('write'), path: z.string(), diff: z.string(), isNew: z.boolean(), summary: z.string() }),
  z.object({ kind: z.literal('shell'), command: z.string(), cwd: z.string() }),
  z.object({ kind: z.literal('other'), summary: z.string() }),
]);
export type ConfirmationDetail = z.infer<typeof confirmationDetailSchema>;

export const confirmationRequestSchema = z.object({
  id: idSchema,
  callId: z.string(),
  workspaceId: z.string(),
  workspaceName: z.string(),
  caller: z.string(),
  tool: toolNameSchema,
  category: categorySchema,
  detail: confirmationDetailSchema,
  createdAt: z.number(),
  expiresAt: z.number(),
});
export type ConfirmationRequest = z.infer<typeof confirmationRequestSchema>;

export const confirmationAnswerSchema = z.strictObject({
  confirmationId: idSchema,
  decision: z.enum(['allow_once', 'allow_workspace', 'deny']),
  /** For `allow_workspace`: how long asks in this workspace are allowed without asking. */
  minutes: z.number().int().min(1).max(MAX_ALLOW_MINUTES).optional(),
});
export type ConfirmationAnswer = z.infer<typeof confirmationAnswerSchema>;

/** How a call was let through or stopped, for the audit log. */
export const auditDecisionSchema = z.enum([
  'allowed',
  'confirmed',
  'remembered',
  'denied',
  'policy_denied',
  'disabled',
  'paused',
  'timeout',
  'unavailable',
  'invalid',
]);

export const auditEntrySchema = z.object({
  id: z.string(),
  time: z.string(),
  workspaceId: z.string(),
  workspaceName: z.string(),
  callId: z.string(),
  caller: z.string(),
  tool: z.string(),
  /** A short, human summary of the arguments (a path, a command), never file contents. */
  summary: z.string(),
  decision: auditDecisionSchema,
  outcome: z.enum(['ok', 'error']),
  errorCode: errorCodeSchema.optional(),
  durationMs: z.number(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export const settingsSchema = z.object({
  relayUrl: z.string(),
  deviceName: z.string(),
  launchAtLogin: z.boolean(),
  keepAwake: z.boolean(),
  connectOnStart: z.boolean(),
});
export type Settings = z.infer<typeof settingsSchema>;

export const desktopStateSchema = z.object({
  connection: z.object({
    state: connectionStateSchema,
    relayUrl: z.string(),
    reason: z.string().optional(),
    enabled: z.boolean(),
    /**
     * Something the person must act on: `device_key_refused`, the relay refused this device's key
     * (close code 4412; another install may have claimed the device id): offer `device:repair`.
     */
    alert: z.enum(['device_key_refused']).optional(),
    /**
     * When (epoch ms) the relay last told this desktop it refused a hello for this device for
     * its key: someone else has the desktop token and the device id. Cleared by a new token.
     */
    claimRefusedAt: z.number().optional(),
  }),
  /** This install; `keyFingerprint` identifies its device key (as `tether-relay device list` shows it). */
  device: z.object({ id: z.string(), name: z.string(), keyFingerprint: z.string().optional() }),
  hasToken: z.boolean(),
  /** Where the token is kept: the OS keychain, a 0600 file, or only this process's memory. */
  tokenStore: z.enum(['keychain', 'file', 'memory', 'none']),
  settings: settingsSchema,
  workspaces: z.array(workspaceViewSchema),
  pendingConfirmations: z.array(confirmationRequestSchema),
});
export type DesktopState = z.infer<typeof desktopStateSchema>;

const empty = z.strictObject({});

/** Requests: params schema and result schema per method. */
export const DESKTOP_REQUESTS = {
  'state:get': { params: empty, result: desktopStateSchema },
  'connection:set': { params: z.strictObject({ enabled: z.boolean() }), result: desktopStateSchema },
  'settings:update': {
    params: z.strictObject({
      relayUrl: z.string().url().optional(),
      token: z.string().min(1).max(500).optional(),
      deviceName: z.string().min(1).max(MAX_NAME_CHARS).optional(),
      launchAtLogin: z.boolean().optional(),
      keepAwake: z.boolean().optional(),
      connectOnStart: z.boolean().optional(),
    }),
    result: desktopStateSchema,
  },
  'workspace:add': {
    params: z.strictObject({
      root: z.string().min(1).max(4096),
      name: z.string().min(1).max(MAX_NAME_CHARS).optional(),
      description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
      policy: policySchema.optional(),
    }),
    result: workspaceViewSchema,
  },
  'workspace:update': {
    params: z.strictObject({
      id: idSchema,
      name: z.string().min(1).max(MAX_NAME_CHARS).optional(),
      description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
      policy: policySchema.optional(),
      disabledTools: z.array(toolNameSchema).optional(),
      paused: z.boolean().optional(),
      /** Ends an "allow this workspace for N minutes" now: the next change or command asks again. */
      askAgain: z.literal(true).optional(),
    }),
    result: workspaceViewSchema,
  },
  'workspace:remove': { params: z.strictObject({ id: idSchema }), result: z.object({ removed: z.boolean() }) },
  'activity:list': {
    params: z.strictObject({
      workspaceId: z.string().optional(),
      tool: z.string().optional(),
      outcome: z.enum(['ok', 'error']).optional(),
      limit: z.number().int().min(1).max(1000).default(200),
    }),
    result: z.object({ entries: z.array(auditEntrySchema) }),
  },
  'confirm:answer': { params: confirmationAnswerSchema, result: z.object({ accepted: z.boolean() }) },
  /**
   * Re-pairs this install: a new device id and a new device key, then connects. The relay sees a
   * new device (its workspaces get new runtime ids); the old device id stays with whoever holds it.
   */
  'device:repair': { params: empty, result: desktopStateSchema },
} as const;

export type DesktopMethod = keyof typeof DESKTOP_REQUESTS;
export type DesktopParams<M extends DesktopMethod> = z.input<(typeof DESKTOP_REQUESTS)[M]['params']>;
export type DesktopResult<M extends DesktopMethod> = z.output<(typeof DESKTOP_REQUESTS)[M]['result']>;

/** Events pushed by the host. */
export const DESKTOP_EVENTS = {
  'state:changed': desktopStateSchema,
  'confirm:request': confirmationRequestSchema,
  'confirm:resolved': z.object({
    confirmationId: z.string(),
    outcome: z.enum(['allowed', 'denied', 'timeout', 'cancelled']),
  }),
  'activity:appended': auditEntrySchema,
} as const;
export type DesktopEvent = keyof typeof DESKTOP_EVENTS;
export type DesktopEventPayload<E extends DesktopEvent> = z.output<(typeof DESKTOP_EVENTS)[E]>;

/** The typed API the UI programs against. Every method returns a promise. */
export interface DesktopApi {
  request<M extends DesktopMethod>(method: M, params: DesktopParams<M>): Promise<DesktopResult<M>>;
  on<E extends DesktopEvent>(event: E, listener: (payload: DesktopEventPayload<E>) => void): () => void;
}

/** Messages on the channel (both transports). */
export const channelMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('request'), id: z.number().int(), method: z.string(), params: z.unknown() }),
  z.discriminatedUnion('ok', [
    z.strictObject({ kind: z.literal('response'), id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
    z.strictObject({ kind: z.literal('response'), id: z.number().int(), ok: z.literal(false), error: toolErrorSchema }),
  ]),
  z.strictObject({ kind: z.literal('event'), event: z.string(), payload: z.unknown() }),
]);
export type ChannelMessage = z.infer<typeof channelMessageSchema>;
