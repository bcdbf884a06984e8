import { createRequire } from 'node:module';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TOOL_NAMES, type RuntimeState } from '@tether/shared';

/** The relay's version (its package's, read from src/ and dist/ alike), for `--version` and `tether_relay_build_info`. */
export const RELAY_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Label of requests that matched no route (a bounded set of labels, whatever the path). */
export const UNMATCHED_ROUTE = 'unmatched';

/** MCP methods counted by name; any other is `other`, so a client cannot grow the label set. */
const MCP_METHODS = new Set([
  'initialize',
  'notifications/initialized',
  'ping',
  'server/discover',
  'tools/list',
  'tools/call',
  'notifications/cancelled',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'subscriptions/listen',
  'tasks/get',
  'tasks/cancel',
  'tasks/update',
]);

/** Latency buckets of HTTP and MCP requests: from a cached answer to a long tool call. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Prometheus metrics of one relay. A registry per relay (not prom-client's global one),
 * so several relays in one process (tests) do not collide.
 */
export class RelayMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'tool' | 'outcome'>;
  private readonly latency: Histogram<'tool'>;
  private readonly limited: Counter<'limit'>;
  private readonly limitFallbacks: Counter;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpLatency: Histogram<'method' | 'route'>;
  private readonly mcpRequests: Counter<'endpoint' | 'method' | 'status'>;
  private readonly mcpLatency: Histogram<'endpoint' | 'method'>;

  constructor(sources: {
    connections: () => number;
    callsInFlight: () => number;
    runtimesByState: () => Promise<Record<RuntimeState, number>>;
  }) {
    new Gauge({
      name: 'tether_relay_desktop_connections',
      help: 'Open desktop WebSocket connections on this node.',
      registers: [this.registry],
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'tether_relay_calls_in_flight',
      help: 'Calls this node took from the platform and is waiting on.',
      registers: [this.registry],
      collect() {
        this.set(sources.callsInFlight());
      },
    });
    new Gauge({
      name: 'tether_relay_runtimes',
      help: 'Runtimes by state (all orgs).',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = await sources.runtimesByState();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    this.calls = new Counter({
      name: 'tether_relay_calls_total',
      help: 'Tool calls by tool and outcome (ok or an error code).',
      labelNames: ['tool', 'outcome'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'tether_relay_call_duration_seconds',
      help: 'Tool call latency at the relay, from request to result.',
      labelNames: ['tool'],
      // From a cached read (ms) to a long build (minutes).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    this.limited = new Counter({
      name: 'tether_relay_rate_limited_total',
      help: 'Requests and desktop upgrades refused with 429 by a rate limit (credential or auth_failures).',
      labelNames: ['limit'],
      registers: [this.registry],
    });
    this.limitFallbacks = new Counter({
      name: 'tether_relay_limit_fallbacks_total',
      help: 'Limit checks a cluster node decided on its own budget because Redis did not answer.',
      registers: [this.registry],
    });
    // Process (CPU, memory, file descriptors) and Node (event loop lag, heap, GC) metrics.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'tether_relay_build_info',
      help: 'Always 1; the labels say which relay and Node version this node runs.',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: RELAY_VERSION, node: process.versions.node }, 1);
    this.httpRequests = new Counter({
      name: 'tether_relay_http_requests_total',
      help: 'HTTP requests by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpLatency = new Histogram({
      name: 'tether_relay_http_request_duration_seconds',
      help: 'HTTP request duration by method and route template, until the answer ended (SSE: the stream).',
      labelNames: ['method', 'route'],
      buckets: REQUEST_BUCKETS,
      registers: [this.registry],
    });
    this.mcpRequests = new Counter({
      name: 'tether_relay_mcp_requests_total',
      help: 'MCP requests by endpoint (runtime or org), JSON-RPC method and HTTP status.',
      labelNames: ['endpoint', 'method', 'status'],
      registers: [this.registry],
    });
    this.mcpLatency = new Histogram({
      name: 'tether_relay_mcp_request_duration_seconds',
      help: 'MCP request duration by endpoint and JSON-RPC method.',
      labelNames: ['endpoint', 'method'],
      buckets: REQUEST_BUCKETS,
      registers: [this.registry],
    });
    // Present at zero from the start, so a rate() over a fresh node is 0 rather than absent.
    for (const tool of TOOL_NAMES) {
      this.calls.inc({ tool, outcome: 'ok' }, 0);
      this.latency.zero({ tool });
    }
    for (const limit of ['credential', 'auth_failures']) this.limited.inc({ limit }, 0);
    for (const endpoint of ['runtime', 'org'])
      for (const method of ['initialize', 'server/discover', 'tools/list', 'tools/call']) {
        this.mcpRequests.inc({ endpoint, method, status: '200' }, 0);
        this.mcpLatency.zero({ endpoint, method });
      }
  }

  /** Declares a route, so its counters exist at zero before its first request. */
  routeAdded(method: string, route: string): void {
    this.httpRequests.inc({ method, route, status: '200' }, 0);
    this.httpLatency.zero({ method, route });
  }

  /** Records an answered HTTP request; `route` is the template (`/v1/runtimes/:id`), never the path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpLatency.observe({ method, route }, seconds);
  }

  /** Records an MCP exchange; the method name is kept only when it is a known one. */
  mcpRequest(endpoint: 'runtime' | 'org', method: string | undefined, status: number, seconds: number): void {
    const name = method !== undefined && MCP_METHODS.has(method) ? method : 'other';
    this.mcpRequests.inc({ endpoint, method: name, status: String(status) });
    this.mcpLatency.observe({ endpoint, method: name }, seconds);
  }

  /** Records a refusal by a rate limit. */
  rateLimited(limit: string): void {
    this.limited.inc({ limit });
  }

  /** Records a limit check decided on this node's own budget (Redis away). */
  limitFallback(): void {
    this.limitFallbacks.inc();
  }

  /** Records a finished call. */
  callFinished(tool: string, outcome: string, seconds: number): void {
    this.calls.inc({ tool, outcome });
    this.latency.observe({ tool }, seconds);
  }
}
