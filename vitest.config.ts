import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/** Unit and integration tests of every workspace; they run against the TypeScript sources. */
export default defineConfig({
  resolve: { conditions: ['@tether/source', ...defaultServerConditions] },
  ssr: { resolve: { conditions: ['@tether/source', ...defaultServerConditions] } },
  test: {
    include: ['shared/src/**/*.test.ts', 'relay/src/**/*.test.ts', 'app/src/**/*.test.ts', 'scripts/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: keep parallel files to two so pty and socket tests are not starved.
    maxWorkers: 2,
  },
});
