import { createInterface } from 'node:readline';
import { MAX_ALLOW_MINUTES, callerLabel, describeScope, printable, type ConfirmationRequest } from '@tether/shared';
import type { ConfirmationBroker, ConfirmationFrontend, ConfirmationOutcome } from './confirmation-broker.js';
import { DEFAULT_ALLOW_MINUTES } from './policy-engine.js';

/** Lines of a diff shown at the terminal; the rest is counted, not printed. */
export const TERMINAL_DIFF_MAX_LINES = 60;

/**
 * The headless confirmation front end: prints each question (workspace, caller, tool, and the
 * diff or the command and cwd) and reads the answer: `y` allow once, `a` allow the question's
 * suggested standing allowance (its first offer, named) for N minutes (asks N), `n` deny. One question at a time; others wait their turn. A question
 * answered elsewhere or timed out is withdrawn with a note.
 */
export function createTerminalFrontend(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  broker: ConfirmationBroker,
): { dispose(): void } {
  const queue: ConfirmationRequest[] = [];
  let current: ConfirmationRequest | null = null;
  let stage: 'choice' | 'minutes' = 'choice';
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const write = (text: string): void => {
    output.write(text);
  };

  const showNext = (): void => {
    current = queue.shift() ?? null;
    stage = 'choice';
    if (!current) return;
    write(describe(current));
    const offer = current.offers[0];
    write(
      offer
        ? `Allow? [y] once  [a] ${describeScope(offer)}, for some minutes  [n] deny: `
        : 'Allow? [y] once  [n] deny: ',
    );
  };

  const frontend: ConfirmationFrontend = {
    present(req) {
      queue.push(req);
      if (!current) showNext();
    },
    dismiss(id: string, outcome: ConfirmationOutcome) {
      const index = queue.findIndex((r) => r.id === id);
      if (index >= 0) queue.splice(index, 1);
      if (current?.id === id) {
        if (outcome === 'timeout' || outcome === 'cancelled')
          write(`\n(${outcome === 'timeout' ? 'no answer in time: denied' : 'the call was cancelled'})\n`);
        showNext();
      }
    },
  };

  rl.on('line', (line) => {
    const req = current;
    if (!req) return;
    const text = line.trim().toLowerCase();
    if (stage === 'minutes') {
      const minutes = text === '' ? DEFAULT_ALLOW_MINUTES : Number(text);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_ALLOW_MINUTES) {
        write(`Please type a whole number of minutes from 1 to ${MAX_ALLOW_MINUTES} [${DEFAULT_ALLOW_MINUTES}]: `);
        return;
      }
      const offer = req.offers[0];
      write(`Allowed: ${offer ? describeScope(offer) : ''} for ${minutes} minute${minutes === 1 ? '' : 's'}.\n`);
      broker.answer({ confirmationId: req.id, decision: 'allow_rule', offer: 0, minutes });
      return;
    }
    if (text === 'y' || text === 'yes') {
      write('Allowed once.\n');
      broker.answer({ confirmationId: req.id, decision: 'allow_once' });
    } else if (text === 'n' || text === 'no') {
      write('Denied.\n');
      broker.answer({ confirmationId: req.id, decision: 'deny' });
    } else if (text === 'a' && req.offers.length > 0) {
      stage = 'minutes';
      write(`Allow ${describeScope(req.offers[0]!)} for how many minutes? [${DEFAULT_ALLOW_MINUTES}]: `);
    } else {
      write(req.offers.length > 0 ? 'Please type y, a or n: ' : 'Please type y or n: ');
    }
  });

  const detach = broker.addFrontend(frontend);
  // No more input (stdin closed, not a terminal): stop offering to answer, so new questions
  // fail at once with confirmation_unavailable instead of waiting for their timeout.
  rl.on('close', detach);
  return {
    dispose() {
      detach();
      rl.close();
      queue.length = 0;
      current = null;
    },
  };
}

/** Re-exported from the protocol package, where the UI uses it too. */
export { printable };

function describe(req: ConfirmationRequest): string {
  const lines = [
    '',
    `── Tether: confirmation needed (${Math.round((req.expiresAt - (req.startedAt ?? req.createdAt)) / 1000)} s to answer) ──`,
    `Workspace: ${printable(req.workspaceName)}`,
    `Caller:    says it is "${callerLabel(req.caller)}" (a label from the relay, not verified)`,
    `Tool:      ${req.tool} (${req.category})`,
  ];
  const d = req.detail;
  if (d.kind === 'shell') {
    lines.push(`Command:   ${printable(d.command)}`, `In:        ${printable(d.cwd)}`);
    if (d.sandbox) lines.push(`Runs:      ${printable(d.sandbox.summary)}`);
  } else if (d.kind === 'write') {
    lines.push(`Path:      ${printable(d.path)}${d.isNew ? ' (new file)' : ''}`, `Change:    ${printable(d.summary)}`);
    const diff = d.diff.split('\n');
    lines.push(...diff.slice(0, TERMINAL_DIFF_MAX_LINES).map((line) => printable(line)));
    if (diff.length > TERMINAL_DIFF_MAX_LINES) lines.push(`… ${diff.length - TERMINAL_DIFF_MAX_LINES} more diff lines`);
  } else if (d.kind === 'delete') {
    lines.push(
      `Delete:    ${printable(d.path)} (${d.what}; for good, not to the trash)`,
      `Inside:    ${d.capped ? 'at least ' : ''}${d.files} files, ${d.folders} folders, ${d.bytes} bytes`,
    );
  } else if (d.kind === 'shell_input') {
    lines.push(
      `Session:   ${printable(d.sessionId)}${d.session ? ` running ${printable(d.session.command)} in ${printable(d.session.cwd)}` : ' (not running)'}`,
      `Input:     ${printable(d.input)}`,
    );
  } else {
    lines.push(`What:      ${printable(d.summary)}`);
  }
  return `${lines.join('\n')}\n`;
}
