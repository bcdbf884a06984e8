import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientMetadataFetcher, fetchClientMetadataSafely } from './client-metadata-fetcher.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let server: Server;
let base: string;
let cert: string;

/** A loopback https server: the tests cannot reach the internet, so the fetcher is pointed here with loopback allowed. */
beforeAll(async () => {
  if (!hasOpenssl()) return;
  dir = await mkdtemp(join(tmpdir(), 'tether-cimd-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  server = createServer({ cert, key: await readFile(join(dir, 'key.pem'), 'utf8') }, (req, res) => {
    if (req.url === '/ok.json') return res.end(JSON.stringify({ client_id: 'x', redirect_uris: [] }));
    if (req.url === '/big.json') return res.end('x'.repeat(100_000));
    if (req.url === '/redirect.json') {
      res.writeHead(302, { location: '/ok.json' });
      return res.end();
    }
    // /slow.json: headers, then nothing more.
    res.writeHead(200);
    res.write('{');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasOpenssl())('createClientMetadataFetcher (skipped without openssl)', () => {
  const loopbackOk = () => createClientMetadataFetcher({ allowAddress: () => true, ca: cert, timeoutMs: 500 });

  it('reads a document, and the production fetcher refuses the same loopback server', async () => {
    expect(JSON.parse(await loopbackOk()(new URL(`${base}/ok.json`)))).toEqual({ client_id: 'x', redirect_uris: [] });
    await expect(fetchClientMetadataSafely(new URL(`${base}/ok.json`))).rejects.toThrow(/not public/);
  });

  it('refuses a document over the size cap, a redirect, and one that takes too long', async () => {
    await expect(loopbackOk()(new URL(`${base}/big.json`))).rejects.toThrow(/larger than 16384 bytes/);
    await expect(loopbackOk()(new URL(`${base}/redirect.json`))).rejects.toThrow(/HTTP 302/);
    await expect(loopbackOk()(new URL(`${base}/slow.json`))).rejects.toThrow(/took too long/);
  });
});
