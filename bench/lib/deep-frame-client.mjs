// A desktop in its own process (so its work of sending does not colour the bench's timings):
// connects with the token, says hello, sends one `[[[…]]]` frame of DEPTH brackets each way,
// and reports { type: 'closed', code } when the relay closes the socket.
import WebSocket from 'ws';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrl, token, deviceId, depth, protocolVersion } = JSON.parse(process.argv[2]);
const frame = '['.repeat(depth) + ']'.repeat(depth);
const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
ws.on('error', () => undefined);
ws.on('close', (code) => {
  process.send({ type: 'closed', code });
  setTimeout(() => process.exit(0), 50);
});
ws.on('message', (m) => {
  if (JSON.parse(m.toString()).type === 'welcome') process.send({ type: 'welcomed' });
});
ws.on('open', () => ws.send(JSON.stringify(helloFrame({ protocolVersion, deviceId, workspaceIds: ['ws-1'] }))));
process.on('message', (msg) => {
  if (msg.cmd === 'send') ws.send(frame);
});
