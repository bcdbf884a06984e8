import { access, readdir, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '@tether/relay';
import type { ConfirmationRequest } from '@tether/shared';
import type { HostEventListener } from './host-api.js';
import { startStack, waitFor, type StackOptions, type StartRelay } from './test-stack.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.dispose();
});

async function stackWith(options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(startRelay as unknown as StartRelay, options);
  stacks.push(stack);
  return stack;
}

/** Subscribes a front end that answers every confirmation with `decision` (after `before`, if given). */
function answerer(
  stack: Stack,
  decision: 'allow_once' | 'deny',
  before?: (req: ConfirmationRequest) => Promise<void>,
): { asked: ConfirmationRequest[]; stop: () => void } {
  const asked: ConfirmationRequest[] = [];
  const listener: HostEventListener = (event, payload) => {
    if (event !== 'confirm:request') return;
    const req = payload as ConfirmationRequest;
    asked.push(req);
    void (async () => {
      await before?.(req);
      await stack.host.api.request('confirm:answer', { confirmationId: req.id, decision });
    })();
  };
  return { asked, stop: stack.host.api.subscribe(listener, { answersConfirmations: true }) };
}

describe('Host with the relay', () => {
  describe('policy through the relay', () => {
    it('runs a read the policy allows and answers it over HTTP', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      expect(runtime.workspace.name).toBe('workspace');
      const { status, result } = await stack.call(runtime.id, 'read_file', { path: 'hello.txt' });
      expect(status).toBe(200);
      expect(result.content).toBe('hello from the workspace\n');
    });

    it('refuses a write under ask with confirmation_unavailable when nobody can be asked', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const { status, error } = await stack.call(runtime.id, 'write_file', { path: 'new.txt', content: 'x' });
      expect(error?.code).toBe('confirmation_unavailable');
      expect(status).toBe(503);
      await expect(access(join(stack.workspaceDir, 'new.txt'))).rejects.toThrow();
    });

    it('writes the file when a subscribed front end allows it', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const front = answerer(stack, 'allow_once');
      const { status, result } = await stack.call(
        runtime.id,
        'write_file',
        { path: 'new.txt', content: 'written\n' },
        { timeoutMs: 20_000 },
      );
      expect(status).toBe(200);
      expect(result.created).toBe(true);
      expect(await readFile(join(stack.workspaceDir, 'new.txt'), 'utf8')).toBe('written\n');
      expect(front.asked).toHaveLength(1);
      expect(front.asked[0]).toMatchObject({
        tool: 'write_file',
        category: 'write',
        detail: { kind: 'write', path: 'new.txt', isNew: true },
      });
      front.stop();
    });

    it('refuses the write with confirmation_denied when the front end denies it', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const front = answerer(stack, 'deny');
      const { status, error } = await stack.call(
        runtime.id,
        'write_file',
        { path: 'new.txt', content: 'x' },
        { timeoutMs: 20_000 },
      );
      expect(error?.code).toBe('confirmation_denied');
      expect(status).toBe(403);
      await expect(access(join(stack.workspaceDir, 'new.txt'))).rejects.toThrow();
      front.stop();
    });

    it('answers runtime_paused while the person has paused the workspace', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const [workspace] = (await stack.host.api.request('state:get', {})).workspaces;
      await stack.host.api.request('workspace:update', { id: workspace!.id, paused: true });
      await stack.runtimeIn('paused');
      const { status, error } = await stack.call(runtime.id, 'read_file', { path: 'hello.txt' });
      expect(error?.code).toBe('runtime_paused');
      expect(status).toBe(409);
      await stack.host.api.request('workspace:update', { id: workspace!.id, paused: false });
      await stack.runtimeIn('running');
      expect((await stack.call(runtime.id, 'read_file', { path: 'hello.txt' })).status).toBe(200);
    });
  });

  describe('pause', () => {
    it("ends the workspace's shell sessions when the person pauses it", async () => {
      const stack = await stackWith({ policy: { read: 'allow', write: 'allow', shell: 'allow' } });
      const runtime = await stack.runtimeIn('running');
      const started = await stack.call(runtime.id, 'shell_start', {});
      expect(started.status).toBe(200);
      expect((await stack.call(runtime.id, 'shell_list', {})).result.sessions).toHaveLength(1);
      const [workspace] = (await stack.host.api.request('state:get', {})).workspaces;
      await stack.host.api.request('workspace:update', { id: workspace!.id, paused: true });
      await stack.runtimeIn('paused');
      await stack.host.api.request('workspace:update', { id: workspace!.id, paused: false });
      await stack.runtimeIn('running');
      const sessions = await waitFor(async () => {
        const list = (await stack.call(runtime.id, 'shell_list', {})).result.sessions as Array<{ exited: boolean }>;
        return list.every((s) => s.exited) ? list : undefined;
      }, 'the session to end');
      expect(sessions.length).toBeLessThanOrEqual(1);
    });
  });

  describe('events', () => {
    it('passes file changes in the workspace to the platform as SSE files events', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      await stack.host.workspaces.list()[0]!.whenWatching();
      const reader = new AbortController();
      const res = await fetch(`${stack.relay.url}/v1/runtimes/${runtime.id}/events`, {
        headers: { Authorization: `Bearer ${stack.platformKey}`, Accept: 'text/event-stream' },
        signal: reader.signal,
      });
      expect(res.status).toBe(200);
      let text = '';
      const reading = (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          text += decoder.decode(chunk, { stream: true });
      })().catch(() => undefined);
      await waitFor(() => text.includes('event: state'), 'the first state event');
      await writeFile(join(stack.workspaceDir, 'notes.md'), '# notes\n');
      await waitFor(() => /event: files\ndata: .*"path":"notes\.md"/.test(text), 'a files event naming notes.md');
      expect(text).not.toContain(stack.workspaceDir); // never the folder's real path
      reader.abort();
      await reading;
    });
  });

  describe('workspace health', () => {
    it('puts the runtime in error when its folder is deleted, and back to running when it is restored', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      await rm(stack.workspaceDir, { recursive: true, force: true });
      const failed = await stack.runtimeIn('error');
      expect(failed.id).toBe(runtime.id);
      expect(failed.reason).toMatch(/no longer exists/);
      await mkdir(stack.workspaceDir);
      await writeFile(join(stack.workspaceDir, 'hello.txt'), 'back\n');
      await stack.runtimeIn('running');
      const { result } = await stack.call(runtime.id, 'read_file', { path: 'hello.txt' });
      expect(result.content).toBe('back\n');
    });
  });

  describe('reconnect', () => {
    it('is running again by itself after the relay restarts on the same port', async () => {
      const stack = await stackWith();
      const before = await stack.runtimeIn('running');
      await stack.relay.close();
      await waitFor(() => stack.host.relay.status.state !== 'connected', 'the host to notice');
      await stack.restartRelay();
      const after = await stack.runtimeIn('running', 30_000);
      expect(after.id).toBe(before.id);
      await waitFor(() => stack.host.relay.status.state === 'connected', 'the host connected again');
      expect((await stack.call(after.id, 'read_file', { path: 'hello.txt' })).status).toBe(200);
    });

    it('archives the runtime when the workspace is removed on the desktop', async () => {
      const stack = await stackWith();
      const runtime = await stack.runtimeIn('running');
      const [workspace] = (await stack.host.api.request('state:get', {})).workspaces;
      expect(await stack.host.api.request('workspace:remove', { id: workspace!.id })).toEqual({ removed: true });
      await waitFor(
        async () => (await stack.platform('GET', `/v1/runtimes/${runtime.id}`)).body?.state === 'archived',
        'the runtime archived',
      );
    });
  });

  describe('dispose', () => {
    it('leaves no socket, server, watcher, pty, process or timer behind', async () => {
      const counted = [
        'TCPSocketWrap',
        'TCPServerWrap',
        'ProcessWrap',
        'TTYWrap',
        'FSEventWrap',
        'StatWatcher',
        'Timeout',
      ];
      const count = (): Map<string, number> => {
        const counts = new Map<string, number>();
        for (const r of process.getActiveResourcesInfo())
          if (counted.includes(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
        return counts;
      };
      const before = count();
      const extra = (only: string[] = counted): string[] =>
        [...count()]
          .filter(([r, n]) => only.includes(r) && n > (before.get(r) ?? 0))
          .map(([r, n]) => `${r}×${n - (before.get(r) ?? 0)}`);
      const stack = await startStack(startRelay as unknown as StartRelay, {
        policy: { read: 'allow', write: 'allow', shell: 'allow' },
      });
      const runtime = await stack.runtimeIn('running');
      expect((await stack.call(runtime.id, 'run_command', { command: 'echo hi' })).status).toBe(200);
      expect((await stack.call(runtime.id, 'shell_start', {})).status).toBe(200);
      // The check sees what the host opens: watchers and the session's pty.
      expect(extra(['FSEventWrap', 'TTYWrap']).length).toBe(2);
      // The host alone first, with the relay and the folder still there: its watchers and ptys must go.
      await stack.host.dispose();
      await waitFor(
        () => extra(['FSEventWrap', 'TTYWrap', 'ProcessWrap', 'StatWatcher']).length === 0,
        'the host to release its watchers and ptys',
        10_000,
      ).catch(() => {
        throw new Error(`still open after host.dispose(): ${extra().join(', ')}`);
      });
      await stack.dispose();
      await waitFor(() => extra().length === 0, 'every resource to be released', 10_000).catch(() => {
        throw new Error(`still open after dispose: ${extra().join(', ')}`);
      });
    });
  });

  describe('cancel', () => {
    it('kills a running command when the platform caller goes away', async () => {
      const stack = await stackWith({ policy: { read: 'allow', write: 'allow', shell: 'allow' } });
      const runtime = await stack.runtimeIn('running');
      const caller = new AbortController();
      const marker = `${7_000_000 + Math.floor(Math.random() * 1_000_000)}`;
      const request = fetch(`${stack.relay.url}/v1/runtimes/${runtime.id}/calls`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${stack.platformKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          tool: 'run_command',
          // A sleep time no other process has: found machine-wide after the cancel (pids inside the sandbox are its own).
          args: { command: `echo started > started.txt; sleep ${marker}` },
        }),
        signal: caller.signal,
      }).catch(() => undefined);
      await waitFor(() => access(join(stack.workspaceDir, 'started.txt')).then(() => true), 'the command to start');
      caller.abort();
      await request;
      const entry = await waitFor(
        async () => (await stack.host.api.request('activity:list', { tool: 'run_command' })).entries[0],
        'the audit entry',
      );
      expect(entry).toMatchObject({ outcome: 'error', errorCode: 'cancelled' });
      expect(entry.durationMs).toBeLessThan(15_000);
      const alive = async (): Promise<boolean> => {
        for (const name of await readdir('/proc')) {
          if (!/^\d+$/.test(name)) continue;
          const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
          if (cmdline.includes(`\0${marker}`)) return true;
        }
        return false;
      };
      await waitFor(async () => !(await alive()), 'the command to be gone');
    });
  });

  describe('exactly once', () => {
    it('runs a command once when the connection is cut while it runs, and the caller gets its result', async () => {
      const stack = await stackWith({ proxy: true, policy: { read: 'allow', write: 'allow', shell: 'allow' } });
      const runtime = await stack.runtimeIn('running');
      const marker = join(stack.workspaceDir, 'runs.txt');
      const states: string[] = [];
      stack.host.relay.on('status', (st: { state: string }) => states.push(st.state));
      const pending = stack.call(
        runtime.id,
        'run_command',
        { command: 'echo run >> runs.txt; sleep 1.5; echo finished' },
        { timeoutMs: 60_000 },
      );
      await waitFor(() => access(marker).then(() => true), 'the command to start');
      stack.proxy!.cut();
      const { status, result, error } = await pending;
      expect(error).toBeUndefined();
      expect(status).toBe(200);
      expect(result.exitCode).toBe(0);
      expect(result.output).toContain('finished');
      expect(await readFile(marker, 'utf8')).toBe('run\n');
      expect(states).toEqual(['connecting', 'connected']); // the cut really happened, and the host came back
      const { entries } = await stack.host.api.request('activity:list', { tool: 'run_command' });
      expect(entries).toHaveLength(1);
    });

    it('writes once when the connection is cut while the write waits for its confirmation', async () => {
      const stack = await stackWith({ proxy: true });
      const runtime = await stack.runtimeIn('running');
      let cuts = 0;
      const states: string[] = [];
      stack.host.relay.on('status', (st: { state: string }) => states.push(st.state));
      const front = answerer(stack, 'allow_once', async () => {
        // Cut while the person looks at the question; answer once the host is back.
        stack.proxy!.cut();
        cuts++;
        await waitFor(() => states.join() === 'connecting,connected', 'the host to reconnect after the cut');
      });
      const { status, result, error } = await stack.call(
        runtime.id,
        'write_file',
        { path: 'once.txt', content: 'one\n' },
        { timeoutMs: 60_000 },
      );
      expect(error).toBeUndefined();
      expect(status).toBe(200);
      expect(result.bytesWritten).toBe(4);
      expect(cuts).toBe(1);
      expect(front.asked).toHaveLength(1);
      expect(await readFile(join(stack.workspaceDir, 'once.txt'), 'utf8')).toBe('one\n');
      const { entries } = await stack.host.api.request('activity:list', { tool: 'write_file' });
      expect(entries).toHaveLength(1);
      front.stop();
    });
  });
});
