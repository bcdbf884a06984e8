import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

/** This folder (the renderer lints as browser code, so no node:path here). */
const here = decodeURIComponent(new URL('.', import.meta.url).pathname);

/**
 * The UI build: one static bundle served by Electron (file://) and by the headless UI server,
 * hence relative asset paths. `@tether/shared` resolves to its TypeScript sources.
 */
export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  resolve: { conditions: ['@tether/source', ...defaultClientConditions] },
  build: {
    outDir: `${here}../../dist/renderer`,
    emptyOutDir: true,
    // No inline scripts or data: modules, so the strict CSP (script-src 'self') holds.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
});
