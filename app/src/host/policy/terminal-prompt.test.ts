import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfirmationBroker } from './confirmation-broker.js';
import { createTerminalFrontend } from './terminal-prompt.js';

let broker: ConfirmationBroker;
let prompt: { dispose(): void };
let input: PassThrough;
let output: PassThrough;
let printed = '';

function setup(timeoutMs?: number): void {
  broker = new ConfirmationBroker(timeoutMs ? { timeoutMs } : {});
  input = new PassThrough();
  output = new PassThrough();
  printed = '';
  output.on('data', (d: Buffer) => (printed += d.toString()));
  prompt = createTerminalFrontend(input, output, broker);
}

afterEach(() => {
  prompt.dispose();
  broker.dispose();
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

const shellQuestion = {
  callId: 'c1',
  workspaceId: 'ws_a',
  workspaceName: 'Project A',
  caller: 'stage: build',
  tool: 'run_command' as const,
  category: 'shell' as const,
  detail: { kind: 'shell' as const, command: 'npm test', cwd: '/home/p/a' },
};

describe('createTerminalFrontend', () => {
  it('prints workspace, caller, tool, command and cwd, and allows once on y', async () => {
    setup();
    const answer = broker.ask(shellQuestion);
    await until(() => printed.includes('[n] deny'));
    expect(printed).toContain('Workspace: Project A');
    expect(printed).toContain('Caller:    says it is "stage: build" (a label from the relay, not verified)');
    expect(printed).toContain('Tool:      run_command (shell)');
    expect(printed).toContain('Command:   npm test');
    expect(printed).toContain('In:        /home/p/a');
    input.write('y\n');
    await expect(answer).resolves.toEqual({ decision: 'allow_once' });
  });

  it('prints the diff of a write and denies on n', async () => {
    setup();
    const answer = broker.ask({
      ...shellQuestion,
      tool: 'write_file',
      category: 'write',
      detail: {
        kind: 'write',
        path: 'src/a.ts',
        isNew: false,
        summary: '+1 −1',
        diff: '--- a/src/a.ts\n+++ b/src/a.ts\n-old\n+new',
      },
    });
    await until(() => printed.includes('[n] deny'));
    expect(printed).toContain('Path:      src/a.ts');
    expect(printed).toContain('-old\n+new');
    input.write('n\n');
    await expect(answer).resolves.toEqual({ decision: 'deny' });
  });

  it('allows the first offer for minutes on a (default 10) and re-asks on a bad number', async () => {
    setup();
    const offered = { ...shellQuestion, offers: [{ kind: 'command' as const, command: 'npm test', cwd: '.' }] };
    const first = broker.ask(offered);
    await until(() => printed.includes('[n] deny'));
    expect(printed).toContain('[a] exactly the command npm test (in .), for some minutes');
    input.write('a\n');
    await until(() => printed.includes('how many minutes'));
    input.write('0\n');
    await until(() => printed.includes('whole number of minutes'));
    input.write('25\n');
    await expect(first).resolves.toEqual({ decision: 'allow_rule', offer: 0, minutes: 25 });

    const second = broker.ask(offered);
    await until(() => printed.split('[n] deny').length === 3);
    input.write('a\n\n');
    await expect(second).resolves.toEqual({ decision: 'allow_rule', offer: 0, minutes: 10 });
  });

  it('offers no standing allowance for a question that has none', async () => {
    setup();
    const answer = broker.ask(shellQuestion);
    await until(() => printed.includes('[n] deny'));
    expect(printed).toContain('Allow? [y] once  [n] deny: ');
    input.write('a\n');
    await until(() => printed.includes('Please type y or n'));
    input.write('n\n');
    await expect(answer).resolves.toEqual({ decision: 'deny' });
  });

  it('asks one question at a time and moves on when one times out', async () => {
    setup(200);
    const first = broker.ask(shellQuestion);
    const second = broker.ask({
      ...shellQuestion,
      callId: 'c2',
      detail: { kind: 'shell', command: 'make', cwd: '/home/p/a' },
    });
    await until(() => printed.includes('npm test'));
    expect(printed).not.toContain('make');
    await expect(first).resolves.toEqual({ decision: 'timeout' });
    await until(() => printed.includes('Command:   make'));
    expect(printed).toContain('no answer in time: denied');
    input.write('y\n');
    await expect(second).resolves.toEqual({ decision: 'allow_once' });
  });

  it('says where a command runs: sandboxed or not, and its network', async () => {
    setup();
    const answer = broker.ask({
      ...shellQuestion,
      detail: {
        kind: 'shell',
        command: 'make',
        cwd: '/home/p/a',
        sandbox: {
          sandboxed: false,
          engine: null,
          network: 'internet',
          allowDomains: [],
          reason: 'no sandbox on win32',
          summary: 'Not sandboxed (no sandbox on win32): the command can read and change everything you can.',
        },
      },
    });
    await until(() => printed.includes('Runs:      Not sandboxed (no sandbox on win32)'));
    input.write('n\n');
    await expect(answer).resolves.toEqual({ decision: 'deny' });
  });

  it('stops offering answers when its input ends, so questions fail at once', async () => {
    setup();
    expect(broker.hasFrontend()).toBe(true);
    input.end();
    await until(() => !broker.hasFrontend());
    await expect(broker.ask(shellQuestion)).resolves.toEqual({ decision: 'unavailable' });
  });

  it('shows control characters from the relay as visible escapes, not as terminal commands', async () => {
    setup();
    const answer = broker.ask({
      ...shellQuestion,
      caller: 'evil\u001b[2K\rAllowed once.',
      detail: { kind: 'shell', command: 'rm -rf ~\u001b[8m', cwd: '/' },
    });
    await until(() => printed.includes('[n] deny'));
    expect(printed).not.toContain('\u001b');
    expect(printed).toContain('evil\\x1b[2K\\x0dAllowed once.');
    input.write('n\n');
    await answer;
  });
});
