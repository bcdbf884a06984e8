// Stand-in desktops for the cluster bench: `devices` WebSockets, each a device saying hello with
// one workspace to the first of `wsUrls`; when its connection ends it reconnects, as the real
// desktop does behind a load balancer, to the next URL, after a full-jitter delay of up to
// `jitterMs` (the real desktop's first backoff step). Sends { type: 'ready' } once all are
// welcomed, and { type: 'welcomed', count } whenever that many have been welcomed again.
import WebSocket from 'ws';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrls, token, devices, protocolVersion, jitterMs = 1_000 } = JSON.parse(process.argv[2]);
let welcomed = 0;
let rewelcomed = 0;

function connect(deviceId, attempt) {
  const url = wsUrls[Math.min(attempt, wsUrls.length - 1)];
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  let said = false;
  ws.on('error', () => undefined);
  ws.on('open', () => ws.send(JSON.stringify(helloFrame({ protocolVersion, deviceId, workspaceIds: ['ws0'] }))));
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type !== 'welcome' || said) return;
    said = true;
    if (attempt === 0) {
      if (++welcomed === devices) process.send({ type: 'ready' });
    } else process.send({ type: 'welcomed', count: ++rewelcomed });
  });
  ws.on('close', () => setTimeout(() => connect(deviceId, attempt + 1), Math.random() * jitterMs));
}

// At most 50 handshakes at a time at the start, so the first node is not flooded.
for (let d = 0; d < devices; d++) {
  connect(`bench-${d}`, 0);
  if (d % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
