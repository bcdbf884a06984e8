import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RuntimeState } from '@tether/shared';

/**
 * Prometheus metrics of one relay. A registry per relay (not prom-client's global one),
 * so several relays in one process (tests) do not collide.
 */
export class RelayMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'tool' | 'outcome'>;
  private readonly latency: Histogram<'tool'>;
  private readonly limited: Counter<'limit'>;

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
  }

  /** Records a refusal by a rate limit. */
  rateLimited(limit: string): void {
    this.limited.inc({ limit });
  }

  /** Records a finished call. */
  callFinished(tool: string, outcome: string, seconds: number): void {
    this.calls.inc({ tool, outcome });
    this.latency.observe({ tool }, seconds);
  }
}
