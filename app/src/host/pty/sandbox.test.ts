import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommandArgs, shellStartArgs } from '@tether/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_SPEC, type SandboxSpec } from './sandbox-rules.js';
import { confinementSummary } from './pty-launcher.js';
import { detectSandbox } from './sandbox.js';
import { createShellTools, type ShellTools, type ShellToolsOptions } from './shell-tools.js';
import { expectNoProcessesLeft, tempWorkspace, toolContext, waitFor, type TempWorkspace } from './test-fixtures.js';

function bwrapWorks(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--unshare-all', '--', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_BWRAP = bwrapWorks();

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Somewhere the sandbox's private /tmp does not cover: a file there is hidden only if the rules hide it. */
const VISIBLE_TMP = process.platform === 'linux' ? '/var/tmp' : tmpdir();

describe.skipIf(!HAVE_BWRAP)('the default sandbox (bubblewrap; skipped where it cannot run)', () => {
  let ws: TempWorkspace;
  let other: string;
  let home: string;
  let configDir: string;
  let outside: string;
  let tools: ShellTools | undefined;
  const servers: net.Server[] = [];

  beforeEach(async () => {
    ws = await tempWorkspace();
    const base = await mkdtemp(path.join(VISIBLE_TMP, 'tether-sbx-'));
    home = path.join(base, 'home');
    configDir = path.join(home, '.config', 'tether');
    other = path.join(base, 'other-workspace');
    outside = path.join(base, 'outside');
    await mkdir(path.join(home, '.ssh'), { recursive: true });
    await mkdir(configDir, { recursive: true });
    await mkdir(other);
    await mkdir(outside);
    await writeFile(path.join(home, '.ssh', 'id_ed25519'), 'CANARY-SSH-KEY\n');
    await writeFile(path.join(home, '.netrc'), 'machine x password CANARY-NETRC\n');
    await writeFile(path.join(home, '.bashrc'), '# bashrc\n');
    await writeFile(path.join(home, 'notes.txt'), 'ordinary file\n');
    await writeFile(path.join(configDir, 'token'), 'tdt_CANARY-TOKEN\n');
    await writeFile(path.join(other, 'secret.txt'), 'CANARY-OTHER-WORKSPACE\n');
  });
  afterEach(async () => {
    await tools?.dispose();
    tools = undefined;
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    await ws.remove();
    await expectNoProcessesLeft();
    await rm(path.dirname(home), { recursive: true, force: true });
  });

  const open = (spec: Partial<SandboxSpec> = {}, extra: ShellToolsOptions = {}): ShellTools =>
    (tools = createShellTools({
      home,
      configDir,
      baseEnv: { ...process.env, HOME: home },
      sandbox: { ...DEFAULT_SANDBOX_SPEC, otherRoots: [other], ...spec },
      killGraceMs: 300,
      ...extra,
    }));
  const run = async (command: string, timeoutMs?: number) => {
    const result = await tools!.handlers.run_command!(
      runCommandArgs.parse({ command, ...(timeoutMs ? { timeoutMs } : {}) }),
      toolContext(ws),
    );
    return { ...result, output: result.output.replace(/\r/g, '') };
  };
  const listen = async (where: string | number): Promise<{ server: net.Server; connections: () => number }> => {
    let count = 0;
    const server = net.createServer((c) => {
      count++;
      c.on('error', () => undefined);
      c.resume(); // read to the end, so the peer's close is seen
      c.end('HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\nHELLO-FROM-HOST\n');
    });
    servers.push(server);
    await new Promise<void>((r) =>
      typeof where === 'number' ? server.listen(where, '127.0.0.1', r) : server.listen(where, r),
    );
    return { server, connections: () => count };
  };

  it("removes the private folders of hosts that were killed, keeps a live host's, and names its own with its pid", async () => {
    // A process that has ended: its pid names a stale folder (as a SIGKILLed host leaves behind).
    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    const live = spawn('sleep', ['30']);
    try {
      const stale = path.join(tmpdir(), `tether-sandbox-${dead.pid}-Abc123`);
      const alive = path.join(tmpdir(), `tether-sandbox-${live.pid}-Abc123`);
      const notADir = path.join(tmpdir(), `tether-sandbox-${dead.pid}-File12`);
      await mkdir(path.join(stale, 'net-1'), { recursive: true });
      await writeFile(path.join(stale, 'seccomp.bpf'), 'x');
      await mkdir(alive);
      await writeFile(notADir, 'not a folder');
      try {
        open();
        expect((await run('true')).exitCode).toBe(0);
        expect(await exists(stale)).toBe(false);
        expect(await exists(alive)).toBe(true);
        expect(await exists(notADir)).toBe(true);
        const own = (await readdir(tmpdir())).filter((n) => n.startsWith(`tether-sandbox-${process.pid}-`));
        expect(own).toHaveLength(1);
        await tools!.dispose();
        tools = undefined;
        expect(await exists(path.join(tmpdir(), own[0]!))).toBe(false);
      } finally {
        await rm(stale, { recursive: true, force: true });
        await rm(alive, { recursive: true, force: true });
        await rm(notADir, { force: true });
      }
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('is found on this machine', async () => {
    expect(await detectSandbox()).toEqual({ engine: 'bubblewrap', available: true });
  });

  it('says in the confirmation summary that the seccomp filter refuses unix sockets', async () => {
    open();
    const c = await tools!.confinement(ws.id, ws.root);
    expect(c).toMatchObject({ sandboxed: true, engine: 'bubblewrap', unixSocketFilter: true });
    expect(confinementSummary(c)).toMatch(/no unix sockets \(seccomp filter\)/);
    expect(confinementSummary({ ...c, unixSocketFilter: false })).toMatch(/no seccomp filter for this CPU/);
  });

  it('hides ~/.ssh, ~/.netrc, Tether’s config dir and other workspaces, but not the rest of home', async () => {
    open();
    const result = await run(
      [
        // Not even a host running as root gives the command the capabilities to take a cover away.
        `umount "$HOME/.ssh" 2>/dev/null; umount -l "$HOME/.ssh" 2>/dev/null; echo "umount=$?"`,
        `cat "$HOME/.ssh/id_ed25519"; echo "ssh=$?"`,
        `cat "$HOME/.netrc"; echo "netrc=$?"`,
        `cat ${configDir}/token; echo "token=$?"`,
        `cat ${other}/secret.txt; echo "other=$?"`,
        `cat "$HOME/notes.txt"`,
      ].join('; '),
    );
    expect(result.output).not.toContain('CANARY');
    expect(result.output).toMatch(/umount=[1-9]/);
    expect(result.output).toMatch(/ssh=[1-9]/);
    expect(result.output).toMatch(/token=[1-9]/);
    expect(result.output).toMatch(/other=[1-9]/);
    // ~/.netrc is covered by an empty file: reading it succeeds with nothing in it.
    expect(result.output).toContain('ordinary file');
  });

  it('hides extra paths a workspace names', async () => {
    open({ hidePaths: ['notes.txt'] });
    const result = await run(`cat "$HOME/notes.txt"; echo "rc=$?"`);
    expect(result.output).not.toContain('ordinary file');
  });

  it('does not show the host process, its environment or let it be signalled', async () => {
    open();
    const result = await run(
      `cat /proc/${process.pid}/environ; echo "environ=$?"; kill -0 ${process.pid}; echo "kill=$?"; ls /proc | grep -c '^[0-9]'`,
    );
    expect(result.output).toMatch(/environ=[1-9]/);
    expect(result.output).toMatch(/kill=[1-9]/);
    expect(result.output).not.toMatch(/TETHER|PATH=/);
  });

  it('writes only inside the workspace: not ~/.bashrc, not elsewhere', async () => {
    open();
    const result = await run(
      `echo inside > inside.txt; echo x >> "$HOME/.bashrc"; echo "bashrc=$?"; echo x > ${outside}/escaped; echo "outside=$?"; echo t > "$TMPDIR/scratch" && cat "$TMPDIR/scratch"`,
    );
    expect(result.output).toMatch(/Read-only file system/);
    expect(result.output).toMatch(/bashrc=[1-9]/);
    expect(result.output).toMatch(/outside=[1-9]/);
    expect(result.output).toContain('t\n');
    expect(await readFile(path.join(home, '.bashrc'), 'utf8')).toBe('# bashrc\n');
    expect(await exists(path.join(outside, 'escaped'))).toBe(false);
    expect(await readFile(path.join(ws.root, 'inside.txt'), 'utf8')).toBe('inside\n');
  });

  it('cannot reach a loopback TCP service of the host, directly or through the proxy', async () => {
    const { server, connections } = await listen(0);
    const port = (server.address() as net.AddressInfo).port;
    open();
    const result = await run(
      `curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:${port}/; echo "direct=$?"; curl -sS --max-time 5 --noproxy '' -x "$HTTP_PROXY" http://127.0.0.1:${port}/; echo "proxy=$?"; curl -sS --max-time 5 --noproxy '' -p -x "$HTTP_PROXY" http://localhost:${port}/`,
    );
    expect(result.output).toMatch(/direct=[1-9]/);
    expect(result.output).toMatch(/Tether sandbox: 127\.0\.0\.1 is a local, private or link-local address/);
    expect(result.output).toMatch(/CONNECT tunnel failed, response 403/);
    expect(result.output).not.toContain('HELLO-FROM-HOST');
    expect(connections()).toBe(0);
  });

  it('cannot connect to the host’s unix sockets, by path or abstract name', async () => {
    const sockDir = path.join(path.dirname(home), 'sockets');
    await mkdir(sockDir);
    const bySocketPath = path.join(sockDir, 'agent.sock');
    const abstract = `\0tether-test-${process.pid}-${Date.now()}`;
    const a = await listen(bySocketPath);
    const b = await listen(abstract);
    open();
    const probe = (target: string) =>
      `"${process.execPath}" -e 'require("net").connect(${JSON.stringify(target)}).on("connect",()=>{console.log("CONNECTED");process.exit(0)}).on("error",(e)=>{console.log("refused",e.code);process.exit(3)})'`;
    const result = await run(`${probe(bySocketPath)}; ${probe(abstract)}`);
    expect(result.output).not.toContain('CONNECTED');
    expect(result.output.match(/refused/g)).toHaveLength(2);
    expect(a.connections() + b.connections()).toBe(0);
  });

  it.each(['internet', 'none'] as const)(
    'cannot connect to a unix socket bound after the command started, in the workspace or abstract (%s network)',
    async (mode) => {
      open(mode === 'none' ? { network: { mode: 'none' } } : {});
      const abstract = `\0tether-late-${process.pid}-${Date.now()}`;
      const ctx = toolContext(ws);
      // The command waits for the socket file the host binds in the workspace once it runs, then tries both.
      const probe = [
        'import socket',
        `for target in ("late.sock", ${JSON.stringify(abstract)}):`,
        '    try:',
        '        s = socket.socket(socket.AF_UNIX)',
        '        s.connect(target)',
        '        print("CONNECTED")',
        '    except OSError as e:',
        '        print("refused:", e.strerror)',
      ].join('\n');
      const node = `"${process.execPath}" -e 'require("net").connect("late.sock").on("connect",()=>console.log("CONNECTED")).on("error",(e)=>console.log("node refused:",e.code))'`;
      const pending = tools!.handlers.run_command!(
        runCommandArgs.parse({
          command: `echo waiting; while [ ! -S late.sock ]; do sleep 0.05; done; python3 -c '${probe}'; ${node}`,
        }),
        ctx,
      );
      await waitFor(() => ctx.chunks.join('').includes('waiting'));
      const a = await listen(path.join(ws.root, 'late.sock'));
      const b = await listen(abstract);
      const result = await pending;
      const output = result.output.replace(/\r/g, '');
      expect(output).not.toContain('CONNECTED');
      expect(output.match(/refused: Operation not permitted/g)).toHaveLength(2);
      expect(output).toContain('node refused: EPERM');
      expect(a.connections() + b.connections()).toBe(0);
    },
  );

  it.each([
    ['Perl forwards and loads the filter', {}],
    ['socat forwards, a second bubblewrap applies it (no Perl)', { perlPath: null }],
  ] as const)(
    'keeps the forwarder out of the command’s reach, and the filter on the command (%s)',
    async (_, extra) => {
      const { server, connections } = await listen(0);
      const port = (server.address() as net.AddressInfo).port;
      open({}, { ...extra, addressAllowed: (a) => a === '127.0.0.1' });
      const result = await run(
        [
          // The forwarder is the one process (bar bubblewrap's pid 1) with the proxy socket on its command line.
          'for d in /proc/[0-9]*; do [ "$d" = /proc/1 ] && continue; case "$(tr "\\0" " " <"$d/cmdline" 2>/dev/null)" in *proxy.soc[k]*) P=${d#/proc/} ;; esac; done',
          'echo "pid=[$P]"',
          'head -c1 "/proc/$P/mem" >/dev/null; echo "mem=$?"',
          'cat /run/tether-net/socat >/dev/null; echo "read=$?"',
          `python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); print("ptrace", libc.ptrace(16, int("'"$P"'"), 0, 0), ctypes.get_errno())'`,
          `python3 -c 'import socket\ntry: socket.socket(socket.AF_UNIX)\nexcept OSError as e: print("unix=" + e.strerror)'`,
          `curl -sS --max-time 5 --noproxy '' -x "$HTTP_PROXY" http://127.0.0.1:${port}/`,
        ].join('; '),
      );
      expect(result.output).toMatch(/pid=\[\d+\]/);
      expect(result.output).toMatch(/mem=[1-9]/);
      expect(result.output).toMatch(/read=[1-9]/);
      expect(result.output).toMatch(/ptrace -1 1\b/); // EPERM
      expect(result.output).toContain('unix=Operation not permitted');
      expect(result.output).toContain('HELLO-FROM-HOST');
      expect(connections()).toBe(1);
    },
  );

  it('reaches the internet through the proxy, which forwards CONNECT and plain HTTP (tested on loopback)', async () => {
    // The test widens what the proxy may reach to loopback: no traffic leaves this machine.
    const { server, connections } = await listen(0);
    const port = (server.address() as net.AddressInfo).port;
    open({}, { addressAllowed: (a) => a === '127.0.0.1' });
    const result = await run(
      `curl -sS --max-time 5 --noproxy '' -x "$HTTP_PROXY" http://127.0.0.1:${port}/plain; curl -sS --max-time 5 --noproxy '' -p -x "$HTTP_PROXY" http://127.0.0.1:${port}/tunnel`,
    );
    expect(result.output.match(/HELLO-FROM-HOST/g)).toHaveLength(2);
    expect(connections()).toBe(2);
  });

  it('starts the command quietly even when the locale asked for is not installed', async () => {
    open();
    const result = await tools!.handlers.run_command!(
      runCommandArgs.parse({ command: 'echo "badlang=[$PERL_BADLANG]"', env: { LC_ALL: 'xx_YY.UTF-8' } }),
      toolContext(ws),
    );
    expect(result.output).not.toMatch(/perl: warning/);
    expect(result.output).toContain('badlang=[]');
  });

  it('keeps one proxy per workspace across commands, and a new one after its sessions were ended', async () => {
    open();
    const inode = async () =>
      /inode=([\d.]+)/.exec(
        (await run('echo "inode=$(stat -c %i.%z /run/tether-net/proxy.sock | tr -dc 0-9.)"')).output,
      )?.[1];
    const first = await inode();
    expect(first).toBeDefined();
    expect(await inode()).toBe(first);
    await tools!.killWorkspaceSessions(ws.id);
    const after = await inode();
    expect(after).toBeDefined();
    expect(after).not.toBe(first);
  });

  it('carries a large upload and download both ways through the forwarder at once (tested on loopback)', async () => {
    const size = 4 * 1024 * 1024;
    const server = net.createServer((c) => {
      let got = 0;
      c.on('error', () => undefined);
      c.on('data', (d: Buffer) => (got += d.length));
      // Answers while the upload is still arriving: both directions busy together.
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
      c.write(Buffer.alloc(size, 0x61));
      c.on('end', () => c.end(`got ${got}`));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    open({}, { addressAllowed: (a) => a === '127.0.0.1' });
    const result = await run(
      `head -c ${size} /dev/zero > up.bin && curl -sS --max-time 20 --noproxy '' -p -x "$HTTP_PROXY" --data-binary @up.bin http://127.0.0.1:${port}/ | wc -c`,
    );
    expect(result.output).toMatch(new RegExp(`^\\s*${size}\\s*$`, 'm'));
  });

  it('carries traffic through the Node forwarder where Perl and socat are missing (tested on loopback)', async () => {
    const { server, connections } = await listen(0);
    const port = (server.address() as net.AddressInfo).port;
    open(
      {},
      { addressAllowed: (a) => a === '127.0.0.1', forwarder: { kind: 'node', path: process.execPath }, perlPath: null },
    );
    const result = await run(
      `curl -sS --max-time 5 --noproxy '' -p -x "$HTTP_PROXY" http://127.0.0.1:${port}/tunnel; curl -sS --max-time 5 --noproxy '' -x "$HTTP_PROXY" 'http://[::1]:${port}/'`,
    );
    expect(result.output).toContain('HELLO-FROM-HOST');
    expect(result.output).toMatch(/::1 is a local, private or link-local address/);
    expect(connections()).toBe(1);
  });

  it('has no network, and says why, when nothing can carry traffic to the proxy', async () => {
    open({}, { forwarder: null, perlPath: null });
    const c = await tools!.confinement(ws.id, ws.root);
    expect(c).toMatchObject({ sandboxed: true, network: { mode: 'none' } });
    expect(c.networkNote).toMatch(/neither Perl, socat nor Node\.js/);
    const result = await run(`echo "proxy=[$HTTP_PROXY]"`);
    expect(result.output).toContain('proxy=[]');
  });

  it('in "only these domains" mode refuses any other host before resolving it', async () => {
    open({ network: { mode: 'domains', domains: ['registry.npmjs.org'] } });
    const result = await run(`curl -sS --max-time 5 https://example.invalid/; echo "rc=$?"`);
    expect(result.output).toMatch(/rc=[1-9]/);
    const direct = await run(`curl -sS --max-time 5 --noproxy '' -x "$HTTP_PROXY" http://example.invalid/`);
    expect(direct.output).toContain('Tether sandbox: example.invalid is not among the workspace');
  });

  it('in "no network" mode has no proxy at all', async () => {
    open({ network: { mode: 'none' } });
    const result = await run(
      `echo "proxy=[$HTTP_PROXY]"; curl -sS --max-time 5 http://127.0.0.1:${SANDBOX_PORT}/; echo "rc=$?"`,
    );
    expect(result.output).toContain('proxy=[]');
    expect(result.output).toMatch(/rc=[1-9]/);
  });

  it('kills setsid and double-forked children with the command on timeout, and after a normal exit', async () => {
    open();
    const marker = newMarker();
    const timed = await run(`${spawnMarked(marker)}; sleep 30`, 1500);
    expect(timed.timedOut).toBe(true);
    expect(await markedProcesses(marker)).toBe(0);
    const other = newMarker();
    const after = await run(`${spawnMarked(other)}; echo started`);
    expect(after.output).toContain('started');
    await waitFor(async () => (await markedProcesses(other)) === 0, 5000, 'the children of a finished command to die');
  });

  it('kills the whole sandbox, setsid and double-forked children included, on cancel', async () => {
    open();
    const marker = newMarker();
    const controller = new AbortController();
    const ctx = toolContext(ws, { signal: controller.signal });
    const pending = tools!.handlers.run_command!(
      runCommandArgs.parse({ command: `${spawnMarked(marker)}; echo started; sleep 60` }),
      ctx,
    );
    await waitFor(async () => ctx.chunks.join('').includes('started') && (await markedProcesses(marker)) >= 2);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await waitFor(async () => (await markedProcesses(marker)) === 0, 5000, 'the marked processes to die');
  });

  it('kills a session’s setsid children with shell_kill', async () => {
    open();
    const marker = newMarker();
    const ctx = toolContext(ws);
    const { sessionId } = await tools!.handlers.shell_start!(shellStartArgs.parse({ command: 'sh' }), ctx);
    await tools!.handlers.shell_write!({ sessionId, input: `${spawnMarked(marker)}\n`, waitMs: 500 }, ctx);
    await waitFor(async () => (await markedProcesses(marker)) >= 2);
    await tools!.handlers.shell_kill!({ sessionId }, ctx);
    await waitFor(async () => (await markedProcesses(marker)) === 0, 5000, 'the marked processes to die');
  });

  it('kills every sandboxed process when the host process dies', async () => {
    const marker = newMarker();
    // A real host process (tsx runs this source) that starts a sandboxed command and is then SIGKILLed.
    const script = `
      import { createShellTools } from ${JSON.stringify(path.join(import.meta.dirname, 'shell-tools.ts'))};
      import { PathGuard } from ${JSON.stringify(path.join(import.meta.dirname, '..', 'fs', 'path-guard.ts'))};
      const tools = createShellTools();
      const guard = await PathGuard.open(${JSON.stringify(ws.root)});
      void tools.handlers.run_command({ command: ${JSON.stringify(`${spawnMarked(marker)}; sleep 60`)}, timeoutMs: 60000 }, {
        workspace: { id: 'w', name: 'w', root: ${JSON.stringify(ws.root)} }, guard, signal: new AbortController().signal,
        callId: 'c', onOutput: () => true, whenDrained: () => Promise.resolve(),
      });`;
    const file = path.join(path.dirname(home), 'host.mts');
    await writeFile(file, script);
    const tsx = path.join(process.cwd(), 'node_modules', '.bin', 'tsx');
    // Its private folder goes where afterEach cleans up: a SIGKILLed host cannot remove it.
    const host = spawn(tsx, [file], {
      stdio: 'ignore',
      detached: true,
      env: { ...process.env, TMPDIR: path.dirname(home) },
    });
    try {
      await waitFor(async () => (await markedProcesses(marker)) >= 2, 30_000, 'the sandboxed command to start');
    } finally {
      process.kill(-host.pid!, 'SIGKILL'); // tsx and the host it runs: a crash, no cleanup code runs
    }
    await waitFor(async () => (await markedProcesses(marker)) === 0, 5000, 'the marked processes to die');
  }, 60_000);

  it.each(['none', 'internet'] as const)(
    'runs legitimate work under the filter: git, npm, python3, node and writing in the workspace (%s network)',
    async (mode) => {
      open(mode === 'none' ? { network: { mode: 'none' } } : {});
      const result = await run(
        [
          'git init -q . && echo hi > a.txt && git status --porcelain && npm --version',
          // socketpair(AF_UNIX) stays allowed: Python and Node (child stdio) use it.
          'python3 -c "import socket; socket.socketpair(); print(6*7)"',
          `"${process.execPath}" -e 'process.stdout.write(require("child_process").execFileSync("echo", ["child-ok"]))'`,
          '[ -e /proc/self/fd/9 ] || echo no-filter-fd',
        ].join(' && '),
      );
      expect(result.exitCode).toBe(0);
      expect(result.output).toContain('?? a.txt');
      expect(result.output).toMatch(/\d+\.\d+\.\d+/);
      expect(result.output).toContain('42');
      expect(result.output).toContain('child-ok');
      expect(result.output).toContain('no-filter-fd');
    },
    60_000,
  );

  it('confines interactive shell sessions the same way, and kills them', async () => {
    open();
    const ctx = toolContext(ws);
    const { sessionId } = await tools!.handlers.shell_start!(shellStartArgs.parse({ command: 'sh' }), ctx);
    let all = (
      await tools!.handlers.shell_write!(
        { sessionId, input: `cat "$HOME/.ssh/id_ed25519"; echo x > ${outside}/escaped; echo "rc=$?"\n`, waitMs: 1000 },
        ctx,
      )
    ).output;
    await waitFor(async () => {
      all += (await tools!.handlers.shell_read!({ sessionId, waitMs: 200 }, ctx)).output;
      return /rc=\d\r?\n/.test(all.replace(/rc=\$\?/g, ''));
    });
    expect(all).not.toContain('CANARY');
    expect(all).toMatch(/rc=[1-9]/);
    expect(await exists(path.join(outside, 'escaped'))).toBe(false);
    expect(await tools!.handlers.shell_kill!({ sessionId }, ctx)).toMatchObject({ killed: true });
  });

  it('runs unconfined when the workspace switched the sandbox off', async () => {
    open({ mode: 'off' });
    const result = await run(`cat "$HOME/.ssh/id_ed25519"`);
    expect(result.output).toContain('CANARY-SSH-KEY');
    expect(await tools!.confinement(ws.id, ws.root)).toMatchObject({ sandboxed: false });
  });

  it('falls back to unconfined, and says why, when bubblewrap is missing', async () => {
    const bwrapPath = path.join(outside, 'no-such-bwrap');
    open({}, { bwrapPath });
    const c = await tools!.confinement(ws.id, ws.root);
    expect(c.sandboxed).toBe(false);
    expect(c.reason).toMatch(/not installed/);
  });
});

const SANDBOX_PORT = 3128;

/** A number no other process has on its command line: the marked processes sleep that many seconds. */
function newMarker(): string {
  return `${7_000_000 + Math.floor(Math.random() * 1_000_000)}`;
}

/** Shell text that starts a setsid child and a double-forked one, both marked by their sleep time. */
function spawnMarked(marker: string): string {
  return `setsid sleep ${marker} & (sleep ${marker}.5 &)`;
}

/** How many processes on the whole machine (not only our descendants) carry `marker` in their command line. */
async function markedProcesses(marker: string): Promise<number> {
  let count = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/cmdline`, 'utf8')).includes(`\0${marker}`)) count++;
    } catch {
      // gone
    }
  }
  return count;
}
