// The fake desktop(s) of the latency benches: `devices` WebSockets (default 1), each a device
// saying hello with N workspaces, and every `call` answered by reading the real 4 KB file from
// disk (fs.promises.readFile) into a `read_file` result frame. Identical for the relay and the
// bare reference. Sends { type: 'ready', runtimeIds } once every device is welcomed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrl, token, dir, workspaces, protocolVersion, devices = 1 } = JSON.parse(process.argv[2]);

async function answer(ws, frame) {
  const content = await readFile(join(dir, frame.args.path), 'utf8');
  let lines = 0;
  for (let i = content.indexOf('\n'); i >= 0; i = content.indexOf('\n', i + 1)) lines++;
  const value = {
    path: frame.args.path,
    content,
    encoding: 'utf8',
    totalLines: lines,
    offset: 0,
    count: lines,
    size: Buffer.byteLength(content),
    truncated: false,
  };
  ws.send(JSON.stringify({ type: 'result', id: frame.id, ok: true, value }));
}

/** Connects one device; resolves with its runtime ids once welcomed. */
function connect(deviceId) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.on('error', (err) => process.send({ type: 'error', message: `desktop socket: ${err.message}` }));
    ws.on('close', (code, reason) => process.send({ type: 'closed', code, reason: reason.toString() }));
    ws.on('open', () => {
      const workspaceIds = Array.from({ length: workspaces }, (_, i) => `ws${i}`);
      ws.send(JSON.stringify(helloFrame({ protocolVersion, deviceId, workspaceIds })));
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'welcome') resolve(frame.runtimes.map((r) => r.runtimeId));
      else if (frame.type === 'call')
        answer(ws, frame).catch((err) =>
          ws.send(
            JSON.stringify({
              type: 'result',
              id: frame.id,
              ok: false,
              error: { code: 'internal', message: String(err) },
            }),
          ),
        );
    });
  });
}

const ids = [];
for (let d = 0; d < devices; d++) ids.push(...(await connect(devices === 1 ? 'bench-desktop' : `bench-desktop-${d}`)));
process.send({ type: 'ready', runtimeIds: ids });
