import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startHost, type Host } from './host.js';
import { serveChannel, type ChannelPort } from './ui-server/channel-server.js';

/**
 * The host core's entry point as an Electron utilityProcess (started by app/src/main). It
 * never imports electron (DESIGN.md, Layering): under utilityProcess, Electron puts
 * `process.parentPort` on the Node process, typed locally below. The main process hands it
 * one MessagePort per window (role `window`: that front end answers confirmations) and one
 * for itself (role `tray`), and each port is served with the same `serveChannel` the
 * headless UI server uses.
 */

/** Messages from the main process. */
export const hostParentMessageSchema = z.discriminatedUnion('type', [
  // The first message: the token travels here, never in the environment (/proc/<pid>/environ
  // shows a process's starting environment to every program of the user for its whole life).
  z.strictObject({ type: z.literal('start'), token: z.string().min(1).max(500).optional() }),
  z.strictObject({ type: z.literal('port'), role: z.enum(['window', 'tray']) }),
  z.strictObject({ type: z.literal('shutdown') }),
]);
export type HostParentMessage = z.infer<typeof hostParentMessageSchema>;

/** Messages to the main process. */
export type HostChildMessage = { type: 'ready' } | { type: 'fatal'; message: string };

/** Electron's MessagePortMain, as far as this file uses it. */
interface MessagePortMainLike {
  on(event: 'message', listener: (event: { data: unknown }) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  postMessage(message: unknown): void;
  start(): void;
  close(): void;
}

/** Electron's ParentPort (process.parentPort in a utility process). */
interface ParentPortLike {
  on(event: 'message', listener: (event: { data: unknown; ports: MessagePortMainLike[] }) => void): unknown;
  postMessage(message: HostChildMessage): void;
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} tether-host: ${line}\n`);
}

const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
if (!parentPort) {
  log(
    'this entry point runs only as an Electron utilityProcess; use bin/tether-desktop.js --headless under plain node',
  );
  process.exit(2);
}
const parent: ParentPortLike = parentPort;

// Electron puts our fork() args in process.argv after the executable and module path.
const { values } = parseArgs({
  args: process.argv,
  strict: false,
  allowPositionals: true,
  options: {
    'config-dir': { type: 'string' },
    relay: { type: 'string' },
    workspace: { type: 'string', multiple: true },
    'insecure-relay': { type: 'boolean' },
  },
});
const configDir = typeof values['config-dir'] === 'string' ? values['config-dir'] : undefined;
const relayUrl = typeof values.relay === 'string' ? values.relay : undefined;
const workspaces = (Array.isArray(values.workspace) ? values.workspace : []).filter(
  (w): w is string => typeof w === 'string',
);
const insecureRelay = values['insecure-relay'] === true;

const detachers = new Set<() => void>();
let stopping = false;
let startWith: (message: { token?: string | undefined }) => void = () => undefined;
let started = false;
const startMessage = new Promise<{ token?: string | undefined }>((resolve) => (startWith = resolve));

const hostReady: Promise<Host> = startMessage.then(({ token }) =>
  startHost({
    ...(configDir !== undefined ? { configDir } : {}),
    ...(relayUrl !== undefined ? { relayUrl } : {}),
    ...(token ? { token } : {}),
    ...(insecureRelay ? { allowInsecureRelay: true } : {}),
    workspaces: workspaces.map((path) => ({ path })),
    // No terminal here: confirmations go to the window; with no window attached they are refused.
    terminal: null,
    log,
    mode: 'desktop',
  }),
);

hostReady.then(
  () => parent.postMessage({ type: 'ready' }),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    log(`cannot start: ${message}`);
    parent.postMessage({ type: 'fatal', message });
    // Let the message flush before exiting; the supervisor in main decides about restarts.
    setTimeout(() => process.exit(1), 100);
  },
);

/** Serves the DesktopApi over one MessagePortMain until either side closes it. */
function serve(host: Host, port: MessagePortMainLike, answersConfirmations: boolean): void {
  const channel: ChannelPort = {
    send: (message) => port.postMessage(message),
    onMessage: (listener) => port.on('message', (event) => listener(event.data)),
    onClose: (listener) => port.on('close', listener),
  };
  const detach = serveChannel(host.api, channel, { answersConfirmations });
  detachers.add(detach);
  port.on('close', () => detachers.delete(detach));
  // Messages sent before start() (e.g. requests queued while the host was starting) are kept.
  port.start();
}

async function shutdown(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`${reason}: shutting down`);
  for (const detach of detachers) detach();
  detachers.clear();
  if (!started) process.exit(0); // never started: nothing to dispose
  try {
    const host = await hostReady;
    await host.dispose();
  } catch (err) {
    log(`shutdown: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exit(0);
}

parent.on('message', (event) => {
  const parsed = hostParentMessageSchema.safeParse(event.data);
  if (!parsed.success) {
    log('ignored a message from the main process that is not in the contract');
    return;
  }
  if (parsed.data.type === 'shutdown') {
    void shutdown('asked by the main process');
    return;
  }
  if (parsed.data.type === 'start') {
    if (started) log('ignored a second start message');
    else {
      started = true;
      startWith({ token: parsed.data.token });
    }
    return;
  }
  const port = event.ports[0];
  if (!port) return;
  if (stopping) {
    port.close();
    return;
  }
  const answersConfirmations = parsed.data.role === 'window';
  hostReady.then(
    (host) => serve(host, port, answersConfirmations),
    () => port.close(),
  );
});

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
