import { z } from 'zod';
import { toolErrorSchema } from './errors.js';
import { capabilitiesSchema, idSchema } from './frames.js';
import { MAX_CALL_TIMEOUT_MS, MAX_LABEL_CHARS } from './limits.js';
import { toolNameSchema } from './tools.js';

/** Runtime states, as the relay records them. */
export const runtimeStateSchema = z.enum(['running', 'paused', 'stopped', 'error', 'archived']);
export type RuntimeState = z.infer<typeof runtimeStateSchema>;

/** A runtime as the platform API shows it. Never a filesystem path. */
export const runtimeViewSchema = z.object({
  id: idSchema,
  state: runtimeStateSchema,
  reason: z.string().optional(),
  lastSeenAt: z.string(),
  device: z.object({ id: z.string(), name: z.string(), os: z.string() }),
  workspace: z.object({ id: z.string(), name: z.string(), description: z.string() }),
  capabilities: capabilitiesSchema,
});
export type RuntimeView = z.infer<typeof runtimeViewSchema>;

/** Body of `POST /v1/runtimes/{id}/calls`. `args` is checked against the tool's schema before forwarding. */
export const callRequestSchema = z.strictObject({
  tool: toolNameSchema,
  args: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().min(1).max(MAX_CALL_TIMEOUT_MS).optional(),
  idempotencyKey: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.:-]+$/)
    .optional(),
});
export type CallRequest = z.infer<typeof callRequestSchema>;

export const callResponseSchema = z.object({ callId: z.string(), result: z.unknown() });
export const errorResponseSchema = z.object({ error: toolErrorSchema });

/** Body of `POST /v1/grants`. */
export const grantRequestSchema = z.strictObject({
  runtimeIds: z.array(idSchema).min(1).max(100),
  tools: z.array(toolNameSchema).min(1).optional(),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
  label: z.string().min(1).max(MAX_LABEL_CHARS),
});
export type GrantRequest = z.infer<typeof grantRequestSchema>;

export const grantResponseSchema = z.object({
  id: z.string(),
  token: z.string(),
  runtimeIds: z.array(z.string()),
  tools: z.array(toolNameSchema).nullable(),
  label: z.string(),
  expiresAt: z.string(),
});
export type GrantResponse = z.infer<typeof grantResponseSchema>;

/** Token prefixes: they say what a token is before any lookup. */
export const TOKEN_PREFIXES = { desktop: 'tdt_', platform: 'tpk_', grant: 'tgr_' } as const;
