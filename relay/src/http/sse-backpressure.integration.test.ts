import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { eventually, startTestRelay, type TestRelay } from '../testing/test-relay.js';

/*
 * SSE responses and their readers: a reader that lags gets a `gap` event counting what it
 * missed (never a silent loss), and a stream answers the request's Connection header.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function relayWithDesktop(): Promise<{ t: TestRelay; desktop: FakeDesktop; runtimeId: string }> {
  const t = await startTestRelay();
  cleanups.push(() => t.dispose());
  const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  cleanups.push(() => desktop.close());
  const welcome = await desktop.hello({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }, [testWorkspace('ws-1')]);
  return { t, desktop, runtimeId: welcome.runtimes[0]!.runtimeId };
}

/** Opens a POST …/calls SSE request on its own connection and hands back the (paused) response. */
function openCallStream(
  t: TestRelay,
  runtimeId: string,
  headers: Record<string, string> = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${t.relay.url}/v1/runtimes/${runtimeId}/calls`, {
      method: 'POST',
      agent: false,
      headers: {
        authorization: `Bearer ${t.platformKey}`,
        accept: 'text/event-stream',
        'content-type': 'application/json',
        ...headers,
      },
    });
    req.on('response', (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ tool: 'run_command', args: { command: 'yes' } }));
  });
}

/** Reads a whole SSE response into its events. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads of many shapes
async function readEvents(res: IncomingMessage): Promise<Array<{ event: string; data: any }>> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return text
    .split('\n\n')
    .filter((record) => record.includes('data: '))
    .map((record) => {
      const lines = record.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      return { event, data: JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) };
    });
}

const callsInFlight = async (t: TestRelay) =>
  Number(/tether_relay_calls_in_flight (\d+)/.exec((await t.api('/metrics', { token: null })).body)?.[1]);

describe('SSE backpressure', () => {
  it('skips output a lagging reader cannot take and tells it how much with a gap event', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    const chunk = 'y\n'.repeat(32 * 1024); // 64 KiB of output per progress frame
    const CHUNKS = 400; // 25 MiB: more than the kernel's socket buffers and the relay's bound
    desktop.onCall = (call, d) => {
      for (let i = 0; i < CHUNKS; i++) d.send({ type: 'progress', id: call.id, status: 'output', chunk });
      d.succeed(call.id, { exitCode: 0 });
    };
    const res = await openCallStream(t, runtimeId);
    // The reader reads nothing until the call is over at the relay.
    await eventually(
      () => callsInFlight(t),
      (n) => n === 0,
      60_000,
      'the call finished',
    );
    const events = await readEvents(res);
    const output = events.filter((e) => e.event === 'output');
    const gaps = events.filter((e) => e.event === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    expect(output.length).toBeLessThan(CHUNKS);
    // Every chunk is either delivered or counted, to the event and to the byte.
    const dataBytes = Buffer.byteLength(JSON.stringify({ chunk }));
    expect(output.length + gaps.reduce((n, g) => n + g.data.droppedEvents, 0)).toBe(CHUNKS);
    expect(gaps.reduce((n, g) => n + g.data.droppedBytes, 0)).toBe((CHUNKS - output.length) * dataBytes);
    // The gap comes before the result, and the result is there.
    const last = events.at(-1)!;
    expect(last.event).toBe('result');
    expect(events.findIndex((e) => e.event === 'gap')).toBeLessThan(events.length - 1);
  });

  it('sends no gap event to a reader that keeps up', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    desktop.onCall = (call, d) => {
      for (let i = 0; i < 20; i++) d.send({ type: 'progress', id: call.id, status: 'output', chunk: `line ${i}\n` });
      d.succeed(call.id, { exitCode: 0 });
    };
    const res = await openCallStream(t, runtimeId);
    const events = await readEvents(res);
    expect(events.filter((e) => e.event === 'output')).toHaveLength(20);
    expect(events.some((e) => e.event === 'gap')).toBe(false);
  });
});

describe('SSE and the Connection header', () => {
  it('answers Connection: close to a request that asked for it, keep-alive otherwise', async () => {
    const { t, desktop, runtimeId } = await relayWithDesktop();
    desktop.onCall = (call, d) => d.succeed(call.id, { exitCode: 0 });
    const closing = await openCallStream(t, runtimeId, { connection: 'close' });
    expect(closing.headers.connection).toBe('close');
    await readEvents(closing);
    const kept = await openCallStream(t, runtimeId, { connection: 'keep-alive' });
    expect(kept.headers.connection).toBe('keep-alive');
    await readEvents(kept);
  });

  it('answers an MCP request that asked for Connection: close with close, though the MCP SDK sets keep-alive itself', async () => {
    const { t, runtimeId } = await relayWithDesktop();
    const mcp = (connection: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(`${t.relay.url}/v1/runtimes/${runtimeId}/mcp`, {
          method: 'POST',
          agent: false,
          headers: {
            authorization: `Bearer ${t.platformKey}`,
            accept: 'application/json, text/event-stream',
            'content-type': 'application/json',
            connection,
          },
        });
        req.on('response', resolve);
        req.on('error', reject);
        req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }));
      });
    const closing = await mcp('close');
    expect(closing.statusCode).toBe(200);
    expect(closing.headers.connection).toBe('close');
    closing.resume();
    await new Promise((resolve) => closing.on('end', resolve));
    const kept = await mcp('keep-alive');
    expect(kept.headers.connection).toBe('keep-alive');
    kept.resume();
  });
});
