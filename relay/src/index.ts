/**
 * Tether Relay: routes platform tool calls to connected Tether Desktop apps.
 * `startRelay` runs a server; `openAdmin` administers a data dir without one.
 */
export { startRelay, type RelayOptions, type RelayHandle } from './relay-server.js';
export { openAdmin, type RelayAdmin } from './relay-admin.js';
export type { Principal, CallOptions, RelayServices } from './services.js';
export { DEFAULT_RELAY_LIMITS, DEFAULT_PORT, type RelayLimits } from './relay-limits.js';
export { LocalBus, LocalBusNetwork } from './bus/local-bus.js';
export type { Bus } from './bus/bus.js';
export type { Store } from './store/store.js';
export { lockDataDir, type DataDirLock } from './store/data-dir-lock.js';
export { runtimeIdOf } from './runtime-directory.js';
