import { describe, expect, it } from 'vitest';
import { connectUrlOf, isLoopbackHost } from './connect-url.js';

describe('connectUrlOf', () => {
  it('derives the WebSocket endpoint from any form of the relay URL', () => {
    expect(connectUrlOf('https://relay.example').href).toBe('wss://relay.example/v1/connect');
    expect(connectUrlOf('wss://relay.example/v1/connect').href).toBe('wss://relay.example/v1/connect');
    expect(connectUrlOf('http://127.0.0.1:8787').href).toBe('ws://127.0.0.1:8787/v1/connect');
    expect(connectUrlOf('ws://localhost:1/base/').href).toBe('ws://localhost:1/base/v1/connect');
    expect(connectUrlOf('http://[::1]:8787').href).toBe('ws://[::1]:8787/v1/connect');
  });

  it('refuses an unencrypted relay that is not on this machine, unless allowed', () => {
    for (const url of ['http://relay.example', 'ws://10.0.0.5:8787', 'http://127.0.0.1.evil.example', 'ws://[::2]:1']) {
      expect(() => connectUrlOf(url), url).toThrow(/Refusing the unencrypted relay .*--insecure-relay/);
      expect(connectUrlOf(url, { allowInsecure: true }).protocol).toBe('ws:');
    }
  });

  it('refuses credentials, queries and fragments', () => {
    expect(() => connectUrlOf('https://u:p@relay.example')).toThrow(/must not carry credentials/);
    expect(() => connectUrlOf('https://relay.example/?token=x')).toThrow(/must not carry credentials/);
  });
});

describe('isLoopbackHost', () => {
  it('knows this machine’s names', () => {
    expect(['localhost', 'a.localhost', '127.0.0.1', '127.9.9.9', '[::1]', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['127.0.0.1.nip.io', '0.0.0.0', '10.0.0.1', 'localhost.evil.com'].some(isLoopbackHost)).toBe(false);
  });
});
