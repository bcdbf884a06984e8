import { afterEach, describe, expect, it } from 'vitest';
import type { CallFrame } from '@tether/shared';
import type { RelayOptions } from './relay-server.js';
import { FakeDesktop, testWorkspace } from './testing/fake-desktop.js';
import { SseReader, eventually, startTestRelay as start, type TestRelay } from './testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startTestRelay(options: Partial<RelayOptions> = {}): Promise<TestRelay> {
  const t = await start(options);
  cleanups.push(() => t.dispose());
  return t;
}

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };

async function connect(t: TestRelay): Promise<{ desktop: FakeDesktop; runtimeId: string }> {
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
  return { desktop, runtimeId: welcome.runtimes[0]!.runtimeId };
}

function post(t: TestRelay, runtimeId: string, json: unknown, init: RequestInit = {}) {
  return t.api(`/v1/runtimes/${runtimeId}/calls`, { method: 'POST', json, ...init });
}

describe('RelayCore', () => {
  describe('streaming calls', () => {
    it('streams status and output events, then the result, over SSE', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      desktop.onCall = (call, d) => {
        d.send({ type: 'progress', id: call.id, status: 'awaiting_confirmation' });
        d.send({ type: 'progress', id: call.id, status: 'running' });
        d.send({ type: 'progress', id: call.id, status: 'output', chunk: 'hello ' });
        d.send({ type: 'progress', id: call.id, status: 'output', chunk: 'world\n' });
        d.succeed(call.id, { exitCode: 0, output: 'hello world\n' });
      };
      const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'echo hello world' } },
      });
      expect(sse.response.headers.get('content-type')).toContain('text/event-stream');
      const { callId } = (await sse.next('call')).data;
      expect((await sse.next('status')).data).toEqual({ status: 'awaiting_confirmation' });
      expect((await sse.next('status')).data).toEqual({ status: 'running' });
      expect((await sse.next('output')).data).toEqual({ chunk: 'hello ' });
      expect((await sse.next('output')).data).toEqual({ chunk: 'world\n' });
      expect((await sse.next('result')).data).toEqual({ callId, result: { exitCode: 0, output: 'hello world\n' } });
      await sse.done;
    });

    it('ends the stream with an error event when the desktop answers an error', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      desktop.onCall = (call, d) =>
        d.send({ type: 'result', id: call.id, ok: false, error: { code: 'confirmation_denied', message: 'no' } });
      const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
        method: 'POST',
        json: { tool: 'write_file', args: { path: 'a', content: 'b' } },
      });
      const error = (await sse.next('error')).data;
      expect(error.error).toEqual({ code: 'confirmation_denied', message: 'no' });
      // The same failure over JSON is an HTTP error status.
      const json = await post(t, runtimeId, { tool: 'write_file', args: { path: 'a', content: 'b' } });
      expect(json.status).toBe(403);
      expect(json.body).toEqual({ error: { code: 'confirmation_denied', message: 'no' }, callId: expect.any(String) });
    });

    it('answers an immediate refusal with an HTTP status even when SSE was asked for', async () => {
      const t = await startTestRelay();
      const { runtimeId } = await connect(t);
      const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
        method: 'POST',
        json: { tool: 'read_file', args: {} },
      });
      expect(sse.response.status).toBe(400);
      await sse.close();
    });
  });

  describe('cancel', () => {
    it('cancels a running call on the platform’s request: the desktop gets cancel, the caller gets cancelled', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const pending = post(t, runtimeId, { tool: 'run_command', args: { command: 'sleep 100' } });
      const call = await desktop.next('call');
      const cancel = await t.api(`/v1/runtimes/${runtimeId}/calls/${call.id}/cancel`, { method: 'POST' });
      expect(cancel.status).toBe(200);
      expect((await desktop.next('cancel')).id).toBe(call.id);
      const res = await pending;
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('cancelled');
      // Finished calls and unknown ids cannot be cancelled.
      expect((await t.api(`/v1/runtimes/${runtimeId}/calls/${call.id}/cancel`, { method: 'POST' })).status).toBe(404);
      expect((await t.api(`/v1/runtimes/${runtimeId}/calls/call_nope/cancel`, { method: 'POST' })).status).toBe(404);
      // A late result for the cancelled call is ignored, not a protocol error.
      desktop.succeed(call.id, 'late');
      desktop.onCall = (c, d) => d.succeed(c.id, 'still connected');
      expect((await post(t, runtimeId, { tool: 'stat', args: { path: 'a' } })).body.result).toBe('still connected');
    });

    it('cancels the call on the desktop when the HTTP client goes away', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const controller = new AbortController();
      const request = fetch(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.platformKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'run_command', args: { command: 'sleep 100' } }),
        signal: controller.signal,
      }).catch(() => 'aborted');
      const call = await desktop.next('call');
      controller.abort();
      expect(await request).toBe('aborted');
      expect((await desktop.next('cancel')).id).toBe(call.id);
    });

    it('cancels the call on the desktop when an SSE client goes away', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
        method: 'POST',
        json: { tool: 'run_command', args: { command: 'sleep 100' } },
      });
      const call = await desktop.next('call');
      await sse.next('call');
      await sse.close();
      expect((await desktop.next('cancel')).id).toBe(call.id);
    });

    it('answers timeout at the deadline and sends cancel to the desktop', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const res = await post(t, runtimeId, { tool: 'run_command', args: { command: 'sleep 100' }, timeoutMs: 300 });
      expect(res.status).toBe(504);
      expect(res.body.error.code).toBe('timeout');
      const call = await desktop.next('call');
      expect((await desktop.next('cancel')).id).toBe(call.id);
    });
  });

  describe('limits', () => {
    it('refuses calls past the in-flight limit per runtime with busy, and takes them again once one finishes', async () => {
      const t = await startTestRelay({ limits: { maxInFlightPerRuntime: 2 } });
      const { desktop, runtimeId } = await connect(t);
      const first = post(t, runtimeId, { tool: 'stat', args: { path: '1' } });
      const second = post(t, runtimeId, { tool: 'stat', args: { path: '2' } });
      const c1 = await desktop.next('call');
      await desktop.next('call');
      const third = await post(t, runtimeId, { tool: 'stat', args: { path: '3' } });
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe('busy');
      desktop.succeed(c1.id, 'one');
      expect((await first).body.result).toBe('one');
      const fourth = post(t, runtimeId, { tool: 'stat', args: { path: '4' } });
      const c4 = await desktop.next('call', (c) => (c.args as { path: string }).path === '4');
      desktop.succeed(c4.id, 'four');
      expect((await fourth).body.result).toBe('four');
      desktop.frames
        .filter((f): f is CallFrame => f.type === 'call' && (f.args as { path: string }).path === '2')
        .forEach((c) => desktop.succeed(c.id, 'two'));
      expect((await second).body.result).toBe('two');
    });
  });

  describe('frame size', () => {
    it('refuses a call that would not fit in one desktop frame with too_large, and the desktop stays connected', async () => {
      const t = await startTestRelay({ limits: { maxFrameBytes: 64 * 1024 } });
      const { desktop, runtimeId } = await connect(t);
      const res = await post(t, runtimeId, {
        tool: 'write_file',
        args: { path: 'big.txt', content: 'x'.repeat(100 * 1024) },
      });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('too_large');
      desktop.onCall = (call, d) => d.succeed(call.id, 'small one fine');
      expect(
        (await post(t, runtimeId, { tool: 'write_file', args: { path: 'small.txt', content: 'x' } })).body.result,
      ).toBe('small one fine');
      expect(desktop.ws.readyState).toBe(desktop.ws.OPEN);
    });
  });

  describe('re-delivery', () => {
    it('re-delivers an unanswered call with the same id after the device reconnects', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const pending = post(t, runtimeId, { tool: 'write_file', args: { path: 'a', content: 'b' } });
      const first = await desktop.next('call');
      desktop.ws.terminate();
      await eventually(
        () => t.api(`/v1/runtimes/${runtimeId}`),
        (r) => r.body.state === 'stopped',
        10_000,
        'stopped',
      );
      const again = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
      cleanups.push(() => again.close());
      await again.hello(device, [testWorkspace('ws-1')]);
      const second = await again.next('call');
      expect(second).toEqual(first);
      again.succeed(second.id, 'written once');
      expect((await pending).body).toEqual({ callId: first.id, result: 'written once' });
    });

    it('gives a repeated idempotency key the same call id, so the desktop can answer from its cache', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const ids: string[] = [];
      desktop.onCall = (call, d) => {
        ids.push(call.id);
        d.succeed(call.id, ids.length);
      };
      const a = await post(t, runtimeId, {
        tool: 'write_file',
        args: { path: 'a', content: 'b' },
        idempotencyKey: 'job-7-step-3',
      });
      const b = await post(t, runtimeId, {
        tool: 'write_file',
        args: { path: 'a', content: 'b' },
        idempotencyKey: 'job-7-step-3',
      });
      const c = await post(t, runtimeId, { tool: 'write_file', args: { path: 'a', content: 'b' } });
      expect(a.body.callId).toBe(b.body.callId);
      expect(c.body.callId).not.toBe(a.body.callId);
      expect(ids).toEqual([a.body.callId, a.body.callId, c.body.callId]);
    });

    it('lets concurrent requests with one idempotency key share one call, cancelled only when every caller gave up', async () => {
      const t = await startTestRelay();
      const { desktop, runtimeId } = await connect(t);
      const body = JSON.stringify({ tool: 'run_command', args: { command: 'make' }, idempotencyKey: 'build-1' });
      const headers = { authorization: `Bearer ${t.platformKey}`, 'content-type': 'application/json' };
      const impatient = new AbortController();
      const first = fetch(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, {
        method: 'POST',
        headers,
        body,
        signal: impatient.signal,
      }).catch(() => 'aborted');
      const call = await desktop.next('call');
      // The second caller streams, so its `call` event says when it is attached to the call.
      const second = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
        method: 'POST',
        json: JSON.parse(body),
      });
      expect((await second.next('call')).data.callId).toBe(call.id);
      impatient.abort();
      expect(await first).toBe('aborted');
      // Give the relay time to notice the disconnect; a wrong relay would send cancel now. (A slow box can only make this pass wrongly, never fail wrongly.)
      expect(await desktop.next('cancel', undefined, 500).catch(() => null)).toBeNull();
      desktop.succeed(call.id, 'built');
      expect((await second.next('result')).data).toEqual({ callId: call.id, result: 'built' });
      expect(desktop.frames.filter((f) => f.type === 'call')).toHaveLength(1);
      expect(desktop.frames.filter((f) => f.type === 'cancel')).toHaveLength(0);
    });
  });
});
