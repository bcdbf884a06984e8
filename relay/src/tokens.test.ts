import { idSchema } from '@tether/shared';
import { describe, expect, it } from 'vitest';
import { newCallId } from './tokens.js';

describe('newCallId', () => {
  it('sorts in the order of its start times, so the call log appends to its index', () => {
    const times = [0, 1, 15, 16, 255, 256, Date.parse('2026-12-03T17:00:00Z'), Date.parse('2400-01-01T00:00:00Z')];
    const ids = times.map((t) => newCallId(t));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) {
      expect(id).toMatch(/^call_[0-9a-f]{12}[0-9a-f]{24}$/);
      expect(idSchema.safeParse(id).success).toBe(true);
    }
  });

  it('never repeats within one millisecond', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 10_000 }, () => newCallId(now)));
    expect(ids.size).toBe(10_000);
  });
});
