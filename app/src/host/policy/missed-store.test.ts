import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfirmationBroker } from './confirmation-broker.js';
import { MISSED_FILE, MissedStore } from './missed-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-missed-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('MissedStore', () => {
  it('keeps a question dropped because the host stopped, for the next start', async () => {
    const store = await MissedStore.open(dir);
    const broker = new ConfirmationBroker();
    broker.on('missed', () => store.save(broker.missed()));
    broker.addFrontend({ present() {}, dismiss() {} });
    const open = broker.ask({
      callId: 'c1',
      workspaceId: 'ws_a',
      workspaceName: 'A',
      caller: 'agent',
      tool: 'run_command',
      category: 'shell',
      detail: { kind: 'shell', command: 'make deploy', cwd: '/w' },
    });
    broker.dispose(); // the host stopping
    await open;
    await store.flush();

    const next = await MissedStore.open(dir);
    expect(next.loaded).toMatchObject([{ tool: 'run_command', summary: 'make deploy', outcome: 'dropped' }]);
    const after = new ConfirmationBroker({ missed: next.loaded });
    expect(after.missed()).toEqual(next.loaded);
    after.dispose();
  });

  it('starts empty from a file that does not parse', async () => {
    await writeFile(join(dir, MISSED_FILE), '[{"id": 1}');
    expect((await MissedStore.open(dir)).loaded).toEqual([]);
    await writeFile(join(dir, MISSED_FILE), '[{"id": 1}]');
    expect((await MissedStore.open(dir)).loaded).toEqual([]);
  });
});
