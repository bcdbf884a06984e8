import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

let t: TestRelay;
let mine: FakeDesktop;
let theirs: FakeDesktop;
let runtimeId: string;

beforeAll(async () => {
  t = await startTestRelay();
  await t.relay.admin.createOrg('other');
  const otherToken = (await t.relay.admin.createToken({ org: 'other', kind: 'desktop' })).token;
  mine = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
  const welcome = await mine.hello({ deviceId: 'dev_mine', name: 'laptop', os: 'linux' }, [testWorkspace('ws_1')]);
  runtimeId = welcome.runtimes[0]!.runtimeId;
  theirs = await FakeDesktop.connect(t.relay.wsUrl, otherToken);
  await theirs.hello({ deviceId: 'dev_theirs', name: 'theirs', os: 'linux' }, [testWorkspace('ws_x')]);
});
afterAll(async () => {
  await mine.close();
  await theirs.close();
  await t.dispose();
});

/** The relay handles a desktop's frames in order: its answer to `workspaces` means the frames before it were handled. */
async function handled(desktop: FakeDesktop, workspaceIds: string[]): Promise<void> {
  desktop.send({ type: 'workspaces', workspaces: workspaceIds.map((id) => testWorkspace(id)) });
  await desktop.next('runtimes');
}

describe('consent on a desktop, as the relay takes it', () => {
  it('asks only the org’s desktops, mints only for workspaces the answering connection announced, and stores only hashes', async () => {
    const redirectUri = 'http://127.0.0.1:9/cb';
    const registered = await t.api('/oauth/register', {
      method: 'POST',
      token: null,
      json: { client_name: 'Claude', redirect_uris: [redirectUri] },
    });
    const clientId = registered.body.client_id as string;
    const verifier = randomBytes(32).toString('base64url');
    const res = await fetch(`${t.relay.url}/oauth/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        resource: `${t.relay.url}/v1/mcp`,
        org: 'acme',
      }).toString(),
    });
    expect(res.status).toBe(303);
    const statusUrl = new URL(res.headers.get('location')!, t.relay.url).toString();
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;

    const { consent } = await mine.next('oauth_consent');
    expect(consent).toMatchObject({ clientName: 'Claude', redirectHost: '127.0.0.1:9', runtimeId: null });
    const pending = async () => (await t.api('/v1/oauth/requests')).body.requests.length as number;

    // A workspace this connection never announced, and a wrong code: nothing is approved.
    const base = {
      type: 'oauth_answer',
      requestId: consent.requestId,
      approve: true,
      categories: ['read'],
      ttlSeconds: 600,
    };
    mine.send({ ...base, shortCode: consent.shortCode, workspaceIds: ['ws_x'] });
    mine.send({
      ...base,
      shortCode: consent.shortCode === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA',
      workspaceIds: ['ws_1'],
    });
    await handled(mine, ['ws_1']);
    expect(await pending()).toBe(1);
    // Another org's desktop was not asked, and cannot answer.
    theirs.send({ ...base, shortCode: consent.shortCode, workspaceIds: ['ws_x'] });
    await handled(theirs, ['ws_x']);
    expect(theirs.frames.some((f) => f.type === 'oauth_consent')).toBe(false);
    expect(await pending()).toBe(1);

    mine.send({ ...base, shortCode: consent.shortCode, workspaceIds: ['ws_1'] });
    await mine.next('oauth_consent_closed', (f) => f.requestId === consent.requestId && f.outcome === 'approved');
    const listed = await mine.next('oauth_authorizations', (f) => f.authorizations.length === 1);
    expect(listed.authorizations[0]).toMatchObject({
      runtimeIds: [runtimeId],
      categories: ['read'],
      approvedBy: 'dev_mine',
    });

    const back = await fetch(statusUrl, { headers: { cookie }, redirect: 'manual' });
    expect(back.status).toBe(302);
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
    const tokens = (await (
      await fetch(`${t.relay.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          client_id: clientId,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        }).toString(),
      })
    ).json()) as { access_token: string; refresh_token: string };
    // An org-wide token: the runtimes chosen, nothing else.
    const runtimes = await t.api('/v1/runtimes', { token: tokens.access_token });
    expect(runtimes.body.runtimes.map((r: { id: string }) => r.id)).toEqual([runtimeId]);

    // Only hashes on disk: no code, token, refresh token or browser secret in the database.
    const db = Buffer.concat(
      await Promise.all(
        ['relay.sqlite', 'relay.sqlite-wal'].map((f) => readFile(join(t.dataDir, f)).catch(() => Buffer.alloc(0))),
      ),
    ).toString('latin1');
    for (const secret of [code, tokens.access_token, tokens.refresh_token, cookie.split('=')[1]!])
      expect(db.includes(secret)).toBe(false);
    expect(db.includes(createHash('sha256').update(tokens.access_token).digest('hex'))).toBe(true);

    // The other org's desktop cannot revoke it; this org's can.
    const id = listed.authorizations[0]!.id;
    theirs.send({ type: 'oauth_revoke', authorizationId: id });
    await handled(theirs, ['ws_x']);
    expect((await t.api('/v1/oauth/clients')).body.clients).toHaveLength(1);
    mine.send({ type: 'oauth_revoke', authorizationId: id });
    await mine.next('oauth_authorizations', (f) => f.authorizations.length === 0);
    expect((await t.api('/v1/runtimes', { token: tokens.access_token })).status).toBe(401);
  });
});
