import { describe, expect, it } from 'vitest';
import { KeepAwake, shouldKeepAwake, type PowerSaveBlockerLike } from './keep-awake.js';
import { desktopState } from './test-fixtures.js';

/** Records blocker calls: Electron's powerSaveBlocker only exists inside Electron. */
class RecordingBlocker implements PowerSaveBlockerLike {
  readonly active = new Set<number>();
  started = 0;
  start(): number {
    this.started++;
    this.active.add(this.started);
    return this.started;
  }
  stop(id: number): void {
    if (!this.active.delete(id)) throw new Error(`stop(${id}) of a blocker that is not active`);
  }
}

describe('shouldKeepAwake', () => {
  const on = desktopState({ settings: { ...desktopState().settings, keepAwake: true } });

  it('keeps awake only when asked to and the connection is up or coming up', () => {
    expect(shouldKeepAwake(on)).toBe(true);
    expect(shouldKeepAwake({ ...on, connection: { ...on.connection, state: 'connecting' } })).toBe(true);
    expect(shouldKeepAwake({ ...on, connection: { ...on.connection, state: 'error' } })).toBe(false);
    expect(shouldKeepAwake({ ...on, connection: { ...on.connection, state: 'disconnected', enabled: false } })).toBe(
      false,
    );
    expect(shouldKeepAwake(desktopState())).toBe(false);
    expect(shouldKeepAwake(null)).toBe(false);
  });
});

describe('KeepAwake', () => {
  describe('set', () => {
    it('holds one blocker while wanted and releases it after', () => {
      const blocker = new RecordingBlocker();
      const keepAwake = new KeepAwake(blocker);
      keepAwake.set(true);
      keepAwake.set(true);
      expect(blocker.started).toBe(1);
      expect(keepAwake.active).toBe(true);
      keepAwake.set(false);
      expect(blocker.active.size).toBe(0);
      expect(keepAwake.active).toBe(false);
    });
  });

  describe('dispose', () => {
    it('releases a held blocker', () => {
      const blocker = new RecordingBlocker();
      const keepAwake = new KeepAwake(blocker);
      keepAwake.set(true);
      keepAwake.dispose();
      expect(blocker.active.size).toBe(0);
    });
  });
});
