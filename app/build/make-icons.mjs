#!/usr/bin/env node
// Draws Tether's icons with nothing but Node built-ins (zlib for PNG's deflate) so they can be
// rebuilt anywhere, offline: `node app/build/make-icons.mjs`. Output is committed:
//   app/build/icon.png                          512×512 app icon (electron-builder makes .icns/.ico from it)
//   app/assets/tray/tray-<state>.png, @2x       16/32 px coloured tray icons (Windows, Linux)
//   app/assets/tray/tray-<state>Template.png, @2x  16/32 px black+alpha template icons (macOS menu bar)
// States: connected, disconnected, error, waiting (DESIGN.md, Desktop app: Tray).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const trayDir = join(here, '..', 'assets', 'tray');

// --- PNG encoding -------------------------------------------------------------------------
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
/** Encodes RGBA pixels (Uint8Array, width*height*4) as a PNG. */
function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- Drawing: shapes in a unit square, 4×4 supersampling for anti-aliased edges -----------
const SAMPLES = 4;
/**
 * Renders layers ({ color: [r,g,b,a], inside(x, y) }, x/y in 0..1) over a transparent canvas;
 * a layer with `erase: true` cuts out what is under it.
 */
function render(size, layers) {
  const rgba = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0,
        g = 0,
        b = 0,
        a = 0; // premultiplied
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const x = (px + (sx + 0.5) / SAMPLES) / size;
          const y = (py + (sy + 0.5) / SAMPLES) / size;
          let cr = 0,
            cg = 0,
            cb = 0,
            ca = 0;
          for (const layer of layers) {
            if (!layer.inside(x, y)) continue;
            if (layer.erase) {
              cr = cg = cb = ca = 0;
              continue;
            }
            const [lr, lg, lb, la = 1] = layer.color;
            cr = lr * la + cr * (1 - la);
            cg = lg * la + cg * (1 - la);
            cb = lb * la + cb * (1 - la);
            ca = la + ca * (1 - la);
          }
          r += cr;
          g += cg;
          b += cb;
          a += ca;
        }
      }
      const n = SAMPLES * SAMPLES;
      const i = (py * size + px) * 4;
      const alpha = a / n;
      rgba[i] = alpha ? Math.round((r / n / alpha) * 255) : 0;
      rgba[i + 1] = alpha ? Math.round((g / n / alpha) * 255) : 0;
      rgba[i + 2] = alpha ? Math.round((b / n / alpha) * 255) : 0;
      rgba[i + 3] = Math.round(alpha * 255);
    }
  }
  return encodePng(size, size, rgba);
}

const circle = (cx, cy, radius) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
const ring = (cx, cy, outer, inner) => (x, y) => {
  const d = (x - cx) ** 2 + (y - cy) ** 2;
  return d <= outer ** 2 && d >= inner ** 2;
};
const rect = (x0, y0, x1, y1) => (x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
/** A thick segment from (ax, ay) to (bx, by). */
const segment = (ax, ay, bx, by, halfWidth) => (x, y) => {
  const dx = bx - ax,
    dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= halfWidth ** 2;
};
const roundedSquare = (inset, radius) => (x, y) => {
  const lo = inset + radius,
    hi = 1 - inset - radius;
  const cx = Math.max(lo, Math.min(hi, x)),
    cy = Math.max(lo, Math.min(hi, y));
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2 && x >= inset && x <= 1 - inset && y >= inset && y <= 1 - inset;
};
const rgb = (hex, alpha = 1) => [
  parseInt(hex.slice(1, 3), 16) / 255,
  parseInt(hex.slice(3, 5), 16) / 255,
  parseInt(hex.slice(5, 7), 16) / 255,
  alpha,
];

// --- The app icon: a folder-dot tethered to a cloud-dot, on a teal tile -----------------
const WHITE = rgb('#ffffff');
const appIcon = render(512, [
  { color: rgb('#0f766e'), inside: roundedSquare(0.06, 0.2) },
  { color: rgb('#14b8a6', 0.55), inside: (x, y) => roundedSquare(0.06, 0.2)(x, y) && y < 0.5 - (x - 0.5) * 0.6 },
  { color: WHITE, inside: segment(0.33, 0.67, 0.67, 0.33, 0.035) },
  { color: WHITE, inside: circle(0.33, 0.67, 0.13) },
  { color: rgb('#0f766e'), inside: circle(0.33, 0.67, 0.065) },
  { color: WHITE, inside: circle(0.67, 0.33, 0.13) },
]);

// --- Tray icons ---------------------------------------------------------------------------
/** Shape of each state, as layers over a transparent canvas; `color` decides the tint. */
function trayLayers(state, color) {
  const c = 0.5;
  switch (state) {
    case 'connected': // a solid dot: on
      return [{ color, inside: circle(c, c, 0.42) }];
    case 'disconnected': // an empty ring: off
      return [{ color, inside: ring(c, c, 0.42, 0.29) }];
    case 'error': // a dot with a cross cut out
      return [
        { color, inside: circle(c, c, 0.44) },
        { erase: true, inside: segment(0.33, 0.33, 0.67, 0.67, 0.075) },
        { erase: true, inside: segment(0.33, 0.67, 0.67, 0.33, 0.075) },
      ];
    case 'waiting': // a dot with "!" cut out: something needs you
      return [
        { color, inside: circle(c, c, 0.44) },
        { erase: true, inside: rect(0.43, 0.2, 0.57, 0.6) },
        { erase: true, inside: circle(c, 0.74, 0.075) },
      ];
    default:
      throw new Error(state);
  }
}
const TRAY_COLOURS = { connected: '#16a34a', disconnected: '#6b7280', error: '#dc2626', waiting: '#f59e0b' };

mkdirSync(trayDir, { recursive: true });
writeFileSync(join(here, 'icon.png'), appIcon);
for (const [state, hex] of Object.entries(TRAY_COLOURS)) {
  for (const [suffix, size] of [
    ['', 16],
    ['@2x', 32],
  ]) {
    writeFileSync(join(trayDir, `tray-${state}${suffix}.png`), render(size, trayLayers(state, rgb(hex))));
    writeFileSync(join(trayDir, `tray-${state}Template${suffix}.png`), render(size, trayLayers(state, rgb('#000000'))));
  }
}
console.log(`icons written to ${here} and ${trayDir}`);
