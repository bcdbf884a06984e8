import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, MAX_JSON_DEPTH } from '@tether/shared';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { SseReader, startTestRelay, type TestRelay } from '../testing/test-relay.js';

/*
 * JSON nesting bounds, end to end: a frame or a body nested past MAX_JSON_DEPTH is refused from
 * its raw text, the desktop's socket is closed with 4413, and every call waiting on it is
 * answered (JSON and SSE), while /healthz keeps answering.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const device = { deviceId: 'dev-1', name: 'Laptop', os: 'linux' };
const deepValue = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

async function relayWithDesktop(): Promise<{ t: TestRelay; desktop: FakeDesktop; runtimeId: string }> {
  const t = await startTestRelay();
  cleanups.push(() => t.dispose());
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello(device, [testWorkspace('ws-1')]);
  return { t, desktop, runtimeId: welcome.runtimes[0]!.runtimeId };
}

describe('JSON depth bounds', () => {
  it('closes a desktop sending a 7 MiB [[[…]]] frame with 4413, and stays responsive', async () => {
    const { t, desktop } = await relayWithDesktop();
    const started = Date.now();
    desktop.sendRaw(deepValue(3_800_000));
    const health = await t.api('/healthz', { token: null });
    expect(health.status).toBe(200);
    expect((await desktop.closed).code).toBe(CLOSE_CODES.tooComplex);
    // Not a timing assertion of speed: only that the socket did not stay open to repeat it.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('answers a JSON call whose result is nested too deep with an error, and closes the desktop', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    desktop.onCall = (call) =>
      desktop.sendRaw(`{"type":"result","id":"${call.id}","ok":true,"value":${deepValue(100_000)}}`);
    const answer = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'stat', args: { path: '.' } },
    });
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('internal');
    expect(answer.body.error.message).toMatch(/nested deeper than/);
    expect((await desktop.closed).code).toBe(CLOSE_CODES.tooComplex);
  });

  it('ends an SSE call whose result is nested too deep with an error event', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    desktop.onCall = (call) =>
      desktop.sendRaw(`{"type":"result","id":"${call.id}","ok":true,"value":${deepValue(100_000)}}`);
    const sse = await SseReader.open(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, t.platformKey, {
      method: 'POST',
      json: { tool: 'stat', args: { path: '.' } },
    });
    cleanups.push(() => sse.close());
    const error = await sse.next('error');
    expect(error.data.error.code).toBe('internal');
    await sse.done;
    expect(sse.ended).toBe(true);
  });

  it('still carries a result nested exactly to the limit', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    // The frame adds one level ({"value": …}), the answer too ({"result": …}).
    desktop.onCall = (call) =>
      desktop.sendRaw(`{"type":"result","id":"${call.id}","ok":true,"value":${deepValue(MAX_JSON_DEPTH - 1)}}`);
    const answer = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      json: { tool: 'stat', args: { path: '.' } },
    });
    expect(answer.status).toBe(200);
  });

  it('refuses a request body nested too deep with 413 too_large before parsing it', async () => {
    const { t, runtimeId } = await relayWithDesktop();
    const answer = await t.api(`/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"tool":"stat","args":${deepValue(3_000_000)}}`,
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error).toMatchObject({
      code: 'too_large',
      details: { limit: 'json_depth', max: MAX_JSON_DEPTH },
    });
    const keys = await t.api('/v1/grants', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{${Array.from({ length: 300_000 }, (_, i) => `"k${i}":0`).join(',')}}`,
    });
    expect(keys.status).toBe(413);
    expect(keys.body.error.details.limit).toBe('json_keys');
  });
});
