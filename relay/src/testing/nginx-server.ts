import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './test-relay.js';

/** Debian's nginx (`.ci/run` installs it beside redis-server and postgresql). */
export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => existsSync(p));

/** A real nginx for tests, in the foreground, with a temp prefix. */
export interface TestNginx {
  /** The Unix socket it listens on (`listen: 'unix'`). */
  socketPath: string | null;
  /** `http://127.0.0.1:<port>` (`listen: 'tcp'`). */
  url: string | null;
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts nginx with a site (a server block, as in docs/nginx*.conf) included in its `http`
 * block. `site(listen)` gets what its `listen` directive should say: a Unix socket in the temp
 * dir (no port to pick), or with `listen: 'tcp'` a free loopback port. Resolves once nginx
 * listens.
 */
export async function startTestNginx(
  site: (listen: string) => string,
  listen: 'unix' | 'tcp' = 'unix',
): Promise<TestNginx> {
  if (!NGINX) throw new Error('nginx is not installed (Debian package nginx)');
  const dir = await mkdtemp(join(tmpdir(), 'tether-nginx-'));
  const socketPath = listen === 'unix' ? join(dir, 'nginx.sock') : null;
  const port = listen === 'tcp' ? await freePort() : 0;
  await writeFile(
    join(dir, 'tether-relay.conf'),
    site(socketPath !== null ? `unix:${socketPath}` : `127.0.0.1:${port}`),
  );
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  await writeFile(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${join(dir, 'tether-relay.conf')};
}
`,
  );
  const child: ChildProcess = spawn(
    NGINX,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const dispose = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Fast shutdown (SIGTERM): a graceful one would wait for open WebSockets.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const listening = (): Promise<boolean> =>
    socketPath !== null
      ? stat(socketPath).then(
          () => true,
          () => false,
        )
      : fetch(`http://127.0.0.1:${port}/`).then(
          () => true,
          () => false,
        );
  try {
    await eventually(async () => child.exitCode !== null || (await listening()), Boolean, 15_000, 'nginx listening');
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { socketPath, url: socketPath === null ? `http://127.0.0.1:${port}` : null, dispose };
}
