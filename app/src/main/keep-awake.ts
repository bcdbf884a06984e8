import type { DesktopState } from '@tether/shared';

/** The slice of Electron's powerSaveBlocker this needs (so it is testable without Electron). */
export interface PowerSaveBlockerLike {
  start(type: 'prevent-app-suspension' | 'prevent-display-sleep'): number;
  stop(id: number): void;
}

/**
 * Whether the machine should stay awake: the person asked for it (settings.keepAwake) and
 * the connection is switched on and up or coming up. A sleeping machine drops the relay
 * connection and every runtime on it goes `stopped`.
 */
export function shouldKeepAwake(state: DesktopState | null): boolean {
  if (!state || !state.settings.keepAwake || !state.connection.enabled) return false;
  return state.connection.state === 'connected' || state.connection.state === 'connecting';
}

/**
 * Holds at most one 'prevent-app-suspension' blocker (the system may still turn the display
 * off, which costs nothing) and releases it when no longer wanted or on dispose.
 */
export class KeepAwake {
  readonly #blocker: PowerSaveBlockerLike;
  #id: number | null = null;

  constructor(blocker: PowerSaveBlockerLike) {
    this.#blocker = blocker;
  }

  /** True while a blocker is held. */
  get active(): boolean {
    return this.#id !== null;
  }

  /** Starts or stops the blocker to match `want`; repeated calls with the same value do nothing. */
  set(want: boolean): void {
    if (want && this.#id === null) this.#id = this.#blocker.start('prevent-app-suspension');
    else if (!want && this.#id !== null) {
      this.#blocker.stop(this.#id);
      this.#id = null;
    }
  }

  /** Releases the blocker. */
  dispose(): void {
    this.set(false);
  }
}
