import { describe, expect, it } from 'vitest';
import { serveOptions } from './cli.js';
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from './relay-limits.js';

describe('serve: the abuse limits as flags and variables', () => {
  it('reads each timeout and cap from its flag or TETHER_RELAY_* variable (flags win; 0 switches a cap off)', () => {
    const options = serveOptions(
      ['--request-timeout-ms', '5000', '--max-connections-per-desktop-token', '0', '--max-runtimes-per-org', '9'],
      {
        TETHER_RELAY_HEADERS_TIMEOUT_MS: '2000',
        TETHER_RELAY_KEEP_ALIVE_TIMEOUT_MS: '1000',
        TETHER_RELAY_MAX_CONNECTIONS_PER_ADDRESS: '10',
        TETHER_RELAY_MAX_UNAUTHENTICATED_CONNECTIONS_PER_ADDRESS: '3',
        TETHER_RELAY_MAX_IN_FLIGHT_CALLS_PER_ORG: '50',
        TETHER_RELAY_MAX_RUNTIMES_PER_ORG: '100',
      },
    );
    expect(options.limits).toMatchObject({
      requestTimeoutMs: 5000,
      headersTimeoutMs: 2000,
      keepAliveTimeoutMs: 1000,
      maxConnectionsPerAddress: 10,
      maxUnauthenticatedConnectionsPerAddress: 3,
      maxConnectionsPerDesktopToken: 0,
      maxInFlightCallsPerOrg: 50,
      maxRuntimesPerOrg: 9,
    } satisfies Partial<RelayLimits>);
  });

  it('refuses a timeout of 0 (it would switch Node’s timeout off)', () => {
    expect(() => serveOptions(['--request-timeout-ms', '0'], {})).toThrow(/request-timeout-ms/);
    expect(DEFAULT_RELAY_LIMITS.requestTimeoutMs).toBeGreaterThan(DEFAULT_RELAY_LIMITS.headersTimeoutMs);
  });
});
