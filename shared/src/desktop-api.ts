import { z } from 'zod';
import { errorCodeSchema, toolErrorSchema } from './errors.js';
import { idSchema, oauthAuthorizationSchema, oauthConsentSchema, workspaceStateSchema } from './frames.js';
import { allowanceSchema, allowanceScopeSchema } from './allowances.js';
import {
  MAX_ALLOW_MINUTES,
  MAX_AUDIT_DIFF_CHARS,
  MAX_AUDIT_OUTPUT_HEAD_CHARS,
  MAX_AUDIT_OUTPUT_TAIL_CHARS,
  MAX_DENY_REASON_CHARS,
  MAX_DESCRIPTION_CHARS,
  MAX_DOMAIN_CHARS,
  MAX_NAME_CHARS,
  MAX_OAUTH_APPROVAL_SECONDS,
  MAX_SANDBOX_DOMAINS,
  MAX_SANDBOX_HIDE_PATHS,
  MAX_WORKSPACES_PER_DEVICE,
  OAUTH_SHORT_CODE_CHARS,
} from './limits.js';
import { categorySchema, policySchema } from './policy.js';
import { toolNameSchema } from './tools.js';

/**
 * The one contract between the desktop UI and the host core: request/response methods
 * named `domain:verb`, and events. Carried over a MessagePort under Electron and over an
 * authenticated local WebSocket in headless mode; both transports validate with these schemas.
 */

export const connectionStateSchema = z.enum(['disconnected', 'connecting', 'connected', 'error']);
export type ConnectionState = z.infer<typeof connectionStateSchema>;

/** A domain a workspace's commands may reach: `example.com` exactly, or `*.example.com` for its subdomains. */
export const domainSchema = z
  .string()
  .max(MAX_DOMAIN_CHARS)
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i,
    'a domain name like example.com or *.example.com',
  );

/** How a workspace's commands are confined, as the person sees it (and as the confirmation says). */
export const sandboxViewSchema = z.object({
  /** What the person chose: the OS sandbox (default) or off. */
  setting: z.enum(['os', 'off']),
  /** Whether commands really run sandboxed now (false when off, or when the OS has no sandbox). */
  sandboxed: z.boolean(),
  engine: z.enum(['bubblewrap', 'seatbelt']).nullable(),
  /** Why commands are not sandboxed, in words. */
  reason: z.string().optional(),
  /** The network commands get; `domains` means only `allowDomains`. Unfiltered when not sandboxed. */
  network: z.enum(['internet', 'none', 'domains']),
  allowDomains: z.array(z.string()),
  /** Why the network is narrower than chosen, if it is. */
  networkNote: z.string().optional(),
  /** Every place hidden from commands (the standard secret places, Tether's files, other workspaces, extras). */
  hidden: z.array(z.string()),
  /** The workspace's own extra hidden paths, as configured. */
  hidePaths: z.array(z.string()),
});
export type SandboxView = z.infer<typeof sandboxViewSchema>;

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
  /** The standing allowances still live, each with what it covers and until when. */
  allowances: z.array(allowanceSchema).default([]),
  sandbox: sandboxViewSchema.optional(),
});
export type WorkspaceView = z.infer<typeof workspaceViewSchema>;

export const confirmationDetailSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('write'), path: z.string(), diff: z.string(), isNew: z.boolean(), summary: z.string() }),
  z.object({
    kind: z.literal('shell'),
    command: z.string(),
    cwd: z.string(),
    /** Where the command runs: sandboxed or not, and which network it gets. */
    sandbox: z
      .object({
        sandboxed: z.boolean(),
        engine: z.enum(['bubblewrap', 'seatbelt']).nullable(),
        reason: z.string().optional(),
        network: z.enum(['internet', 'none', 'domains']),
        allowDomains: z.array(z.string()),
        summary: z.string(),
      })
      .optional(),
  }),
  z.object({ kind: z.literal('other'), summary: z.string() }),
  /** A delete: what is inside (counted up to MAX_DELETE_COUNT_ENTRIES; `capped` past it) and that it is permanent. */
  z.object({
    kind: z.literal('delete'),
    path: z.string(),
    what: z.enum(['file', 'link', 'empty folder', 'folder']),
    files: z.number().int(),
    folders: z.number().int(),
    bytes: z.number(),
    capped: z.boolean(),
    permanent: z.boolean(),
  }),
  /** Input typed into a live shell session, with the session's own command and cwd (null: no such session). */
  z.object({
    kind: z.literal('shell_input'),
    sessionId: z.string(),
    session: z.object({ command: z.string(), cwd: z.string() }).nullable(),
    input: z.string(),
  }),
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
  /** When its countdown ends. A question waiting behind another has not started it yet (`startedAt` absent). */
  expiresAt: z.number(),
  /** When its countdown started: when it became the question shown first. */
  startedAt: z.number().optional(),
  /** The standing allowances the person may choose for this call, narrowest last; each covers this call. */
  offers: z.array(allowanceScopeSchema).default([]),
});
export type ConfirmationRequest = z.infer<typeof confirmationRequestSchema>;

export const confirmationAnswerSchema = z.strictObject({
  confirmationId: idSchema,
  decision: z.enum(['allow_once', 'allow_rule', 'deny']),
  /** For `allow_rule`: which of the request's `offers`. */
  offer: z.number().int().min(0).max(20).optional(),
  /** For `allow_rule`: for how many minutes, unless `lasting`. */
  minutes: z.number().int().min(1).max(MAX_ALLOW_MINUTES).optional(),
  /** For `allow_rule`: until the person revokes it (kept across restarts). */
  lasting: z.literal(true).optional(),
  /** For `deny`: a few words for the agent, returned in the `confirmation_denied` error. */
  reason: z.string().max(MAX_DENY_REASON_CHARS).optional(),
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
  /** For a call let through by a standing allowance (`remembered`): which one, and what it covers. */
  rule: z.object({ id: z.string(), covers: z.string() }).optional(),
  /** Set when the relay refused the call before it reached this desktop (and told it so). */
  refusedAt: z.literal('relay').optional(),
  /** A command's exit code (`null`: ended by a signal); absent for other tools. */
  exitCode: z.number().int().nullable().optional(),
  /** Of `durationMs`, the time spent waiting for the person's answer. */
  waitMs: z.number().optional(),
  /** What can be opened: the diff of a write, the head and tail of a command's output, the answer given. */
  detail: z
    .object({
      diff: z.string().max(MAX_AUDIT_DIFF_CHARS).optional(),
      diffTruncated: z.boolean().optional(),
      outputHead: z.string().max(MAX_AUDIT_OUTPUT_HEAD_CHARS).optional(),
      outputTail: z.string().max(MAX_AUDIT_OUTPUT_TAIL_CHARS).optional(),
      /** Characters of output left out between head and tail. */
      outputOmitted: z.number().int().min(0).optional(),
      answer: z.string().max(500).optional(),
    })
    .optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** A question that went unanswered, kept so it never disappears silently. */
export const missedConfirmationSchema = z.object({
  id: z.string(),
  workspaceName: z.string(),
  caller: z.string(),
  tool: toolNameSchema,
  /** What it was about: a path, a command. */
  summary: z.string(),
  askedAt: z.number(),
  endedAt: z.number(),
  /** `timeout`: nobody answered in time; `dropped`: the call went away first (cancelled, deadline, host stopping). */
  outcome: z.enum(['timeout', 'dropped']),
});
export type MissedConfirmation = z.infer<typeof missedConfirmationSchema>;

/** A command or shell session an agent started, as the UI shows it: with its output's tail, live. */
export const processViewSchema = z.object({
  id: z.string(),
  workspaceId: z.string(),
  kind: z.enum(['command', 'session']),
  command: z.string(),
  /** Workspace-relative cwd. */
  cwd: z.string(),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  /** Null while it runs, or when it ended by a signal (stopped, timed out). */
  exitCode: z.number().nullable(),
  /** The last PROCESS_OUTPUT_TAIL_CHARS characters of its output. */
  output: z.string(),
  /** The person pressed Stop. */
  stopped: z.boolean(),
});
export type ProcessView = z.infer<typeof processViewSchema>;

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
  /** Questions nobody answered (timed out, or dropped with their call), newest first, until dismissed. */
  missedConfirmations: z.array(missedConfirmationSchema).default([]),
  /** The duration last chosen for a standing allowance: minutes, or `lasting`. */
  lastAllowDuration: z.union([z.number().int().min(1).max(MAX_ALLOW_MINUTES), z.literal('lasting')]).default(15),
  /**
   * Where the host runs: under the desktop app (`desktop`), or as a plain process (`headless`),
   * where launch at login and keep awake have nothing to act on.
   */
  hostMode: z.enum(['desktop', 'headless']).optional(),
  /** MCP clients asking for access (OAuth), waiting for the person's answer. */
  oauthRequests: z.array(oauthConsentSchema),
  /** The org's approved MCP clients, as the relay last listed them. */
  oauthClients: z.array(oauthAuthorizationSchema),
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
    /** `warnings`: sentences for the person, e.g. the folder is inside another workspace. */
    result: workspaceViewSchema.extend({ warnings: z.array(z.string()).optional() }),
  },
  'workspace:update': {
    params: z.strictObject({
      id: idSchema,
      name: z.string().min(1).max(MAX_NAME_CHARS).optional(),
      description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
      policy: policySchema.optional(),
      disabledTools: z.array(toolNameSchema).optional(),
      paused: z.boolean().optional(),
      sandbox: z.enum(['os', 'off']).optional(),
      network: z.enum(['internet', 'none', 'domains']).optional(),
      allowDomains: z.array(domainSchema).max(MAX_SANDBOX_DOMAINS).optional(),
      hidePaths: z.array(z.string().min(1).max(4096)).max(MAX_SANDBOX_HIDE_PATHS).optional(),
      /** Revokes every standing allowance of the workspace now: the next change or command asks again. */
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
      /** Only entries with one of these decisions (e.g. `denied`: denied by you; `remembered`: under a standing approval). */
      decisions: z.array(auditDecisionSchema).min(1).max(20).optional(),
    }),
    result: z.object({ entries: z.array(auditEntrySchema) }),
  },
  'confirm:answer': { params: confirmationAnswerSchema, result: z.object({ accepted: z.boolean() }) },
  /** Ends one standing allowance now. */
  'allowance:revoke': {
    params: z.strictObject({ workspaceId: idSchema, id: z.string().min(1).max(64) }),
    result: z.object({ revoked: z.boolean() }),
  },
  /** Clears the "you missed N questions" notice. */
  'confirm:dismissMissed': { params: empty, result: z.object({ dismissed: z.number() }) },
  /** Commands and shell sessions running now, and the last ones that ended. */
  'process:list': { params: empty, result: z.object({ processes: z.array(processViewSchema) }) },
  /** Stops a running command or session (its whole process tree); no question asked. */
  'process:stop': {
    params: z.strictObject({ id: z.string().min(1).max(64) }),
    result: z.object({ stopped: z.boolean() }),
  },
  /**
   * Approves an MCP client's request (after the person typed the code its authorize page shows)
   * for some of this device's workspaces and tool categories, for `ttlSeconds`; or denies it.
   */
  'oauth:answer': {
    params: z.discriminatedUnion('approve', [
      z.strictObject({
        requestId: idSchema,
        approve: z.literal(true),
        shortCode: z
          .string()
          .min(1)
          .max(OAUTH_SHORT_CODE_CHARS * 2),
        workspaceIds: z.array(idSchema).min(1).max(MAX_WORKSPACES_PER_DEVICE),
        categories: z.array(categorySchema).min(1).max(3),
        ttlSeconds: z.number().int().min(60).max(MAX_OAUTH_APPROVAL_SECONDS),
      }),
      z.strictObject({ requestId: idSchema, approve: z.literal(false) }),
    ]),
    result: z.object({ sent: z.boolean() }),
  },
  /** Revokes an approved MCP client: its tokens stop working at once. */
  'oauth:revoke': { params: z.strictObject({ authorizationId: idSchema }), result: z.object({ sent: z.boolean() }) },
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
  'process:started': processViewSchema,
  /** New output of a running command or session (at most PROCESS_OUTPUT_TAIL_CHARS per event). */
  'process:output': z.object({ id: z.string(), chunk: z.string() }),
  'process:ended': processViewSchema,
  /** An MCP client asks for access: the consent dialog opens. */
  'oauth:request': oauthConsentSchema,
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

/** One line on what a confirmation is about (a path, a command), for notices and notifications. */
export function confirmationSummary(detail: ConfirmationDetail): string {
  switch (detail.kind) {
    case 'write':
      return `${detail.isNew ? 'create' : 'change'} ${detail.path}`;
    case 'shell':
      return detail.command.split('\n')[0] ?? '';
    case 'delete':
      return `delete ${detail.what} ${detail.path}`;
    case 'shell_input':
      return `type into session ${detail.sessionId}: ${detail.input.split('\n')[0] ?? ''}`;
    case 'other':
      return detail.summary;
  }
}
