import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

/** The MCP revision the v2 SDK's client is pinned to in the tests (stateless, `server/discover`). */
export const MODERN = '2026-07-28';

/** A v2 SDK client pinned to 2026-07-28, connected to `url` with a bearer token (tests only). */
export async function connectModernClient(url: string, token: string, name: string): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, {
    versionNegotiation: { mode: { pin: MODERN } },
  } as never);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}
