import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  MAX_ALLOW_MINUTES,
  TetherError,
  type ConfirmationRequest,
  type Policy,
  type ToolName,
} from '@tether/shared';
import type { WorkspaceConfig } from '../config/config-store.js';
import { ConfirmationBroker, type BrokerDecision } from './confirmation-broker.js';
import { PolicyEngine, type PolicySubject } from './policy-engine.js';

function subject(
  config: Partial<WorkspaceConfig> = {},
  state: PolicySubject['state'] = 'running',
): PolicySubject & { allowUntil?: number } {
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
      ...config,
    } as WorkspaceConfig,
    state,
    reason: state === 'error' ? 'The folder /tmp/a no longer exists.' : undefined,
    allowUntil: undefined as number | undefined,
    setAllowUntil(until: number | undefined) {
      s.allowUntil = until;
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
        const answer = reply.decision as 'allow_once' | 'allow_workspace' | 'deny';
        queueMicrotask(() =>
          broker.answer({
            confirmationId: req.id,
            decision: answer,
            ...(reply.minutes ? { minutes: reply.minutes } : {}),
          }),
        );
      },
      dismiss() {},
    });
  }
  return { asked };
}

function check(engine: PolicyEngine, w: PolicySubject, tool: ToolName, onAsk?: () => void) {
  return engine.check({
    workspace: w,
    tool,
    callId: 'call_1',
    caller: 'agent',
    detail: async () => ({ kind: 'other', summary: tool }),
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

    it('asks even while an "allow this workspace" is active', async () => {
      const { asked } = answering({ decision: 'allow_once' });
      const w = subject({ policy: { read: 'allow', write: 'ask', shell: 'ask' } });
      w.setAllowUntil(Date.now() + 60_000);
      const verdict = await check(new PolicyEngine({ broker, isSandboxed: () => false }), w, 'run_command');
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
      expect(w.allowUntil).toBeUndefined();
    });

    it('remembers allow_workspace for the chosen minutes, then asks again', async () => {
      const { asked } = answering({ decision: 'allow_workspace', minutes: 5 });
      const engine = new PolicyEngine({ broker, now: () => now });
      const w = subject();
      await expect(check(engine, w, 'run_command')).resolves.toEqual({ allowed: true, decision: 'confirmed' });
      expect(w.allowUntil).toBe(now + 5 * 60_000);
      await expect(check(engine, w, 'write_file')).resolves.toEqual({ allowed: true, decision: 'remembered' });
      expect(asked).toHaveLength(1);
      now += 5 * 60_000 + 1;
      await expect(check(engine, w, 'write_file')).resolves.toEqual({ allowed: true, decision: 'confirmed' });
      expect(asked).toHaveLength(2);
    });

    it('never lets a remembered approval override deny, a switched-off tool or a pause', async () => {
      answering({ decision: 'allow_once' });
      const engine = new PolicyEngine({ broker, now: () => now });
      const w = subject({ policy: { read: 'allow', write: 'ask', shell: 'deny' }, disabledTools: ['delete'] });
      w.setAllowUntil(now + 60_000);
      await expect(check(engine, w, 'run_command')).resolves.toMatchObject({ error: { code: 'policy_denied' } });
      await expect(check(engine, w, 'delete')).resolves.toMatchObject({ error: { code: 'tool_disabled' } });
      await expect(check(engine, subject({ paused: true }, 'paused'), 'write_file')).resolves.toMatchObject({
        error: { code: 'runtime_paused' },
      });
    });

    it('caps allow_workspace at MAX_ALLOW_MINUTES and defaults to 10 minutes', async () => {
      answering({ decision: 'allow_workspace' });
      const w = subject();
      await check(new PolicyEngine({ broker, now: () => now }), w, 'write_file');
      expect(w.allowUntil).toBe(now + 10 * 60_000);
      broker.dispose();
      broker = new ConfirmationBroker();
      // A broker answer past the cap (not possible through the schema) is still capped here.
      const engine = new PolicyEngine({ broker, now: () => now });
      broker.addFrontend({
        present: (req) =>
          queueMicrotask(() => broker.answer({ confirmationId: req.id, decision: 'allow_workspace', minutes: 10_000 })),
        dismiss() {},
      });
      await check(engine, w, 'shell_start').then(() => undefined);
      expect(w.allowUntil).toBeLessThanOrEqual(now + MAX_ALLOW_MINUTES * 60_000);
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
          queueMicrotask(() => broker.answer({ confirmationId: req.id, decision: 'allow_workspace' }));
        },
        dismiss() {},
      });
      await expect(check(new PolicyEngine({ broker }), w, 'write_file')).resolves.toMatchObject({
        allowed: false,
        error: { code: 'runtime_paused' },
      });
      expect(w.allowUntil).toBeUndefined();
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
