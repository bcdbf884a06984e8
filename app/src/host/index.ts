/** @tether/app/host: the host core, for the Electron main process, scripts and tests. */
export { startHost, type Host, type StartHostOptions } from './host.js';
export type { HostApi, HostEventListener, SubscribeOptions } from './host-api.js';
export { HostApiImpl, STATE_EVENT_DEBOUNCE_MS } from './host-api-impl.js';
export {
  RelayClient,
  type RelayClientOptions,
  type RelayStatus,
  type RuntimeBinding,
} from './relay-client/relay-client.js';
export { connectUrlOf } from './relay-client/connect-url.js';
export { runCli, parseCliArgs, USAGE } from './cli.js';
export { defaultConfigDir } from './config/config-store.js';
