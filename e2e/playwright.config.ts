import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests: a real relay, a real headless Tether Desktop host serving its UI, and
 * Debian's Chromium (Playwright's own browsers cannot be downloaded here). Needs `npm run build`.
 */
export default defineConfig({
  testDir: '.',
  testMatch: '**/*.spec.ts',
  outputDir: 'artifacts/test-results',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // The whole scenario shares one relay and host; two cores shared with other work: be generous.
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    viewport: { width: 1100, height: 780 },
    actionTimeout: 15_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    },
  },
});
