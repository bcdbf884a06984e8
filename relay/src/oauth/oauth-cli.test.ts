import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../cli.js';
import { openAdmin } from '../relay-admin.js';
import { SqliteStore } from '../store/sqlite-store.js';

let dir: string;
let out: string[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-oauth-cli-'));
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

/** An approved client as the relay records it after a desktop's consent. */
async function approvedClient(orgId: string, name: string): Promise<string> {
  const store = new SqliteStore(dir);
  const now = new Date();
  const later = new Date(now.getTime() + 3600_000).toISOString();
  await store.insertOAuthRequest({
    id: 'oar_1',
    browserHash: 'h',
    shortCode: 'ABCD2345',
    orgId,
    clientId: 'tcl_1',
    clientName: name,
    redirectUri: 'https://claude.ai/api/mcp/auth_callback',
    state: null,
    codeChallenge: 'c'.repeat(43),
    resource: 'https://relay.example/v1/mcp',
    runtimeId: null,
    requestedCategories: [],
    createdAt: now.toISOString(),
    expiresAt: later,
    status: 'pending',
    authorizationId: null,
  });
  await store.settleOAuthRequest('oar_1', now.toISOString(), {
    status: 'approved',
    authorization: {
      id: 'oau_1',
      orgId,
      clientId: 'tcl_1',
      clientName: name,
      redirectUri: 'https://claude.ai/api/mcp/auth_callback',
      resource: 'https://relay.example/v1/mcp',
      runtimeIds: ['rt_1'],
      categories: ['read'],
      tools: ['read_file'],
      approvedBy: 'dev_1',
      createdAt: now.toISOString(),
      expiresAt: later,
      revokedAt: null,
    },
  });
  store.close();
  return 'oau_1';
}

describe('tether-relay oauth', () => {
  it('lists the approved MCP clients of an org (names escaped) and revokes one by id', async () => {
    const admin = openAdmin(dir);
    const org = await admin.createOrg('acme');
    admin.close();
    const id = await approvedClient(org.id, 'Claude\u001b[2J');
    expect(await runCli(['oauth', 'list', '--org', 'acme', '--data-dir', dir])).toBe(0);
    expect(out.at(-1)).toMatch(new RegExp(`^${id}\tClaude\\\\x1b\\[2J\tclaude\\.ai\tread\tuntil .*\truntimes: rt_1$`));
    expect(await runCli(['oauth', 'revoke', id, '--data-dir', dir])).toBe(0);
    expect(await runCli(['oauth', 'revoke', id, '--data-dir', dir])).toBe(1);
    await runCli(['oauth', 'list', '--org', 'acme', '--data-dir', dir]);
    expect(out.at(-1)).toBe('(no approved clients)');
    expect(await runCli(['oauth', 'list', '--data-dir', dir])).toBe(2);
  });
});
