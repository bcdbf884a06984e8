import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RUNTIMES_PAGE, MAX_RUNTIMES_PAGE, MAX_WORKSPACES_PER_DEVICE } from '@tether/shared';
import { FakeDesktop, testWorkspace } from '../testing/fake-desktop.js';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A relay with two desktops of MAX_WORKSPACES_PER_DEVICE workspaces each (more than a default page). */
async function manyRuntimes(): Promise<{ t: TestRelay; ids: string[] }> {
  const t = await startTestRelay();
  cleanups.push(() => t.dispose());
  const ids: string[] = [];
  for (const deviceId of ['dev-a', 'dev-b']) {
    const desktop = await FakeDesktop.connect(t.relay.wsUrl, t.desktopToken);
    cleanups.push(() => desktop.close());
    const workspaces = Array.from({ length: MAX_WORKSPACES_PER_DEVICE }, (_, i) =>
      testWorkspace(`ws-${i}`, i % 2 === 0 ? {} : { state: 'paused' }),
    );
    const welcome = await desktop.hello({ deviceId, name: deviceId, os: 'linux' }, workspaces);
    ids.push(...welcome.runtimes.map((r) => r.runtimeId));
  }
  return { t, ids };
}

async function allPages(t: TestRelay, query: string, token?: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const answer = await t.api(
      `/v1/runtimes?${query}${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      token !== undefined ? { token } : {},
    );
    expect(answer.status).toBe(200);
    ids.push(...answer.body.runtimes.map((r: { id: string }) => r.id));
    cursor = answer.body.nextCursor;
    pages++;
  } while (cursor !== null);
  return { ids, pages };
}

describe('GET /v1/runtimes pages', () => {
  it('answers DEFAULT_RUNTIMES_PAGE runtimes and a cursor for the rest', async () => {
    const { t, ids } = await manyRuntimes();
    expect(ids.length).toBeGreaterThan(DEFAULT_RUNTIMES_PAGE);
    const first = await t.api('/v1/runtimes');
    expect(first.body.runtimes).toHaveLength(DEFAULT_RUNTIMES_PAGE);
    expect(typeof first.body.nextCursor).toBe('string');
    const rest = await t.api(`/v1/runtimes?cursor=${first.body.nextCursor}`);
    expect(rest.body.runtimes).toHaveLength(ids.length - DEFAULT_RUNTIMES_PAGE);
    expect(rest.body.nextCursor).toBeNull();
  });

  it('walks every runtime once, in order, whatever the page size, with a state filter too', async () => {
    const { t, ids } = await manyRuntimes();
    const walked = await allPages(t, 'limit=7');
    expect(walked.pages).toBe(Math.ceil(ids.length / 7));
    expect(new Set(walked.ids).size).toBe(ids.length);
    expect([...walked.ids].sort()).toEqual([...ids].sort());
    expect((await allPages(t, `limit=${MAX_RUNTIMES_PAGE}`)).ids).toEqual(walked.ids);
    const paused = await allPages(t, 'state=paused&limit=5');
    expect(paused.ids).toHaveLength(ids.length / 2);
  });

  it('pages a grant over its own runtimes only', async () => {
    const { t, ids } = await manyRuntimes();
    const chosen = [ids[3]!, ids[70]!, ids[100]!];
    const grant = await t.api('/v1/grants', {
      method: 'POST',
      json: { runtimeIds: chosen, ttlSeconds: 60, label: 'pages' },
    });
    const walked = await allPages(t, 'limit=2', grant.body.token);
    expect(walked.pages).toBe(2);
    expect([...walked.ids].sort()).toEqual([...chosen].sort());
  });

  it('refuses a limit out of range and a cursor it did not give out', async () => {
    const { t } = await manyRuntimes();
    for (const limit of ['0', String(MAX_RUNTIMES_PAGE + 1), 'ten', '-1', '1.5']) {
      const answer = await t.api(`/v1/runtimes?limit=${limit}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error.details.fields[0].path).toBe('limit');
    }
    const bad = await t.api('/v1/runtimes?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].path).toBe('cursor');
  });

  it('is described in the OpenAPI document', async () => {
    const { t } = await manyRuntimes();
    const doc = (await t.api('/openapi.json', { token: null })).body;
    const names = doc.paths['/v1/runtimes'].get.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['state', 'limit', 'cursor']));
    expect(doc.components.schemas.RuntimeList.required).toContain('nextCursor');
  });
});

describe('OpenAPI document of SSE', () => {
  it('names the gap event of calls and events streams', async () => {
    const t = await startTestRelay();
    cleanups.push(() => t.dispose());
    const doc = (await t.api('/openapi.json', { token: null })).body;
    expect(doc.paths['/v1/runtimes/{id}/calls'].post.description).toContain('`gap` {droppedEvents, droppedBytes}');
    expect(doc.paths['/v1/runtimes/{id}/events'].get.description).toContain('`gap` {droppedEvents, droppedBytes}');
  });
});
