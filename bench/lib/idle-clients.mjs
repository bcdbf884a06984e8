// One process of idle fake desktops for the idle bench: `count` WebSocket connections from one
// source address (127.0.0.x, so ephemeral ports never run short), each saying hello with one
// workspace and waiting for its welcome; at most `concurrency` handshakes at a time so the
// server's accept backlog is never the thing being measured. Counts the pings it receives
// (ws answers each with a pong by itself) so the bench knows how many heartbeats happened.
// Each one is a device with a key of its own, as real desktops are: its hello answers the
// relay's challenge with a device proof, so the relay's handshakes include verifying it.
import { generateKeyPairSync, sign } from 'node:crypto';
import WebSocket from 'ws';
import { deviceProofMessage } from '../../shared/dist/index.js';
import { helloFrame, workerGuard } from './bench-util.mjs';

workerGuard();
const { wsUrl, token, count, localAddress, prefix, protocolVersion, concurrency } = JSON.parse(process.argv[2]);

const sockets = [];
let welcomed = 0;
let failed = 0;
let pings = 0;
let closedAfterWelcome = 0;
const failures = [];

const relayHost = new URL(wsUrl).host;

/** A fresh device key's proof for this connection's challenge. */
function prove(deviceId, nonce) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x;
  const message = deviceProofMessage({ relayHost, deviceId, nonce, publicKey: x });
  return { publicKey: x, relayHost, signature: sign(null, Buffer.from(message), privateKey).toString('base64url') };
}

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
    const onMessage = (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'challenge') {
        const hello = helloFrame({ protocolVersion, deviceId, workspaceIds: ['ws0'] });
        ws.send(JSON.stringify({ ...hello, proof: prove(deviceId, frame.nonce) }));
        return;
      }
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
