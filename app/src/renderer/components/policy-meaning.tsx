import { DEFAULT_POLICY, type Policy } from '@tether/shared';

type Category = keyof Policy;
type Decision = Policy[Category];

/**
 * What a policy choice away from the default means, in one sentence each. Shell is the one
 * where "allow" is furthest from what people expect: a command is not held to the folder.
 */
const MEANING: Partial<Record<`${Category}:${Decision}`, string>> = {
  'read:ask': 'You are asked before an agent reads any file here, even to look around.',
  'read:deny': 'Agents cannot read anything here; most cannot do useful work in a folder they cannot read.',
  'write:allow':
    'Agents create, change, move and delete files here without asking you; Activity still lists each change.',
  'write:deny': 'Agents cannot change any file here: they can read and suggest, not edit.',
  'shell:allow':
    'Agents run any command without asking you, and a command can do whatever your user account can, not only in this folder.',
  'shell:deny': 'Agents cannot run commands here: no tests, builds or dev servers.',
};

/** One sentence per category set away from its default, saying what that means; nothing at the defaults. */
export function PolicyMeaning({ policy }: { policy: Policy }) {
  const lines = (Object.keys(DEFAULT_POLICY) as Category[])
    .filter((c) => policy[c] !== DEFAULT_POLICY[c])
    .map((c) => ({ c, text: MEANING[`${c}:${policy[c]}`] }))
    .filter((l): l is { c: Category; text: string } => l.text !== undefined);
  if (lines.length === 0) return null;
  return (
    <div className="policy-meanings" aria-live="polite">
      {lines.map((l) => (
        <p
          key={l.c}
          className={`note small policy-meaning${l.c === 'shell' && policy.shell === 'allow' ? ' warn' : ''}`}
        >
          {l.text}
        </p>
      ))}
    </div>
  );
}
