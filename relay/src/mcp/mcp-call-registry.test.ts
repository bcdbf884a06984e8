import { describe, expect, it } from 'vitest';
import { McpCallRegistry } from './mcp-call-registry.js';

describe('McpCallRegistry', () => {
  describe('cancel', () => {
    it('aborts the one call with that token, runtime and request id', () => {
      const registry = new McpCallRegistry();
      const call = registry.register('tok_a', 'rt_1', 7);
      const otherRuntime = registry.register('tok_a', 'rt_2', 7);
      const stringId = registry.register('tok_a', 'rt_1', '7');
      expect(registry.cancel('tok_a', 'rt_1', 7)).toBe(true);
      expect(call.signal.aborted).toBe(true);
      expect(otherRuntime.signal.aborted).toBe(false);
      expect(stringId.signal.aborted).toBe(false);
    });

    it('aborts nothing when two clients sharing a token use the same request id', () => {
      const registry = new McpCallRegistry();
      const first = registry.register('tok_a', 'rt_1', 1);
      const second = registry.register('tok_a', 'rt_1', 1);
      expect(registry.cancel('tok_a', 'rt_1', 1)).toBe(false);
      expect(first.signal.aborted || second.signal.aborted).toBe(false);
      second.done();
      expect(registry.cancel('tok_a', 'rt_1', 1)).toBe(true);
      expect(first.signal.aborted).toBe(true);
    });

    it('forgets calls that are done', () => {
      const registry = new McpCallRegistry();
      registry.register('tok_a', 'rt_1', 1).done();
      expect(registry.size).toBe(0);
      expect(registry.cancel('tok_a', 'rt_1', 1)).toBe(false);
    });

    it('counts the matching calls, so a cancel matching none here goes to the other nodes', () => {
      const registry = new McpCallRegistry();
      expect(registry.matches('tok_a', 'rt_1', 1)).toBe(0);
      registry.register('tok_a', 'rt_1', 1);
      registry.register('tok_a', 'rt_1', 1);
      expect(registry.matches('tok_a', 'rt_1', 1)).toBe(2);
      expect(registry.matches('tok_b', 'rt_1', 1)).toBe(0);
    });
  });
});
