import type { DesktopApi } from '@tether/shared';

/** What the Electron preload exposes on `window.tetherDesktop` (absent in a browser). */
export type DesktopBridge = DesktopApi & {
  pickFolder(): Promise<string | null>;
  notify?(title: string, body: string): void;
};

declare global {
  interface Window {
    tetherDesktop?: DesktopBridge;
  }
}

/** The Electron bridge when running in the desktop app, else undefined. */
export function electronBridge(): DesktopBridge | undefined {
  return typeof window.tetherDesktop === 'object' ? window.tetherDesktop : undefined;
}
