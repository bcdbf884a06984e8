// The fake desktop of the latency bench: one WebSocket, a hello with N workspaces, and every
// `call` answered by reading the real 4 KB file from disk (fs.promises.readFile) into a
// `read_file` result frame. Identical for the relay and the bare reference.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrl, token, dir, workspaces, protocolVersion } = JSON.parse(process.argv[2]);

const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
ws.on('error', (err) => process.send({ type: 'error', message: `desktop socket: ${err.message}` }));
ws.on('close', (code, reason) => process.send({ type: 'closed', code, reason: reason.toString() }));
ws.on('open', () => {
  const workspaceIds = Array.from({ length: workspaces }, (_, i) => `ws${i}`);
  ws.send(JSON.stringify(helloFrame({ protocolVersion, deviceId: 'bench-desktop', workspaceIds })));
});

async function answer(frame) {
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

ws.on('message', (data) => {
  const frame = JSON.parse(data.toString());
  if (frame.type === 'welcome') process.send({ type: 'ready', runtimeIds: frame.runtimes.map((r) => r.runtimeId) });
  else if (frame.type === 'call')
    answer(frame).catch((err) =>
      ws.send(
        JSON.stringify({ type: 'result', id: frame.id, ok: false, error: { code: 'internal', message: String(err) } }),
      ),
    );
});
