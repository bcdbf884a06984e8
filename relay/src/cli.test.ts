import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli, serveOptions } from './cli.js';
import { openAdmin } from './relay-admin.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { SqliteStore } from './store/sqlite-store.js';
import { hashToken } from './tokens.js';

let dir: string;
let out: string[];
let err: string[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-cli-'));
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('runCli', () => {
  describe('token create', () => {
    it('prints the token alone on its last line and stores only its hash', async () => {
      expect(await runCli(['org', 'create', 'acme', '--data-dir', dir])).toBe(0);
      expect(
        await runCli(['token', 'create', '--org', 'acme', '--kind', 'desktop', '--name', 'laptop', '--data-dir', dir]),
      ).toBe(0);
      const token = out.at(-1)!;
      expect(token).toMatch(/^tdt_[A-Za-z0-9_-]{43}$/);
      const store = new SqliteStore(dir);
      const record = await store.findTokenByHash(hashToken(token));
      expect(record).toMatchObject({ kind: 'desktop', name: 'laptop', hash: hashToken(token) });
      expect(JSON.stringify(record)).not.toContain(token);
      store.close();
    });
  });

  describe('token list and revoke', () => {
    it('lists tokens and revokes one by id', async () => {
      const admin = openAdmin(dir);
      await admin.createOrg('acme');
      const { id } = await admin.createToken({ org: 'acme', kind: 'platform', name: 'backend' });
      admin.close();
      expect(await runCli(['token', 'list', '--org', 'acme', '--data-dir', dir])).toBe(0);
      expect(out.at(-1)).toMatch(new RegExp(`^${id}\tplatform\t.*\tactive\tbackend$`));
      expect(await runCli(['token', 'revoke', id, '--data-dir', dir])).toBe(0);
      expect(await runCli(['token', 'revoke', id, '--data-dir', dir])).toBe(1);
      await runCli(['token', 'list', '--org', 'acme', '--data-dir', dir]);
      expect(out.at(-1)).toContain('revoked');
    });

    it('names the devices bound to each desktop token, escaping what the desktops sent', async () => {
      const admin = openAdmin(dir);
      const org = await admin.createOrg('acme');
      const { id } = await admin.createToken({ org: 'acme', kind: 'desktop', name: 'laptop token' });
      admin.close();
      const store = new SqliteStore(dir);
      const claim = await store.claimDevice({
        orgId: org.id,
        deviceId: 'dev_1',
        name: 'Ada\u001b[2J laptop',
        os: 'linux',
        appVersion: '1.0.0',
        lastSeenAt: new Date().toISOString(),
        tokenId: id,
      });
      store.close();
      expect(claim).toMatchObject({ ok: true });
      expect(await runCli(['token', 'list', '--org', 'acme', '--data-dir', dir])).toBe(0);
      expect(out.at(-1)).toBe(
        `${id}\tdesktop\t${out.at(-1)!.split('\t')[2]}\tactive\tlaptop token\tdevices: Ada\\x1b[2J laptop (dev_1)`,
      );
    });

    it('takes the data dir from TETHER_RELAY_DATA_DIR', async () => {
      vi.stubEnv('TETHER_RELAY_DATA_DIR', dir);
      try {
        expect(await runCli(['org', 'create', 'envorg'])).toBe(0);
        const admin = openAdmin(dir);
        expect(await admin.listTokens('envorg')).toEqual([]);
        admin.close();
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  describe('serveOptions', () => {
    it('reads the rate limits and the metrics token from flags', () => {
      const options = serveOptions(
        [
          '--credential-requests-per-window',
          '500',
          '--credential-window-ms',
          '2000',
          '--auth-failures-per-window',
          '7',
          '--auth-failure-window-ms',
          '30000',
          '--metrics-token',
          'scrape-0123456789abcdef',
        ],
        {},
      );
      expect(options.limits).toEqual({
        credentialRequestsPerWindow: 500,
        credentialWindowMs: 2000,
        authFailuresPerWindow: 7,
        authFailureWindowMs: 30000,
      });
      expect(options.metricsToken).toBe('scrape-0123456789abcdef');
    });

    it('reads them from TETHER_RELAY_* variables, and flags win', () => {
      const env = {
        TETHER_RELAY_CREDENTIAL_REQUESTS_PER_WINDOW: '0',
        TETHER_RELAY_CREDENTIAL_WINDOW_MS: '5000',
        TETHER_RELAY_AUTH_FAILURES_PER_WINDOW: '0',
        TETHER_RELAY_AUTH_FAILURE_WINDOW_MS: '1000',
        TETHER_RELAY_METRICS_TOKEN: 'from-env-0123456789',
        TETHER_RELAY_DATA_DIR: '/srv/relay',
      };
      expect(serveOptions([], env)).toMatchObject({
        dataDir: '/srv/relay',
        metricsToken: 'from-env-0123456789',
        // 0 requests or failures per window: that limit is off.
        limits: {
          credentialRequestsPerWindow: 0,
          credentialWindowMs: 5000,
          authFailuresPerWindow: 0,
          authFailureWindowMs: 1000,
        },
      });
      const flagged = serveOptions(['--auth-failures-per-window', '3', '--metrics-token', 'from-flag-0123456789'], env);
      expect(flagged.limits?.authFailuresPerWindow).toBe(3);
      expect(flagged.metricsToken).toBe('from-flag-0123456789');
    });

    it('leaves every limit and the metrics token at the defaults when nothing is set', () => {
      const options = serveOptions([], { TETHER_RELAY_METRICS_TOKEN: '' });
      expect(options.limits).toEqual({});
      expect(options).not.toHaveProperty('metricsToken');
    });

    it('reads --trust-proxy and TETHER_RELAY_TRUST_PROXY: true, a hop count, or addresses and CIDRs', () => {
      expect(serveOptions(['--trust-proxy', 'true'], {}).trustProxy).toBe(true);
      expect(serveOptions(['--trust-proxy', '2'], {}).trustProxy).toBe(2);
      expect(serveOptions([], { TETHER_RELAY_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual([
        'loopback',
        '10.0.0.0/8',
      ]);
      expect(serveOptions(['--trust-proxy', 'false'], { TETHER_RELAY_TRUST_PROXY: 'true' }).trustProxy).toBe(false);
      expect(serveOptions([], {})).not.toHaveProperty('trustProxy');
    });

    it('reads --allowed-origins and TETHER_RELAY_ALLOWED_ORIGINS, and refuses a path in one (exit 2)', async () => {
      expect(serveOptions(['--allowed-origins', 'https://a.example,https://b.example'], {}).allowedOrigins).toEqual([
        'https://a.example',
        'https://b.example',
      ]);
      expect(serveOptions([], { TETHER_RELAY_ALLOWED_ORIGINS: '*' }).allowedOrigins).toEqual(['*']);
      expect(serveOptions([], {})).not.toHaveProperty('allowedOrigins');
      expect(await runCli(['serve', '--data-dir', dir, '--allowed-origins', 'https://a.example/app'])).toBe(2);
      expect(err.join('\n')).toContain('--allowed-origins: "https://a.example/app"');
    });

    it('reads --public-url and refuses one that is not an http(s) URL (exit 2)', async () => {
      expect(serveOptions(['--public-url', 'https://relay.example/'], {}).publicUrl).toBe('https://relay.example');
      expect(serveOptions([], { TETHER_RELAY_PUBLIC_URL: 'https://r.example/base' }).publicUrl).toBe(
        'https://r.example/base',
      );
      expect(await runCli(['serve', '--data-dir', dir, '--public-url', 'relay.example'])).toBe(2);
      expect(err.join('\n')).toContain('--public-url must be an http(s) URL');
    });

    it('refuses a --trust-proxy it cannot read rather than trusting everyone (exit 2)', async () => {
      expect(await runCli(['serve', '--data-dir', dir, '--trust-proxy', 'lopback'])).toBe(2);
      expect(err.join('\n')).toContain('--trust-proxy: not an address, CIDR or hop count: lopback');
    });

    it('refuses a short metrics token from the environment (exit 2, before serving)', async () => {
      vi.stubEnv('TETHER_RELAY_METRICS_TOKEN', 'short');
      try {
        expect(await runCli(['serve', '--data-dir', dir])).toBe(2);
        expect(err.join('\n')).toContain('--metrics-token must be at least 16');
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  describe('bad usage', () => {
    it.each([
      [['token', 'create', '--org', 'acme', '--kind', 'root']],
      [['token', 'create', '--kind', 'desktop']],
      [['org', 'create']],
      [['org', 'create', 'a', 'b']],
      [['serve', '--bogus']],
      [['serve', '--tls-cert', 'only-cert.pem']],
      [['serve', '--max-in-flight-per-runtime', '0']],
      [['serve', '--port', 'eighty']],
      [['serve', '--port', '65536']],
      [['serve', '--credential-window-ms', '0']],
      [['serve', '--auth-failures-per-window', '-1']],
      [['serve', '--metrics-token', 'too-short']],
      [['serve', '--metrics-token', 'has a space in it, sixteen+']],
      [['frobnicate']],
    ])('exits 2 with a clear message for %j', async (args) => {
      expect(await runCli([...args, '--data-dir', dir])).toBe(2);
      expect(err.join('\n')).toContain('Usage:');
    });

    it.each([
      [['--help']],
      [['-h']],
      [['token', 'create', '--help']],
      [['serve', '-h']],
      [['org', 'create', '--help']],
    ])('prints the usage and exits 0 for %j', async (args) => {
      expect(await runCli([...args, '--data-dir', dir])).toBe(0);
      expect(out.join('\n')).toContain('Usage:');
      expect(err).toEqual([]);
    });

    it('exits 1 naming the code for an unknown org or a duplicate', async () => {
      expect(await runCli(['token', 'create', '--org', 'nope', '--kind', 'desktop', '--data-dir', dir])).toBe(1);
      expect(err.at(-1)).toContain('not_found');
      await runCli(['org', 'create', 'acme', '--data-dir', dir]);
      expect(await runCli(['org', 'create', 'acme', '--data-dir', dir])).toBe(1);
      expect(err.at(-1)).toContain('already_exists');
      expect(await runCli(['org', 'create', 'Not A Slug', '--data-dir', dir])).toBe(1);
    });
  });

  describe('failures of the machine', () => {
    // One line an operator can act on, never a stack trace.
    const expectOneLine = (...parts: string[]) => {
      const text = err.join('\n');
      for (const part of parts) expect(text).toContain(part);
      expect(text).not.toMatch(/\n\s+at /);
      // An Error object handed to console.error would print its stack.
      expect(
        vi
          .mocked(console.error)
          .mock.calls.flat()
          .every((arg) => typeof arg === 'string'),
      ).toBe(true);
      expect(text).not.toContain('Usage:');
    };

    it('says that the port is taken, and what to do, when serve cannot listen (exit 1)', async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = taken.address() as AddressInfo;
        expect(await runCli(['serve', '--port', String(port), '--log-level', 'silent', '--data-dir', dir])).toBe(1);
        expectOneLine(`could not listen on 127.0.0.1:${port}`, 'EADDRINUSE', 'choose another --port');
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });

    it('refuses to serve a data dir another relay serves (exit 1, conflict), and starts nothing', async () => {
      const lock = await lockDataDir(dir);
      try {
        expect(await runCli(['serve', '--port', '0', '--log-level', 'silent', '--data-dir', dir])).toBe(1);
        expectOneLine('another relay is serving the data dir', '(conflict)');
      } finally {
        lock.dispose();
      }
    });

    it('names a TLS file it cannot read (exit 1)', async () => {
      const missing = join(dir, 'missing-cert.pem');
      expect(
        await runCli(['serve', '--port', '0', '--tls-cert', missing, '--tls-key', missing, '--data-dir', dir]),
      ).toBe(1);
      expectOneLine('ENOENT', missing);
    });

    it('names a data dir that is a file (exit 1)', async () => {
      const file = join(dir, 'not-a-dir');
      await writeFile(file, '');
      expect(await runCli(['org', 'create', 'acme', '--data-dir', file])).toBe(1);
      expectOneLine('EEXIST', file);
    });
  });
});
