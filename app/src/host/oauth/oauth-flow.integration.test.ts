import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { auth, refreshAuthorization, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  AuthorizationServerMetadata,
  OAuthClientInformationMixed,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startRelay } from '@tether/relay';
import type { OAuthConsent } from '@tether/shared';
import { startStack, waitFor, type StartRelay } from '../test-stack.js';

type Stack = Awaited<ReturnType<typeof startStack>>;
const stacks: Stack[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.dispose();
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

const REDIRECT = 'http://127.0.0.1:9/callback';

/** An MCP client's OAuth state, in memory, as the SDK's `auth()` drives it. */
class MemoryProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  constructor(
    readonly redirect = REDIRECT,
    readonly authMethod: 'none' | 'client_secret_basic' | 'client_secret_post' = 'none',
  ) {}
  get redirectUrl(): string {
    return this.redirect;
  }
  get clientMetadata() {
    return {
      client_name: 'Test MCP client',
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.authMethod,
    };
  }
  state(): string {
    return 'st4te';
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

async function stackWith(relayOptions: Record<string, unknown> = {}): Promise<Stack> {
  const start = ((options: Parameters<StartRelay>[0]) => startRelay({ ...options, ...relayOptions })) as StartRelay;
  const stack = await startStack(start, { policy: { read: 'allow', write: 'allow', shell: 'deny' } });
  stacks.push(stack);
  return stack;
}

/** The browser: opens the authorize URL, follows to the consent page (keeping its cookie), reads the short code. */
async function openAuthorizePage(
  url: URL,
): Promise<{ statusUrl: string; cookie: string; shortCode: string; html: string }> {
  const first = await fetch(url, { redirect: 'manual' });
  expect(first.status).toBe(303);
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0]!;
  const statusUrl = new URL(first.headers.get('location')!, url).toString();
  const page = await fetch(statusUrl, { headers: { cookie }, redirect: 'manual' });
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  const html = await page.text();
  // The org's desktop is connected: the page does not say otherwise.
  expect(html).not.toContain('id="no-desktop"');
  const shortCode = /id="short-code">([0-9A-Z-]+)</.exec(html)![1]!;
  return { statusUrl, cookie, shortCode, html };
}

/** Polls the consent page until it sends the browser back to the client; the redirect's query. */
async function waitForRedirect(statusUrl: string, cookie: string): Promise<URLSearchParams> {
  const location = await waitFor(async () => {
    const res = await fetch(statusUrl, { headers: { cookie }, redirect: 'manual' });
    await res.arrayBuffer();
    return res.status === 302 ? res.headers.get('location') : null;
  }, 'the authorize page to redirect');
  const back = new URL(location);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
  return back.searchParams;
}

/** The desktop's side: the request shows up in its state, the person approves it through the DesktopApi. */
async function approveOnDesktop(
  stack: Stack,
  shortCode: string,
  choice: { workspaceIds?: string[]; categories?: Array<'read' | 'write' | 'shell'>; ttlSeconds?: number } = {},
): Promise<OAuthConsent> {
  const consent = await waitFor(
    async () => (await stack.host.api.request('state:get', {})).oauthRequests[0],
    'the consent request on the desktop',
  );
  const state = await stack.host.api.request('state:get', {});
  await stack.host.api.request('oauth:answer', {
    requestId: consent.requestId,
    approve: true,
    shortCode,
    workspaceIds: choice.workspaceIds ?? [state.workspaces[0]!.id],
    categories: choice.categories ?? ['read'],
    ttlSeconds: choice.ttlSeconds ?? 3600,
  });
  return consent;
}

/** register → authorize → desktop approves → code: returns the provider with its code (not exchanged yet). */
async function authorizeClient(
  stack: Stack,
  mcpUrl: string,
  choice?: Parameters<typeof approveOnDesktop>[2],
  provider = new MemoryProvider(),
) {
  expect(await auth(provider, { serverUrl: mcpUrl })).toBe('REDIRECT');
  const { statusUrl, cookie, shortCode } = await openAuthorizePage(provider.authorizationUrl!);
  await approveOnDesktop(stack, shortCode, choice);
  const query = await waitForRedirect(statusUrl, cookie);
  expect(query.get('state')).toBe('st4te');
  expect(query.get('iss')).toBe(stack.relay.url);
  return { provider, code: query.get('code')! };
}

async function mcpClient(mcpUrl: string, provider: OAuthClientProvider): Promise<Client> {
  const client = new Client({ name: 'oauth-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return client;
}

async function mcpStatus(mcpUrl: string, token: string): Promise<{ status: number; challenge: string | null }> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
  await res.arrayBuffer();
  return { status: res.status, challenge: res.headers.get('www-authenticate') };
}

async function tokenRequest(
  stack: Stack,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.relay.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('OAuth for MCP clients, consented on the desktop', () => {
  it('runs register → authorize → desktop approval → token → tools/call → refresh → revoke with the SDK client', async () => {
    const stack = await stackWith();
    const runtime = await stack.runtimeIn('running');
    const mcpUrl = `${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`;

    // Without a token: 401 naming the resource metadata (RFC 9728), which names the relay as authorization server.
    const bare = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${stack.relay.url}/.well-known/oauth-protected-resource/v1/runtimes/${runtime.id}/mcp"`,
    );

    const { provider, code } = await authorizeClient(stack, mcpUrl);
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: code })).toBe('AUTHORIZED');
    const first = provider.saved!;
    expect(first.access_token).toMatch(/^tgr_/);
    expect(first.scope).toBe('read');

    const client = await mcpClient(mcpUrl, provider);
    const read = (await client.callTool({ name: 'read_file', arguments: { path: 'hello.txt' } })) as CallToolResult;
    expect(read.isError).toBeFalsy();
    expect(JSON.stringify(read.content)).toContain('hello from the workspace');
    // Only the categories the person chose: a write is refused even though the workspace allows writes.
    const write = (await client.callTool({
      name: 'write_file',
      arguments: { path: 'x.txt', content: 'no' },
    })) as CallToolResult;
    expect(write.isError).toBe(true);
    await client.close();

    // Listed by the relay (platform key) and on the desktop.
    const listed = await stack.platform('GET', '/v1/oauth/clients');
    expect(listed.body.clients).toHaveLength(1);
    expect(listed.body.clients[0]).toMatchObject({
      clientName: 'Test MCP client',
      redirectHost: '127.0.0.1:9',
      runtimeIds: [runtime.id],
    });
    await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthClients.length === 1,
      'the client listed on the desktop',
    );

    // Refresh rotates: the new pair works, and the old refresh token coming back revokes the family.
    const info = provider.info!;
    const metadata = (await (
      await fetch(`${stack.relay.url}/.well-known/oauth-authorization-server`)
    ).json()) as AuthorizationServerMetadata;
    const second = await refreshAuthorization(stack.relay.url, {
      metadata,
      clientInformation: info,
      refreshToken: first.refresh_token!,
    });
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await mcpStatus(mcpUrl, second.access_token)).status).toBe(200);
    const reuse = await tokenRequest(stack, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      client_id: info.client_id,
    });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await mcpStatus(mcpUrl, second.access_token)).status).toBe(401);
    expect((await mcpStatus(mcpUrl, first.access_token)).status).toBe(401);

    // A fresh authorization, revoked with its refresh token (RFC 7009): its access token stops working.
    const again = await authorizeClient(stack, mcpUrl);
    const tokens = await tokenRequest(stack, {
      grant_type: 'authorization_code',
      code: again.code,
      client_id: again.provider.info!.client_id,
      redirect_uri: REDIRECT,
      code_verifier: again.provider.verifier,
    });
    expect(tokens.status).toBe(200);
    const access = tokens.body.access_token as string;
    expect((await mcpStatus(mcpUrl, access)).status).toBe(200);
    const revoked = await fetch(`${stack.relay.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: tokens.body.refresh_token as string,
        client_id: again.provider.info!.client_id,
      }),
    });
    expect(revoked.status).toBe(200);
    const after = await mcpStatus(mcpUrl, access);
    expect(after.status).toBe(401);
    expect(after.challenge).toMatch(/^Bearer error="invalid_token", resource_metadata=/);
  });

  it('lets a confidential client (as claude.ai and ChatGPT register) in with its secret only', async () => {
    const stack = await stackWith();
    const runtime = await stack.runtimeIn('running');
    const mcpUrl = `${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`;
    const { provider, code } = await authorizeClient(
      stack,
      mcpUrl,
      {},
      new MemoryProvider(REDIRECT, 'client_secret_basic'),
    );
    const info = provider.info as { client_id: string; client_secret?: string };
    expect(info.client_secret).toMatch(/^tcs_/);
    const withoutSecret = await tokenRequest(stack, {
      grant_type: 'authorization_code',
      code,
      client_id: info.client_id,
      redirect_uri: REDIRECT,
      code_verifier: provider.verifier,
    });
    expect(withoutSecret).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // The SDK sends the secret with HTTP Basic, as registered.
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: code })).toBe('AUTHORIZED');
    expect((await mcpStatus(mcpUrl, provider.saved!.access_token)).status).toBe(200);
  });

  it('takes a client that names no resource (as claude.ai’s connector): the token is the chosen runtimes’', async () => {
    const stack = await stackWith();
    const runtime = await stack.runtimeIn('running');
    const registered = await fetch(`${stack.relay.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Claude',
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'client_secret_post',
      }),
    });
    const client = (await registered.json()) as { client_id: string; client_secret: string };
    const verifier = 'v'.repeat(50);
    const params = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: 'c1',
    };
    // This relay has one org: nobody is asked which (a relay with several shows a form, oauth-routes.test.ts).
    const posted = await fetch(`${stack.relay.url}/oauth/authorize?${new URLSearchParams(params).toString()}`, {
      redirect: 'manual',
    });
    expect(posted.status).toBe(303);
    const cookie = posted.headers.get('set-cookie')!.split(';')[0]!;
    const statusUrl = new URL(posted.headers.get('location')!, stack.relay.url).toString();
    const html = await (await fetch(statusUrl, { headers: { cookie } })).text();
    const shortCode = /id="short-code">([0-9A-Z-]+)</.exec(html)![1]!;
    const consent = await approveOnDesktop(stack, shortCode);
    expect(consent.runtimeId).toBeNull();
    const query = await waitForRedirect(statusUrl, cookie);
    const tokens = await tokenRequest(stack, {
      grant_type: 'authorization_code',
      code: query.get('code')!,
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(tokens.status).toBe(200);
    const access = tokens.body.access_token as string;
    expect((await mcpStatus(`${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`, access)).status).toBe(200);
    // Its runtimes only: any other is unknown to it.
    expect((await mcpStatus(`${stack.relay.url}/v1/runtimes/rt_000000000000000000000000/mcp`, access)).status).toBe(
      404,
    );
  });

  it('refuses a wrong PKCE verifier, a redirect URI that does not match, and a reused code (which revokes what it gave)', async () => {
    const stack = await stackWith();
    const runtime = await stack.runtimeIn('running');
    const mcpUrl = `${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`;

    const a = await authorizeClient(stack, mcpUrl);
    const clientId = a.provider.info!.client_id;
    const wrong = await tokenRequest(stack, {
      grant_type: 'authorization_code',
      code: a.code,
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_verifier: 'x'.repeat(43),
    });
    expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    const b = await authorizeClient(stack, mcpUrl);
    const mismatch = await tokenRequest(stack, {
      grant_type: 'authorization_code',
      code: b.code,
      client_id: b.provider.info!.client_id,
      redirect_uri: 'http://127.0.0.1:9/other',
      code_verifier: b.provider.verifier,
    });
    expect(mismatch).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    // At the authorize step, an unregistered redirect URI gets an error page and no redirect at all.
    const authorizeUrl = new URL(a.provider.authorizationUrl!);
    authorizeUrl.searchParams.set('redirect_uri', 'https://attacker.example/cb');
    const refused = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('location')).toBeNull();
    expect(await refused.text()).toContain('The redirect URI is not one registered for this client.');

    const c = await authorizeClient(stack, mcpUrl);
    const exchange = {
      grant_type: 'authorization_code',
      code: c.code,
      client_id: c.provider.info!.client_id,
      redirect_uri: REDIRECT,
      code_verifier: c.provider.verifier,
    };
    const ok = await tokenRequest(stack, exchange);
    expect(ok.status).toBe(200);
    expect((await mcpStatus(mcpUrl, ok.body.access_token as string)).status).toBe(200);
    const replay = await tokenRequest(stack, exchange);
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await mcpStatus(mcpUrl, ok.body.access_token as string)).status).toBe(401);
  });

  it('binds a token to its runtime: refused at another runtime’s MCP URL, one workspace only, and it expires', async () => {
    const stack = await stackWith({ oauthAccessTokenTtlSeconds: 2 });
    const first = await stack.runtimeIn('running');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(`${stack.dir}/second`);
    const added = await stack.host.api.request('workspace:add', { root: `${stack.dir}/second`, name: 'second' });
    const second = await waitFor(
      async () => (await stack.runtimes()).find((r) => r.workspace.name === 'second' && r.state === 'running'),
      'the second runtime',
    );
    const mcpUrl = `${stack.relay.url}/v1/runtimes/${first.id}/mcp`;

    // A request for one runtime's URL can be given only that runtime's workspace.
    const provider = new MemoryProvider();
    expect(await auth(provider, { serverUrl: mcpUrl })).toBe('REDIRECT');
    const page = await openAuthorizePage(provider.authorizationUrl!);
    const consent = await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthRequests[0],
      'the request',
    );
    expect(consent.runtimeId).toBe(first.id);
    await expect(
      stack.host.api.request('oauth:answer', {
        requestId: consent.requestId,
        approve: true,
        shortCode: page.shortCode,
        workspaceIds: [added.id],
        categories: ['read'],
        ttlSeconds: 3600,
      }),
    ).rejects.toMatchObject({ code: 'invalid_args' });
    // A code that is not the page's is refused by the desktop.
    await expect(
      stack.host.api.request('oauth:answer', {
        requestId: consent.requestId,
        approve: true,
        shortCode: 'ZZZZ-ZZZZ',
        workspaceIds: [(await stack.host.api.request('state:get', {})).workspaces[0]!.id],
        categories: ['read'],
        ttlSeconds: 3600,
      }),
    ).rejects.toMatchObject({ code: 'short_code_mismatch' });
    await approveOnDesktop(stack, page.shortCode.toLowerCase());
    const query = await waitForRedirect(page.statusUrl, page.cookie);
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: query.get('code')! })).toBe('AUTHORIZED');
    const token = provider.saved!.access_token;

    expect((await mcpStatus(mcpUrl, token)).status).toBe(200);
    const elsewhere = await mcpStatus(`${stack.relay.url}/v1/runtimes/${second.id}/mcp`, token);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.challenge).toContain(`/.well-known/oauth-protected-resource/v1/runtimes/${second.id}/mcp`);
    // On the REST routes it is a grant for that one runtime.
    const rest = await fetch(`${stack.relay.url}/v1/runtimes`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await rest.json()) as { runtimes: Array<{ id: string }> }).runtimes.map((r) => r.id)).toEqual([first.id]);

    await new Promise((r) => setTimeout(r, 2_200));
    const expired = await mcpStatus(mcpUrl, token);
    expect(expired.status).toBe(401);
    expect(expired.challenge).toContain('error="invalid_token"');
  });

  it('is revoked in one click on the desktop, and an admin may approve with a platform key and the page’s code', async () => {
    const stack = await stackWith();
    const runtime = await stack.runtimeIn('running');
    const mcpUrl = `${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`;
    const provider = new MemoryProvider();
    expect(await auth(provider, { serverUrl: mcpUrl })).toBe('REDIRECT');
    const page = await openAuthorizePage(provider.authorizationUrl!);
    const pending = await stack.platform('GET', '/v1/oauth/requests');
    expect(pending.body.requests).toHaveLength(1);
    expect(pending.body.requests[0].shortCode).toBeUndefined();
    const id = pending.body.requests[0].requestId as string;
    const bad = await stack.platform('POST', `/v1/oauth/requests/${id}/approve`, {
      shortCode: 'AAAA-AAAA',
      runtimeIds: [runtime.id],
      categories: ['read'],
      ttlSeconds: 600,
    });
    expect(bad).toMatchObject({ status: 403, body: { error: { code: 'short_code_mismatch' } } });
    const good = await stack.platform('POST', `/v1/oauth/requests/${id}/approve`, {
      shortCode: page.shortCode,
      runtimeIds: [runtime.id],
      categories: ['read'],
      ttlSeconds: 600,
    });
    expect(good.status).toBe(200);
    // The desktop no longer shows it once it is settled elsewhere.
    await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthRequests.length === 0,
      'the request to close on the desktop',
    );
    const query = await waitForRedirect(page.statusUrl, page.cookie);
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: query.get('code')! })).toBe('AUTHORIZED');
    const token = provider.saved!.access_token;
    expect((await mcpStatus(mcpUrl, token)).status).toBe(200);

    const listed = await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthClients[0],
      'the client on the desktop',
    );
    expect(listed.approvedBy).toMatch(/^platform:/);
    await stack.host.api.request('oauth:revoke', { authorizationId: listed.id });
    await waitFor(async () => (await mcpStatus(mcpUrl, token)).status === 401, 'the token to be refused');
    await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthClients.length === 0,
      'the list to empty',
    );
  });

  it('accepts a Client ID Metadata Document (fetched with the injected fetcher) and a denial sends access_denied back', async () => {
    const clientId = 'https://client.example/oauth/metadata.json';
    const doc = server((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ client_id: clientId, client_name: 'Metadata Client', redirect_uris: [REDIRECT] }));
    });
    const port = await doc;
    const fetchClientMetadata = async (url: URL) => {
      // Tests cannot reach the internet: the document's URL is served from loopback.
      expect(url.toString()).toBe(clientId);
      return (await fetch(`http://127.0.0.1:${port}${url.pathname}`)).text();
    };
    const stack = await stackWith({ fetchClientMetadata });
    const runtime = await stack.runtimeIn('running');
    const resource = `${stack.relay.url}/v1/runtimes/${runtime.id}/mcp`;
    const url = new URL(`${stack.relay.url}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'abc',
      resource,
    }).toString();
    const page = await openAuthorizePage(url);
    expect(page.html).toContain('Metadata Client');
    const consent = await waitFor(
      async () => (await stack.host.api.request('state:get', {})).oauthRequests[0],
      'the request',
    );
    expect(consent).toMatchObject({ clientName: 'Metadata Client', clientId, redirectHost: '127.0.0.1:9' });
    await stack.host.api.request('oauth:answer', { requestId: consent.requestId, approve: false });
    const query = await waitForRedirect(page.statusUrl, page.cookie);
    expect(query.get('error')).toBe('access_denied');
    expect(query.get('state')).toBe('abc');
  });
});

function server(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler!);
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}
