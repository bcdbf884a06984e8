import { z } from 'zod';

/** What a tool does, which decides how the workspace policy treats it. */
export const categorySchema = z.enum(['read', 'write', 'shell']);
export type Category = z.infer<typeof categorySchema>;
export const CATEGORIES: readonly Category[] = categorySchema.options;

/** What the policy says about a category. */
export const decisionSchema = z.enum(['allow', 'ask', 'deny']);
export type Decision = z.infer<typeof decisionSchema>;

/** A workspace policy: one decision per category. */
export const policySchema = z.strictObject({
  read: decisionSchema,
  write: decisionSchema,
  shell: decisionSchema,
});
export type Policy = z.infer<typeof policySchema>;

/** Defaults of DESIGN.md: reads run, writes and shell commands ask. */
export const DEFAULT_POLICY: Policy = Object.freeze({ read: 'allow', write: 'ask', shell: 'ask' });

/**
 * Parses the command-line form `read=allow,write=ask,shell=ask`. Categories left out keep
 * their defaults. Throws with a message naming the bad part.
 */
export function parsePolicyString(text: string, base: Policy = DEFAULT_POLICY): Policy {
  const policy: Policy = { ...base };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, value, ...rest] = part.split('=');
    const category = categorySchema.safeParse(key?.trim());
    const decision = decisionSchema.safeParse(value?.trim());
    if (rest.length > 0 || !category.success || !decision.success) {
      throw new Error(
        `Bad policy part "${part}": expected CATEGORY=DECISION with CATEGORY read|write|shell and DECISION allow|ask|deny`,
      );
    }
    policy[category.data] = decision.data;
  }
  return policy;
}

/** The command-line form of a policy. */
export function formatPolicy(policy: Policy): string {
  return CATEGORIES.map((c) => `${c}=${policy[c]}`).join(',');
}
