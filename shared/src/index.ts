/** @tether/shared: the protocol, defined once. Imports zod and nothing else. */
export * from './limits.js';
export * from './errors.js';
export * from './policy.js';
export * from './tools.js';
export * from './frames.js';
export * from './api.js';
export * from './desktop-api.js';
export * from './text.js';
export * from './json-bounds.js';
export * from './desktop-client.js';
export * from './allowances.js';
export * from './oauth.js';
export * from './ip-ranges.js';
