import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay, type RelayHandle } from '@tether/relay';
import type { CallFrame, Result, WorkspaceAnnouncement } from '@tether/shared';
import { RelayClient, type CallDispatcher } from './relay-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const workspace: WorkspaceAnnouncement = {
  workspaceId: 'ws1',
  name: 'Project',
  description: '',
  state: 'running',
  capabilities: { policy: { read: 'allow', write: 'ask', shell: 'ask' }, tools: ['stat'] },
};

const calls: CallDispatcher = {
  run: (call: CallFrame): Promise<Result<unknown>> => Promise.resolve({ ok: true, value: `ran ${call.tool}` }),
  cancel: () => undefined,
};

async function relay(): Promise<RelayHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-claim-'));
  const handle = await startRelay({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'silent' });
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => handle.close());
  await handle.admin.createOrg('acme');
  return handle;
}

function client(handle: RelayHandle, token: string, logs: string[] = []): RelayClient {
  const c = new RelayClient({
    relayUrl: handle.url,
    token,
    device: () => ({ deviceId: 'dev-1', name: 'Laptop', os: 'linux' }),
    appVersion: '0.1.0',
    announcements: () => [workspace],
    calls,
    backoff: { baseMs: 10, maxMs: 50 },
    log: (line) => logs.push(line),
  });
  cleanups.push(() => c.dispose());
  return c;
}

describe('RelayClient', () => {
  describe('a device registered to another token', () => {
    it('stays in error with the reason, without retrying, while the rightful desktop stays connected; connects once that token is revoked', async () => {
      const handle = await relay();
      const first = await handle.admin.createToken({ org: 'acme', kind: 'desktop', name: 'first install' });
      const second = await handle.admin.createToken({ org: 'acme', kind: 'desktop', name: 'second install' });
      const owner = client(handle, first.token);
      await waitFor(() => owner.status.state === 'connected', 'the owner connected');

      const logs: string[] = [];
      const other = client(handle, second.token, logs);
      await waitFor(() => other.status.state === 'error', 'the other install refused');
      expect(other.status.reason).toMatch(/registered to another desktop token \(4403\)/);
      expect(logs.filter((l) => l.includes('not reconnecting'))).toHaveLength(1);
      expect(logs.some((l) => l.includes('reconnecting in'))).toBe(false);
      expect(owner.status.state).toBe('connected');
      expect(owner.runtimes).toHaveLength(1);

      // Re-linking: the admin revokes the old token, the person connects again.
      await handle.admin.revokeToken(first.id);
      await waitFor(() => owner.status.state === 'error', 'the owner refused after revocation');
      other.setEnabled(true);
      await waitFor(() => other.status.state === 'connected', 'the other install connected');
      expect(other.runtimes).toEqual(owner.runtimes);
    });
  });
});
