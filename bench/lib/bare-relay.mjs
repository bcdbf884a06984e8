// The bare two-hop reference: plain node:http in front, a plain `ws` server behind, no framework,
// no validation, no auth, no store. It forwards `POST /v1/runtimes/:id/calls` as a `call` frame to
// the desktop holding the runtime and answers with the `result` frame's value. It also answers
// `hello` with a `welcome` and pings every connection at an interval (the ws README heartbeat,
// with the relay's rule: two unanswered pings end a connection), so the idle bench can hold it
// beside the relay. This is the floor the relay is measured against.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

/** Starts the bare reference on 127.0.0.1; resolves with { url, wsUrl, connections(), close() }. */
export async function startBareRelay({ heartbeatIntervalMs = 15_000, maxPayload = 8 * 1024 * 1024 } = {}) {
  const runtimes = new Map(); // runtimeId → { socket, workspaceId }
  const pending = new Map(); // callId → http response
  let seq = 0;

  const server = createServer((req, res) => {
    const match = req.method === 'POST' ? /^\/v1\/runtimes\/([^/]+)\/calls$/.exec(req.url ?? '') : null;
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const request = JSON.parse(body);
      const runtime = runtimes.get(match[1]);
      if (!runtime) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"runtime_offline"}}');
        return;
      }
      const id = `c${++seq}`;
      pending.set(id, res);
      runtime.socket.send(
        JSON.stringify({
          type: 'call',
          id,
          runtimeId: match[1],
          workspaceId: runtime.workspaceId,
          tool: request.tool,
          args: request.args,
          deadline: Date.now() + 120_000,
          caller: 'bench',
        }),
      );
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload });
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
  );
  wss.on('connection', (ws) => {
    ws.missedPongs = 0;
    // The same wire as the relay's (a challenge first); the floor does not verify the proof.
    ws.send(JSON.stringify({ type: 'challenge', nonce: randomBytes(32).toString('base64url') }));
    ws.on('error', () => undefined);
    ws.on('pong', () => (ws.missedPongs = 0));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'hello') {
        const bindings = frame.workspaces.map((w) => ({
          workspaceId: w.workspaceId,
          runtimeId: `rt-${frame.device.deviceId}-${w.workspaceId}`,
        }));
        for (const b of bindings) runtimes.set(b.runtimeId, { socket: ws, workspaceId: b.workspaceId });
        ws.send(
          JSON.stringify({
            type: 'welcome',
            sessionId: `s${++seq}`,
            runtimes: bindings,
            limits: { maxFrameBytes: maxPayload, maxInFlightPerRuntime: 32 },
            heartbeatIntervalMs,
          }),
        );
      } else if (frame.type === 'result') {
        const res = pending.get(frame.id);
        if (!res) return;
        pending.delete(frame.id);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(frame.ok ? { callId: frame.id, result: frame.value } : { error: frame.error }));
      }
    });
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (ws.missedPongs >= 2) {
        ws.terminate();
        continue;
      }
      ws.missedPongs++;
      ws.ping();
    }
  }, heartbeatIntervalMs);

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/v1/connect`,
    connections: () => wss.clients.size,
    close: async () => {
      clearInterval(heartbeat);
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
