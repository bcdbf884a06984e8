import { busConformance } from './bus-conformance.js';
import { LocalBus, LocalBusNetwork } from './local-bus.js';

busConformance('LocalBus', async (count) => {
  const network = new LocalBusNetwork();
  return Array.from({ length: count }, () => new LocalBus(network));
});
