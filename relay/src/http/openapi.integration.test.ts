import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_NAMES } from '@tether/shared';
import { startTestRelay, type TestRelay } from '../testing/test-relay.js';

const require = createRequire(import.meta.url);
const RELAY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (pkg: string, path: string) => join(dirname(require.resolve(`${pkg}/package.json`)), path);

async function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Redocly: no telemetry or update check (and no network here anyway).
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, output };
}

type Doc = {
  openapi: string;
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

/**
 * `/openapi.json` as tooling takes it: valid OpenAPI 3.1 for two independent validators, an
 * operationId on every operation, and a client generated from it (openapi-typescript +
 * openapi-fetch) that knows each tool's arguments.
 */
describe('the OpenAPI document', () => {
  let t: TestRelay;
  let doc: Doc;
  let dir: string;

  beforeAll(async () => {
    t = await startTestRelay();
    doc = (await t.api('/openapi.json', { token: null })).body as Doc;
    // Inside the relay package, so the generated client resolves openapi-fetch from node_modules.
    dir = await mkdtemp(join(RELAY_DIR, '.openapi-check-'));
    await writeFile(join(dir, 'openapi.json'), JSON.stringify(doc));
  });

  afterAll(async () => {
    await t?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is OpenAPI 3.1 whose servers follow the request, with an operationId on every operation', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: t.relay.url }]);
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // fetch may not set Host; node:http may.
    const body = await new Promise<string>((resolve, reject) => {
      get(`${t.relay.url}/openapi.json`, { headers: { host: 'relay.example:8443' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect((JSON.parse(body) as Doc).servers).toEqual([{ url: 'http://relay.example:8443' }]);
  });

  it('documents every route the relay serves, and serves every route it documents', () => {
    // Fastify answers HEAD for every GET by itself; the document's GET stands for both.
    const served = t.relay.routes
      .filter((r) => r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(served.length).toBeGreaterThan(30);
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((r) => !served.includes(r))).toEqual([]);
  });

  it('describes OAuth: the flow with PKCE as a security scheme, form-encoded token requests, what the endpoints answer', () => {
    const schemes = (doc.components as { securitySchemes: Record<string, { flows?: unknown }> }).securitySchemes;
    expect(schemes.oauth).toMatchObject({
      type: 'oauth2',
      flows: {
        authorizationCode: {
          authorizationUrl: `${t.relay.url}/oauth/authorize`,
          tokenUrl: `${t.relay.url}/oauth/token`,
          scopes: { read: expect.any(String), write: expect.any(String), shell: expect.any(String) },
        },
      },
    });
    const token = doc.paths['/oauth/token']!.post as unknown as {
      requestBody: { content: Record<string, unknown> };
      responses: Record<string, unknown>;
    };
    expect(Object.keys(token.requestBody.content)).toContain('application/x-www-form-urlencoded');
    expect(Object.keys(token.responses).sort()).toEqual(['200', '400', '401', '413']);
    expect(Object.keys(doc.paths['/oauth/register']!.post!.responses)).toEqual(
      expect.arrayContaining(['201', '400', '429']),
    );
    expect(doc.paths['/v1/mcp']!.post).toMatchObject({ security: [{ bearer: [] }, { oauth: [] }] });
  });

  it('names --public-url as the server when the relay has one', async () => {
    const other = await startTestRelay({ publicUrl: 'https://relay.example' });
    try {
      expect((await other.api('/openapi.json', { token: null })).body.servers).toEqual([
        { url: 'https://relay.example' },
      ]);
    } finally {
      await other.dispose();
    }
  });

  it('describes the call body as one typed variant per tool, and every status a call answers', () => {
    const callRequest = doc.components.schemas.CallRequest as {
      oneOf: unknown[];
      discriminator: { propertyName: string };
    };
    expect(callRequest.oneOf).toHaveLength(TOOL_NAMES.length);
    expect(callRequest.discriminator.propertyName).toBe('tool');
    expect(doc.components.schemas.CallRequest_stat).toMatchObject({
      properties: { tool: { const: 'stat' }, args: { $ref: '#/components/schemas/ToolArgs_stat' } },
      required: ['tool', 'args'],
    });
    expect(doc.components.schemas.ToolResult_stat).toMatchObject({ required: expect.arrayContaining(['path']) });
    const statuses = Object.keys(doc.paths['/v1/runtimes/{id}/calls']!.post!.responses);
    for (const status of ['400', '401', '403', '404', '408', '409', '410', '413', '415', '422', '429', '503', '504'])
      expect(statuses).toContain(status);
  });

  it('passes swagger-parser validation', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('passes redocly lint', { timeout: 120_000 }, async () => {
    const result = await run(process.execPath, [bin('@redocly/cli', 'bin/cli.js'), 'lint', 'openapi.json'], dir);
    expect(result.output).toMatch(/valid/i);
    expect(result.code, result.output).toBe(0);
  });

  it('generates a typed client that refuses a wrong argument name', { timeout: 120_000 }, async () => {
    const generated = await run(
      process.execPath,
      [bin('openapi-typescript', 'bin/cli.js'), 'openapi.json', '-o', 'api.d.ts'],
      dir,
    );
    expect(generated.code, generated.output).toBe(0);
    await writeFile(
      join(dir, 'use.ts'),
      [
        "import createClient from 'openapi-fetch';",
        "import type { paths } from './api.js';",
        "const client = createClient<paths>({ baseUrl: 'http://127.0.0.1' });",
        'export async function calls(): Promise<void> {',
        "  const path = { id: 'rt_1' };",
        "  await client.POST('/v1/runtimes/{id}/calls', { params: { path }, body: { tool: 'stat', args: { path: 'a.txt' } } });",
        '  // @ts-expect-error -- `pth` is no argument of stat',
        "  await client.POST('/v1/runtimes/{id}/calls', { params: { path }, body: { tool: 'stat', args: { pth: 'a.txt' } } });",
        '  // @ts-expect-error -- there is no tool named format_disk',
        "  await client.POST('/v1/runtimes/{id}/calls', { params: { path }, body: { tool: 'format_disk', args: {} } });",
        '}',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          skipLibCheck: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    );
    const checked = await run(process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json'], dir);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  });
});
