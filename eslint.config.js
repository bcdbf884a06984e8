// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layering of DESIGN.md as lint rules: a forbidden import is an error, so the
 * boundaries hold without anybody having to remember them (VS Code's layering rule).
 */
const NODE_BUILTINS = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'child_process',
  'net',
  'http',
  'https',
  'crypto',
  'stream',
  'stream/*',
  'util',
  'events',
  'url',
  'worker_threads',
  'tls',
  'dgram',
  'dns',
  'zlib',
  'buffer',
  'process',
  'readline',
  'module',
  'vm',
];

/** @param {string[]} patterns @param {string} why */
const forbid = (patterns, why) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: patterns, message: why }] }],
});

export default tseslint.config(
  {
    ignores: [
      'relay/.openapi-check-*/',
      '**/node_modules/**',
      '**/dist/**',
      'e2e/artifacts/**',
      'playwright-report/**',
      'test-results/**',
      '.tether/**',
      'release/**',
      'scripts/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['shared/src/**/*.ts'],
    rules: forbid(
      [
        ...NODE_BUILTINS,
        'electron',
        'electron/*',
        'ws',
        'node-pty',
        'react',
        'react-dom',
        '@tether/*',
        'chokidar',
        'better-sqlite3',
      ],
      'shared/ is the protocol layer: it imports zod and nothing else (DESIGN.md, Layering).',
    ),
  },
  {
    files: ['relay/src/**/*.ts'],
    rules: forbid(
      ['@tether/app', '@tether/app/*', '**/app/src/**', 'electron', 'electron/*', 'node-pty', 'react'],
      'relay/ never imports the desktop app (DESIGN.md, Layering).',
    ),
  },
  {
    files: ['app/src/host/**/*.ts'],
    rules: forbid(
      [
        'electron',
        'electron/*',
        'react',
        'react-dom',
        '**/main/**',
        '**/renderer/**',
        '**/preload/**',
        '@tether/relay',
        '@tether/relay/*',
      ],
      'The host core is pure Node: never electron, the DOM or the relay (DESIGN.md, Layering).',
    ),
  },
  {
    files: ['app/src/main/**/*.ts'],
    rules: forbid(
      ['react', 'react-dom', '**/renderer/**', 'node-pty', 'chokidar', '@tether/relay', '@tether/relay/*'],
      'The Electron main process is thin glue: no DOM, no pty, no watcher; the host does that (STYLE.md 2).',
    ),
  },
  {
    files: ['app/src/preload/**/*.ts', 'app/src/preload/**/*.cts'],
    rules: forbid(
      [...NODE_BUILTINS, '**/host/**', '**/main/**', '**/renderer/**', 'node-pty', '@tether/relay'],
      "The preload uses electron's contextBridge/ipcRenderer only (DESIGN.md, Layering).",
    ),
  },
  {
    files: ['app/src/renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: forbid(
      [
        ...NODE_BUILTINS,
        'electron',
        'electron/*',
        '**/host/**',
        '**/main/**',
        '**/preload/**',
        'node-pty',
        'ws',
        'chokidar',
        '@tether/relay',
        '@tether/app/*',
      ],
      'The UI imports shared types, React and the DesktopApi only (DESIGN.md, Layering).',
    ),
  },
  {
    files: ['**/*.test.ts', 'e2e/**/*.ts', 'scripts/**/*.{ts,mjs,js}'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
