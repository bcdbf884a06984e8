// The CPU cost of each stage a 2 MiB read's result goes through, each timed alone in this
// process: `node bench/lib/large-frame-stages.mjs` (after npx tsc -b). Desktop: read the file,
// JSON.stringify the result frame, count its UTF-8 bytes, encode it, mask it (ws, in JS
// without its native addon). Relay: unmask, decode, the bounds pre-scan, parse and validate,
// stringify the platform's answer. Used to find where host-large-read's time goes.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { countUtf8Bytes, parseAppFrame, scanJson, utf8ByteLength } from '../../shared/dist/index.js';
import { tempDir } from './bench-util.mjs';

const require = createRequire(import.meta.url);
// ws's own masking, as its sender and receiver call it (not part of its exports).
const bufferUtil = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js'));
const ROUNDS = Number(process.env.BENCH_STAGE_ROUNDS ?? 20);

const line = `${'x'.repeat(99)}\n`;
const content = line.repeat((2 * 1024 * 1024) / line.length);
const tmp = await tempDir('tether-bench-stages-');
const file = join(tmp.dir, 'big.txt');
writeFileSync(file, content);
const value = {
  path: 'big.txt',
  content,
  encoding: 'utf8',
  totalLines: 20971,
  offset: 0,
  count: 20971,
  size: content.length,
  truncated: false,
};
const frame = { type: 'result', id: 'call_0123456789abcdef01234567', ok: true, value };

/** Mean ms of `f` over ROUNDS runs, after one unmeasured. */
function time(name, f) {
  f();
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) f();
  console.log(`${name.padEnd(40)} ${((performance.now() - start) / ROUNDS).toFixed(2).padStart(7)} ms`);
}

let text = '';
let bytes = Buffer.alloc(0);
const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
console.log(
  `one 2 MiB read_file result, mean of ${ROUNDS} (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`,
);
time('desktop: read the file (utf8)', () => readFileSync(file, 'utf8'));
time('desktop: JSON.stringify the result frame', () => (text = JSON.stringify(frame)));
time('desktop: count UTF-8 bytes in JS (before)', () => countUtf8Bytes(text));
time('desktop: utf8ByteLength (now native)', () => utf8ByteLength(text));
time('desktop: Buffer.from (encode)', () => (bytes = Buffer.from(text)));
const framed = Buffer.alloc(bytes.length + 14);
time('desktop: ws mask in JS (random key)', () => bufferUtil.mask(bytes, mask, framed, 14, bytes.length));
const payload = framed.subarray(14);
time('relay: ws unmask in JS (random key)', () => bufferUtil.unmask(payload, mask));
time('relay: decode the frame (toString)', () => bytes.toString('utf8'));
time('relay: bounds pre-scan (scanJson)', () => scanJson(text));
time('relay: parseAppFrame (scan, parse, zod)', () => parseAppFrame(text));
time('relay: JSON.stringify the answer', () => JSON.stringify({ callId: frame.id, result: value }));
await tmp.dispose();
