// One process of idle fake desktops for the idle bench: `count` WebSocket connections from one
// source address (127.0.0.x, so ephemeral ports never run short), each saying hello with one
// workspace and waiting for its welcome; at most `concurrency` handshakes at a time so the
// server's accept backlog is never the thing being measured. Counts the pings it receives
// (ws answers each with a pong by itself) so the bench knows how many heartbeats happened.
import WebSocket from 'ws';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrl, token, count, localAddress, prefix, protocolVersion, concurrency } = JSON.parse(process.argv[2]);

const sockets = [];
let welcomed = 0;
let failed = 0;
let pings = 0;
let closedAfterWelcome = 0;
const failures = [];

function open(index) {
  return new Promise((resolve) => {
    const deviceId = `${prefix}-${index}`;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      localAddress,
      perMessageDeflate: false,
    });
    let settled = false;
    const settle = (ok, why) => {
      if (settled) return;
      settled = true;
      if (ok) welcomed++;
      else {
        failed++;
        if (failures.length < 3) failures.push(why);
      }
      resolve();
    };
    ws.on('error', (err) => settle(false, err.message));
    ws.on('close', (code, reason) => {
      if (settled) closedAfterWelcome++;
      settle(false, `closed ${code} ${reason}`);
    });
    ws.on('ping', () => pings++);
    ws.on('open', () => ws.send(JSON.stringify(helloFrame({ protocolVersion, deviceId, workspaceIds: ['ws0'] }))));
    // The relay's challenge comes first; these hellos carry no device proof (the relay accepts
    // that for a device id without a key, as for desktops older than device keys).
    const onMessage = (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'challenge') return;
      ws.off('message', onMessage);
      settle(frame.type === 'welcome', `first frame was ${frame.type}`);
    };
    ws.on('message', onMessage);
    sockets.push(ws);
  });
}

let next = 0;
let stopped = false;
const lane = async () => {
  while (!stopped && next < count) await open(next++);
};

process.on('message', (msg) => {
  if (msg.cmd === 'stats') {
    const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    process.send({ type: 'stats', pings, open, welcomed, closedAfterWelcome });
  } else if (msg.cmd === 'stop') {
    // The server is too slow to take them all: open no more, keep the ones held.
    stopped = true;
  }
});

const t0 = Date.now();
await Promise.all(Array.from({ length: concurrency }, lane));
process.send({ type: 'ready', welcomed, failed, failures, stopped, seconds: (Date.now() - t0) / 1000 });
