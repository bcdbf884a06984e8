import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay();
});
afterAll(async () => {
  await t.dispose();
});

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

async function register(redirectUris: string[]) {
  return t.api('/oauth/register', {
    method: 'POST',
    token: null,
    json: { client_name: 'Claude', redirect_uris: redirectUris },
  });
}

function authorizeUrl(params: Record<string, string>): string {
  return `${t.relay.url}/oauth/authorize?${new URLSearchParams(params).toString()}`;
}

describe('OAuth metadata', () => {
  it('publishes protected resource metadata for a runtime MCP URL and the org-wide one', async () => {
    const runtime = await t.api('/.well-known/oauth-protected-resource/v1/runtimes/rt_abc/mcp', { token: null });
    expect(runtime.status).toBe(200);
    expect(runtime.body).toMatchObject({
      resource: `${t.relay.url}/v1/runtimes/rt_abc/mcp`,
      authorization_servers: [t.relay.url],
      bearer_methods_supported: ['header'],
    });
    const org = await t.api('/.well-known/oauth-protected-resource/v1/mcp', { token: null });
    expect(org.body.resource).toBe(`${t.relay.url}/v1/mcp`);
    expect(org.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('publishes authorization server metadata: S256 only, registration and metadata documents', async () => {
    const meta = await t.api('/.well-known/oauth-authorization-server', { token: null });
    expect(meta.body).toMatchObject({
      issuer: t.relay.url,
      authorization_endpoint: `${t.relay.url}/oauth/authorize`,
      token_endpoint: `${t.relay.url}/oauth/token`,
      registration_endpoint: `${t.relay.url}/oauth/register`,
      revocation_endpoint: `${t.relay.url}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
      client_id_metadata_document_supported: true,
    });
  });

  it('answers 401 at an MCP URL with a challenge naming its metadata', async () => {
    const res = await t.api('/v1/runtimes/rt_abc/mcp', { method: 'POST', token: null, json: {} });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${t.relay.url}/.well-known/oauth-protected-resource/v1/runtimes/rt_abc/mcp"`,
    );
    const wrong = await t.api('/v1/runtimes/rt_abc/mcp', { method: 'POST', token: 'tgr_notarealtoken', json: {} });
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", resource_metadata=/);
    // The REST routes keep the plain challenge.
    expect((await t.api('/v1/runtimes', { token: null })).headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('dynamic client registration', () => {
  it('registers a public client and refuses redirect URIs that are not safe', async () => {
    const ok = await register(['https://claude.ai/api/mcp/auth_callback']);
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ client_name: 'Claude', token_endpoint_auth_method: 'none' });
    expect(ok.body.client_id).toMatch(/^tcl_/);
    expect(ok.body.client_secret).toBeUndefined();
    expect((await register(['http://example.com/cb'])).body.error).toBe('invalid_redirect_uri');
    // claude.ai and ChatGPT register as confidential clients: they get a secret and the method they asked for.
    const confidential = await t.api('/oauth/register', {
      method: 'POST',
      token: null,
      json: {
        client_name: 'ChatGPT',
        redirect_uris: ['https://chatgpt.com/connector_platform_oauth_redirect'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    });
    expect(confidential.status).toBe(201);
    expect(confidential.body.token_endpoint_auth_method).toBe('client_secret_post');
    expect(confidential.body.client_secret).toMatch(/^tcs_/);
    // Its secret is required at the token endpoint (before anything about the code is said).
    const noSecret = await fetch(`${t.relay.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'tac_x',
        client_id: confidential.body.client_id,
        redirect_uri: 'https://chatgpt.com/connector_platform_oauth_redirect',
        code_verifier: 'x'.repeat(43),
      }).toString(),
    });
    expect(noSecret.status).toBe(401);
    expect(((await noSecret.json()) as { error: string }).error).toBe('invalid_client');
    expect((await register(['javascript:alert(1)'])).body.error).toBe('invalid_redirect_uri');
    expect((await t.api('/oauth/register', { method: 'POST', token: null, json: {} })).body.error).toBe(
      'invalid_client_metadata',
    );
  });
});

describe('authorize', () => {
  it('sends errors after the client is known back to it, and never redirects for an unknown client', async () => {
    const { body } = await register(['http://127.0.0.1:9/cb']);
    const base = {
      response_type: 'code',
      client_id: body.client_id as string,
      redirect_uri: 'http://127.0.0.1:9/cb',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      state: 's1',
      resource: `${t.relay.url}/v1/mcp`,
    };
    const back = async (params: Record<string, string>) => {
      const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
      expect(res.status).toBe(302);
      return new URL(res.headers.get('location')!).searchParams;
    };
    expect((await back({ ...base, code_challenge_method: 'plain' })).get('error')).toBe('invalid_request');
    const noPkce: Record<string, string> = { ...base };
    delete noPkce.code_challenge;
    expect((await back(noPkce)).get('error')).toBe('invalid_request');
    expect((await back({ ...base, resource: 'https://elsewhere.example/v1/mcp' })).get('error')).toBe('invalid_target');
    expect((await back({ ...base, response_type: 'token' })).get('error')).toBe('unsupported_response_type');
    const unknown = await fetch(authorizeUrl({ ...base, client_id: 'tcl_nobody' }), { redirect: 'manual' });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBeNull();
    expect(unknown.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('asks which org an org-wide MCP URL is for (when there are several), then waits for consent (listed for the admin without its code)', async () => {
    const { body } = await register(['http://127.0.0.1:9/cb']);
    const params = {
      response_type: 'code',
      client_id: body.client_id as string,
      redirect_uri: 'http://127.0.0.1:9/cb',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      resource: `${t.relay.url}/v1/mcp`,
      scope: 'read write',
    };
    // A relay with one org does not ask: the request waits for consent at once.
    const single = await fetch(authorizeUrl(params), { redirect: 'manual' });
    expect(single.status).toBe(303);
    await t.relay.admin.createOrg('second');
    const form = await fetch(authorizeUrl(params));
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="org"');
    // No resource at all (claude.ai's connector sends none): the org is asked for too.
    const noResource: Record<string, string> = { ...params };
    delete noResource.resource;
    expect(await (await fetch(authorizeUrl(noResource))).text()).toContain('name="org"');
    const post = (org: string) =>
      fetch(`${t.relay.url}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...params, org }).toString(),
      });
    const wrong = await post('no-such-org');
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('There is no organization by that name');
    const right = await post('acme');
    expect(right.status).toBe(303);
    const page = await fetch(new URL(right.headers.get('location')!, t.relay.url), {
      headers: { cookie: right.headers.get('set-cookie')!.split(';')[0]! },
    });
    const html = await page.text();
    expect(html).toMatch(/id="short-code">[0-9A-Z]{4}-[0-9A-Z]{4}</);
    // No desktop of the org is connected here: the page says so instead of waiting silently.
    expect(html).toContain('No Tether Desktop of this organization is connected right now.');
    // Without the browser's cookie the request is nobody's.
    expect((await fetch(new URL(right.headers.get('location')!, t.relay.url))).status).toBe(404);
    const listed = await t.api('/v1/oauth/requests');
    expect(listed.body.requests).toHaveLength(2);
    expect(listed.body.requests[1]).toMatchObject({ runtimeId: null, requestedCategories: ['read', 'write'] });
    expect(listed.body.requests[1].shortCode).toBeUndefined();
  });
});
