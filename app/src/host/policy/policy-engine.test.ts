import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  MAX_ALLOW_MINUTES,
  TetherError,
  type Allowance,
  type AllowanceScope,
  type ConfirmationRequest,
  type Policy,
  type ToolName,
} from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import type { CallTarget } from './allowance-rules.js';
import { ConfirmationBroker, type BrokerDecision } from './confirmation-broker.js';
import { PolicyEngine, type PolicySubject } from './policy-engine.js';

function subject(
  config: Partial<WorkspaceConfig> = {},
  state: PolicySubject['state'] = 'running',
): PolicySubject & { config: WorkspaceConfig } {
  const s = {
    config: {
      id: 'ws_a',
      name: 'A',
      description: '',
      root: '/tmp/a',
      policy: { ...DEFAULT_POLICY },
      disabledTools: [],
      paused: false,
      watchIgnore: [],
      sandbox: 'os',
      network: 'internet',
      allowDomains: [],
      hidePaths: [],
      allowances: [],
      ...config,
    } as WorkspaceConfig,
    state,
    reason: state === 'error' ? 'The folder /tmp/a no longer exists.' : undefined,
    async addAllowance(scope: AllowanceScope, expiresAt: number | null): Promise<Allowance> {
      const a: Allowance = { id: `alw_${s.config.allowances.length + 1}`, scope, createdAt: now, expiresAt };
      s.config.allowances.push(a);
      return a;
    },
  };
  return s;
}

let broker: ConfirmationBroker;
let now = 1_000_000;
afterEach(() => broker.dispose());

/** A broker whose single front end answers every question with `reply`, counting questions. */
function answering(reply: BrokerDecision | null): { asked: ConfirmationRequest[] } {
  broker = new ConfirmationBroker({ timeoutMs: 100 });
  const asked: ConfirmationRequest[] = [];
  if (reply !== undefined) {
    broker.addFrontend({
      present(req) {
        asked.push(req);
        if (reply === null) return; // let it time out
        const answer = reply.decision as 'allow_once' | 'allow_rule' | 'deny';
        queueMicrotask(() =>
          broker.answer({
            confirmationId: req.id,
            decision: answer,
            ...(reply.minutes ? { minutes: reply.minutes } : {}),
            ...(reply.offer !== undefined ? { offer: reply.offer } : {}),
            ...(reply.lasting ? { lasting: true } : {}),
            ...(reply.reason ? { reason: reply.reason } : {}),
          }),
        );
      },
      dismiss() {},
    });
  }
  return { asked };
}

const WRITE_A: CallTarget = { kind: 'write', paths: ['a.txt'] };
const command = (c: string, hasEnv = false): CallTarget => ({
  kind: 'command',
  command: c,
  shown: c,
  hasEnv,
  cwd: '.',
});

function check(engine: PolicyEngine, w: PolicySubject, tool: ToolName, onAsk?: () => void, target?: CallTarget) {
  const t = target ?? (tool === 'run_command' ? command('npm test') : WRITE_A);
  return engine.check({
    workspace: w,
    tool,
    callId: 'call_1',
    caller: 'agent',
    detail: async () => ({ kind: 'other', summary: tool }),
    target: async () => t,
    ...(onAsk ? { onAsk } : {}),
  });
}

describe('PolicyEngine', () => {
  describe('check where commands are not sandboxed', () => {
    const allowAll: Policy = { read: 'allow', write: 'allow', shell: 'allow' };

    it('asks every time for run_command, shell_start and shell_write even when shell is allow', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const engine = new PolicyEngine({ broker, isSandboxed: () => false });
      for (const tool of ['run_command', 'shell_start', 'shell_write'] as const) {
        expect(await check(engine, subject({ policy: allowAll }), tool)).toMatchObject({
          allowed: true,
          decision: 'confirmed',
        });
      }
      expect(asked.map((q) => q.tool)).toEqual(['run_command', 'shell_start', 'shell_write']);
    });

    it('asks even when a standing allowance covers the command', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const allowances: Allowance[] = [
        { id: 'p', scope: { kind: 'prefix', prefix: 'npm' }, createdAt: now, expiresAt: null },
      ];
      const w = subject({ policy: { read: 'allow', write: 'ask', shell: 'ask' }, allowances });
      const covered = await check(new PolicyEngine({ broker, now: () => now }), w, 'run_command');
      expect(covered).toMatchObject({ allowed: true, decision: 'remembered' });
      const verdict = await check(
        new PolicyEngine({ broker, now: () => now, isSandboxed: () => false }),
        w,
        'run_command',
      );
      expect(verdict).toMatchObject({ allowed: true, decision: 'confirmed' });
      expect(asked).toHaveLength(1);
    });

    it('lets sandboxed commands, reads of sessions and writes follow the policy', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const sandboxed = new PolicyEngine({ broker, isSandboxed: () => true });
      expect(await check(sandboxed, subject({ policy: allowAll }), 'run_command')).toMatchObject({
        decision: 'allowed',
      });
      const unsandboxed = new PolicyEngine({ broker, isSandboxed: () => false });
      expect(await check(unsandboxed, subject({ policy: allowAll }), 'shell_read')).toMatchObject({
        decision: 'allowed',
      });
      expect(await check(unsandboxed, subject({ policy: allowAll }), 'write_file')).toMatchObject({
        decision: 'allowed',
      });
      expect(asked).toEqual([]);
    });
  });

  describe('check', () => {
    const policy: Policy = { read: 'allow', write: 'ask', shell: 'deny' };
    const matrix: Array<[string, Partial<WorkspaceConfig>, PolicySubject['state'], ToolName, string]> = [
      ['paused', { paused: true, policy }, 'paused', 'read_file', 'runtime_paused'],
      ['in error', { policy }, 'error', 'read_file', 'runtime_error'],
      ['tool switched off', { policy, disabledTools: ['read_file'] }, 'running', 'read_file', 'tool_disabled'],
      ['category denied', { policy }, 'running', 'run_command', 'policy_denied'],
      [
        'switched off beats allow',
        { policy: { read: 'allow', write: 'allow', shell: 'allow' }, disabledTools: ['delete'] },
        'running',
        'delete',
        'tool_disabled',
      ],
      [
        'paused beats allow',
        { policy: { read: 'allow', write: 'allow', shell: 'allow' }, paused: true },
        'paused',
        'write_file',
        'runtime_paused',
      ],
    ];
    for (const [name, config, state, tool, code] of matrix) {
      it(`refuses with ${code} when ${name}, without asking`, async () => {
        const { asked } = answering({ decision: 'allow_once' });
        const verdict = await check(new PolicyEngine({ broker }), subject(config, state), tool);
        expect(verdict).toMatchObject({ allowed: false, error: { code } });
        expect(asked).toEqual([]);
      });
    }

    it('lets allowed categories run without asking', async () => {
      const { asked } = answering({ decision: 'deny' });
      await expect(check(new PolicyEngine({ broker }), subject(), 'read_file')).resolves.toEqual({
        allowed: true,
        decision: 'allowed',
      });
      expect(asked).toEqual([]);
    });

    it('asks for ask categories and runs once on allow_once, asking again next time', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const engine = new PolicyEngine({ broker });
      const w = subject();
      let onAsk = 0;
      await expect(check(engine, w, 'write_file', () => onAsk++)).resolves.toEqual({
        allowed: true,
        decision: 'confirmed',
      });
      await expect(check(engine, w, 'write_file')).resolves.toEqual({ allowed: true, decision: 'confirmed' });
      expect(asked).toHaveLength(2);
      expect(onAsk).toBe(1);
      expect(asked[0]).toMatchObject({
        workspaceId: 'ws_a',
        workspaceName: 'A',
        caller: 'agent',
        tool: 'write_file',
        category: 'write',
      });
      expect(w.config.allowances).toEqual([]);
    });

    it('remembers the chosen allowance for the chosen minutes, covering only what it says, then asks again', async () => {
      // Offer 0 of a write to a.txt: writes, edits and new folders in the workspace's top folder.
      const { asked } = answering({ decision: 'allow_rule', offer: 0, minutes: 5 });
      const engine = new PolicyEngine({ broker, now: () => now });
      const w = subject();
      await expect(check(engine, w, 'write_file')).resolves.toEqual({ allowed: true, decision: 'confirmed' });
      expect(asked[0]!.offers).toEqual([
        { kind: 'path', path: '.', folder: true },
        { kind: 'path', path: 'a.txt', folder: false },
        { kind: 'category', category: 'write' },
      ]);
      expect(w.config.allowances).toMatchObject([
        { scope: { kind: 'path', path: '.', folder: true }, expiresAt: now + 5 * 60_000 },
      ]);
      await expect(
        check(engine, w, 'edit_file', undefined, { kind: 'write', paths: ['b.txt'] }),
      ).resolves.toMatchObject({
        allowed: true,
        decision: 'remembered',
        rule: { id: 'alw_1' },
      });
      expect(asked).toHaveLength(1);
      // Not a command, not a delete: those still ask.
      await check(engine, w, 'run_command');
      await check(engine, w, 'delete');
      expect(asked).toHaveLength(3);
      now += 5 * 60_000 + 1;
      await check(engine, w, 'write_file', undefined, { kind: 'write', paths: ['b.txt'] });
      expect(asked).toHaveLength(4);
    });

    it('a write allowance never lets a command or a delete through', async () => {
      const { asked } = answering({ decision: 'allow_rule', offer: 2, minutes: 5 });
      const engine = new PolicyEngine({ broker, now: () => now });
      const w = subject();
      await check(engine, w, 'edit_file');
      expect(w.config.allowances[0]!.scope).toEqual({ kind: 'category', category: 'write' });
      await check(engine, w, 'run_command');
      await check(engine, w, 'shell_start');
      expect(asked).toHaveLength(3);
    });

    it('a prefix allowance covers commands with the same first words and nothing chained after them', async () => {
      const { asked } = answering({ decision: 'allow_rule', offer: 1, lasting: true });
      const engine = new PolicyEngine({ broker, now: () => now });
      const w = subject();
      await check(engine, w, 'run_command', undefined, command('npm test -- --grep a'));
      expect(asked[0]!.offers[1]).toEqual({ kind: 'prefix', prefix: 'npm test --' });
      expect(w.config.allowances).toMatchObject([{ expiresAt: null }]);
      await expect(check(engine, w, 'run_command', undefined, command('npm test -- --grep b'))).resolves.toMatchObject({
        decision: 'remembered',
      });
      for (const c of ['npm test -- x; rm -rf ~', 'npm test -- x && curl y | sh', 'npm test -- $(id)']) {
        await check(engine, w, 'run_command', undefined, command(c));
      }
      await check(engine, w, 'run_command', undefined, command('npm test -- x', true));
      expect(asked).toHaveLength(5);
    });

    it('never lets an allowance override deny, a switched-off tool or a pause', async () => {
      answering({ decision: 'allow_once' });
      const engine = new PolicyEngine({ broker, now: () => now });
      const allowances: Allowance[] = [
        { id: 'x', scope: { kind: 'category', category: 'write' }, createdAt: now, expiresAt: null },
        { id: 'y', scope: { kind: 'prefix', prefix: 'npm' }, createdAt: now, expiresAt: null },
      ];
      const w = subject({
        policy: { read: 'allow', write: 'ask', shell: 'deny' },
        disabledTools: ['delete'],
        allowances,
      });
      await expect(check(engine, w, 'run_command')).resolves.toMatchObject({ error: { code: 'policy_denied' } });
      await expect(check(engine, w, 'delete')).resolves.toMatchObject({ error: { code: 'tool_disabled' } });
      await expect(check(engine, subject({ paused: true, allowances }, 'paused'), 'write_file')).resolves.toMatchObject(
        {
          error: { code: 'runtime_paused' },
        },
      );
    });

    it('caps an allowance at MAX_ALLOW_MINUTES and defaults to 10 minutes', async () => {
      answering({ decision: 'allow_rule', offer: 0 });
      const w = subject();
      await check(new PolicyEngine({ broker, now: () => now }), w, 'write_file');
      expect(w.config.allowances[0]!.expiresAt).toBe(now + 10 * 60_000);
      broker.dispose();
      broker = new ConfirmationBroker();
      // A broker answer past the cap (not possible through the schema) is still capped here.
      const engine = new PolicyEngine({ broker, now: () => now });
      broker.addFrontend({
        present: (req) =>
          queueMicrotask(() =>
            broker.answer({ confirmationId: req.id, decision: 'allow_rule', offer: 0, minutes: 10_000 }),
          ),
        dismiss() {},
      });
      await check(engine, w, 'run_command');
      expect(w.config.allowances[1]!.expiresAt).toBeLessThanOrEqual(now + MAX_ALLOW_MINUTES * 60_000);
    });

    it('sends the reason given with a deny back to the agent, escaped', async () => {
      answering({ decision: 'deny', reason: 'use the staging folder \u202e instead' });
      await expect(check(new PolicyEngine({ broker }), subject(), 'write_file')).resolves.toMatchObject({
        decision: 'denied',
        error: {
          code: 'confirmation_denied',
          message: 'The person denied this call: use the staging folder \\u202e instead',
          details: { reason: 'use the staging folder \u202e instead' },
        },
      });
    });

    it('maps deny, timeout and no front end to their codes', async () => {
      answering({ decision: 'deny' });
      await expect(check(new PolicyEngine({ broker }), subject(), 'write_file')).resolves.toMatchObject({
        decision: 'denied',
        error: { code: 'confirmation_denied' },
      });
      broker.dispose();
      answering(null);
      await expect(check(new PolicyEngine({ broker }), subject(), 'write_file')).resolves.toMatchObject({
        decision: 'timeout',
        error: { code: 'confirmation_timeout' },
      });
      broker.dispose();
      broker = new ConfirmationBroker();
      await expect(check(new PolicyEngine({ broker }), subject(), 'write_file')).resolves.toMatchObject({
        decision: 'unavailable',
        error: { code: 'confirmation_unavailable' },
      });
    });

    it('refuses when the workspace was paused while the question was open', async () => {
      broker = new ConfirmationBroker();
      const w = subject();
      broker.addFrontend({
        present(req) {
          (w.config as { paused: boolean }).paused = true;
          queueMicrotask(() => broker.answer({ confirmationId: req.id, decision: 'allow_rule', offer: 0 }));
        },
        dismiss() {},
      });
      await expect(check(new PolicyEngine({ broker }), w, 'write_file')).resolves.toMatchObject({
        allowed: false,
        error: { code: 'runtime_paused' },
      });
      expect(w.config.allowances).toEqual([]);
    });

    it('fails the call with the preview error (e.g. a path outside) before asking anyone', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const verdict = await new PolicyEngine({ broker }).check({
        workspace: subject(),
        tool: 'write_file',
        callId: 'c',
        caller: 'agent',
        detail: async () => {
          throw new TetherError('path_outside_workspace');
        },
      });
      expect(verdict).toMatchObject({ allowed: false, error: { code: 'path_outside_workspace' } });
      expect(asked).toEqual([]);
    });
  });
});
