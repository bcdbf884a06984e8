import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCliArgs } from './cli.js';
import { startHost } from './host.js';

/** `--ca-file`: trust a private CA for the relay's TLS certificate, saved in the config. */
describe('--ca-file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-ca-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const start = (caFile: string) =>
    startHost({ configDir: join(dir, 'config'), caFile, connect: false, useKeychain: false, env: {} });

  it('is parsed relative to the working folder', () => {
    expect(parseCliArgs(['--ca-file', 'certs/ca.pem'], '/home/p').caFile).toBe('/home/p/certs/ca.pem');
    expect(() => parseCliArgs(['--ca-file', ' '], '/home/p')).toThrow(/--ca-file/);
  });

  it('is saved in the config when the file holds a PEM certificate', async () => {
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n');
    const host = await start(caFile);
    try {
      const saved = JSON.parse(await readFile(join(dir, 'config', 'config.json'), 'utf8')) as { caFile?: string };
      expect(saved.caFile).toBe(caFile);
    } finally {
      await host.dispose();
    }
  });

  it('refuses a file it cannot read, or one without a certificate, naming the flag', async () => {
    await expect(start(join(dir, 'missing.pem'))).rejects.toThrow(/^--ca-file .*missing\.pem: cannot read the file/);
    const notPem = join(dir, 'key.txt');
    await writeFile(notPem, 'not a certificate');
    await expect(start(notPem)).rejects.toThrow(/^--ca-file .*key\.txt: no PEM certificate/);
  });
});
