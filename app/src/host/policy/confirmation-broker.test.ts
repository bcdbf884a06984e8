import { afterEach, describe, expect, it } from 'vitest';
import type { ConfirmationRequest } from '@tether/shared';
import { ConfirmationBroker, type ConfirmationFrontend, type ConfirmationOutcome } from './confirmation-broker.js';

const question = {
  callId: 'call_1',
  workspaceId: 'ws_a',
  workspaceName: 'A',
  caller: 'agent',
  tool: 'write_file' as const,
  category: 'write' as const,
  detail: { kind: 'other' as const, summary: 'a.txt' },
};

/** A front end that records what it is shown. */
function recorder(): ConfirmationFrontend & {
  shown: ConfirmationRequest[];
  dismissed: Array<[string, ConfirmationOutcome]>;
} {
  const f = {
    shown: [] as ConfirmationRequest[],
    dismissed: [] as Array<[string, ConfirmationOutcome]>,
    present(req: ConfirmationRequest) {
      f.shown.push(req);
    },
    dismiss(id: string, outcome: ConfirmationOutcome) {
      f.dismissed.push([id, outcome]);
    },
  };
  return f;
}

let broker: ConfirmationBroker | undefined;
afterEach(() => {
  broker?.dispose();
  broker = undefined;
});

describe('ConfirmationBroker', () => {
  describe('ask', () => {
    it('is unavailable at once when no front end is attached', async () => {
      broker = new ConfirmationBroker();
      expect(broker.hasFrontend()).toBe(false);
      await expect(broker.ask(question)).resolves.toEqual({ decision: 'unavailable' });
      expect(broker.pending()).toEqual([]);
    });

    it('puts the question to every front end and settles with the answer', async () => {
      broker = new ConfirmationBroker();
      const a = recorder();
      const b = recorder();
      broker.addFrontend(a);
      broker.addFrontend(b);
      const events: string[] = [];
      broker.on('request', (r) => events.push(`request ${r.tool}`));
      broker.on('resolved', (r) => events.push(`resolved ${r.outcome}`));
      const answer = broker.ask({ ...question, offers: [{ kind: 'category', category: 'write' }] });
      expect(a.shown).toHaveLength(1);
      expect(b.shown).toEqual(a.shown);
      const req = a.shown[0]!;
      expect(req.expiresAt - req.createdAt).toBe(60_000);
      expect(broker.pending()).toEqual([req]);
      // Only an offer the question made can be taken.
      expect(broker.answer({ confirmationId: req.id, decision: 'allow_rule', offer: 1, minutes: 30 })).toBe(false);
      expect(broker.answer({ confirmationId: req.id, decision: 'allow_rule', offer: 0, minutes: 30 })).toBe(true);
      await expect(answer).resolves.toEqual({ decision: 'allow_rule', offer: 0, minutes: 30 });
      expect(a.dismissed).toEqual([[req.id, 'allowed']]);
      expect(b.dismissed).toEqual([[req.id, 'allowed']]);
      expect(events).toEqual(['request write_file', 'resolved allowed']);
      expect(broker.pending()).toEqual([]);
    });

    it('takes the first answer and refuses later or unknown ones', async () => {
      broker = new ConfirmationBroker();
      const f = recorder();
      broker.addFrontend(f);
      const answer = broker.ask(question);
      const id = f.shown[0]!.id;
      expect(broker.answer({ confirmationId: id, decision: 'deny' })).toBe(true);
      expect(broker.answer({ confirmationId: id, decision: 'allow_once' })).toBe(false);
      expect(broker.answer({ confirmationId: 'cnf_unknown', decision: 'allow_once' })).toBe(false);
      await expect(answer).resolves.toEqual({ decision: 'deny' });
    });

    it('times out as a deny when nobody answers', async () => {
      broker = new ConfirmationBroker({ timeoutMs: 50 });
      const f = recorder();
      broker.addFrontend(f);
      await expect(broker.ask(question)).resolves.toEqual({ decision: 'timeout' });
      expect(f.dismissed).toEqual([[f.shown[0]!.id, 'timeout']]);
      expect(broker.answer({ confirmationId: f.shown[0]!.id, decision: 'allow_once' })).toBe(false);
    });

    it('is cancelled by its signal', async () => {
      broker = new ConfirmationBroker();
      const f = recorder();
      broker.addFrontend(f);
      const controller = new AbortController();
      const answer = broker.ask(question, controller.signal);
      controller.abort();
      await expect(answer).resolves.toEqual({ decision: 'cancelled' });
      expect(f.dismissed[0]![1]).toBe('cancelled');
    });

    it('shows open questions to a front end that attaches later, and survives a throwing one', async () => {
      broker = new ConfirmationBroker();
      const detach = broker.addFrontend({
        present() {
          throw new Error('window gone');
        },
        dismiss() {
          throw new Error('window gone');
        },
      });
      const answer = broker.ask(question);
      detach();
      const late = recorder();
      broker.addFrontend(late);
      expect(late.shown).toHaveLength(1);
      broker.answer({ confirmationId: late.shown[0]!.id, decision: 'allow_once' });
      await expect(answer).resolves.toEqual({ decision: 'allow_once' });
    });
  });

  describe('queue', () => {
    it("starts a waiting question's countdown only when the one before it is settled", async () => {
      broker = new ConfirmationBroker({ timeoutMs: 200 });
      const f = recorder();
      broker.addFrontend(f);
      const started: string[] = [];
      broker.on('started', (r) => started.push(r.id));
      const first = broker.ask(question);
      const second = broker.ask({ ...question, callId: 'call_2' });
      const [a, b] = broker.pending();
      expect(a!.startedAt).toBeDefined();
      expect(b!.startedAt).toBeUndefined();
      // Longer than its own timeout: the second is still waiting, not timed out.
      await new Promise((r) => setTimeout(r, 150));
      broker.answer({ confirmationId: a!.id, decision: 'deny' });
      await first;
      await new Promise((r) => setTimeout(r, 100));
      expect(broker.pending()).toEqual([b]);
      expect(started).toEqual([b!.id]);
      expect(b!.expiresAt - b!.startedAt!).toBe(200);
      await expect(second).resolves.toEqual({ decision: 'timeout' });
    });
  });

  describe('missed', () => {
    it('keeps questions that timed out or were dropped with their call, until dismissed', async () => {
      broker = new ConfirmationBroker({ timeoutMs: 30 });
      broker.addFrontend(recorder());
      await broker.ask({ ...question, detail: { kind: 'shell', command: 'npm test\nmore', cwd: '/w' } });
      const controller = new AbortController();
      const dropped = broker.ask(question, controller.signal);
      controller.abort();
      await dropped;
      const answered = broker.ask(question);
      broker.answer({ confirmationId: broker.pending()[0]!.id, decision: 'deny' });
      await answered;
      expect(broker.missed()).toMatchObject([
        { outcome: 'dropped', summary: 'a.txt', tool: 'write_file', workspaceName: 'A' },
        { outcome: 'timeout', summary: 'npm test' },
      ]);
      expect(broker.dismissMissed()).toBe(2);
      expect(broker.missed()).toEqual([]);
    });

    it('keeps the reason of a deny, trimmed', async () => {
      broker = new ConfirmationBroker();
      const f = recorder();
      broker.addFrontend(f);
      const answer = broker.ask(question);
      broker.answer({ confirmationId: f.shown[0]!.id, decision: 'deny', reason: '  not in main  ' });
      await expect(answer).resolves.toEqual({ decision: 'deny', reason: 'not in main' });
    });
  });

  describe('dispose', () => {
    it('cancels open questions', async () => {
      broker = new ConfirmationBroker();
      broker.addFrontend(recorder());
      const answer = broker.ask(question);
      broker.dispose();
      await expect(answer).resolves.toEqual({ decision: 'cancelled' });
      await expect(broker.ask(question)).resolves.toEqual({ decision: 'cancelled' });
    });
  });
});
