import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ERROR_CODES,
  errorValue,
  httpStatusOf,
  invalidArgs,
  MAX_ERROR_MESSAGE_CHARS,
  TetherError,
  toErrorValue,
  toolErrorSchema,
} from './index.js';

describe('ERROR_CODES', () => {
  it('has the codes DESIGN.md names, each with an HTTP status and message', () => {
    for (const code of [
      'path_outside_workspace',
      'not_found',
      'confirmation_denied',
      'confirmation_timeout',
      'confirmation_unavailable',
      'tool_disabled',
      'policy_denied',
      'invalid_args',
      'runtime_offline',
      'runtime_paused',
      'timeout',
      'cancelled',
      'too_large',
      'conflict',
    ] as const) {
      expect(ERROR_CODES[code].status).toBeGreaterThanOrEqual(400);
      expect(ERROR_CODES[code].message.length).toBeGreaterThan(0);
    }
    expect(httpStatusOf('not_found')).toBe(404);
    expect(httpStatusOf('invalid_args')).toBe(400);
    expect(httpStatusOf('runtime_offline')).toBe(503);
  });
});

describe('toErrorValue', () => {
  it('keeps expected errors and hides unexpected ones', () => {
    expect(toErrorValue(new TetherError('not_found', 'No file a.txt'))).toEqual({
      code: 'not_found',
      message: 'No file a.txt',
    });
    expect(toErrorValue(new Error('secret /home/x/.ssh/id_rsa'))).toEqual(errorValue('internal'));
  });

  it('shortens a message echoing a path of MAX_PATH_BYTES so the value still fits its own schema', () => {
    const value = toErrorValue(new TetherError('not_found', `No such file: ${'d/'.repeat(2048)}`));
    expect(value.message).toHaveLength(MAX_ERROR_MESSAGE_CHARS);
    expect(value.message.endsWith('…')).toBe(true);
    expect(toolErrorSchema.safeParse(value).success).toBe(true);
  });
});

describe('invalidArgs', () => {
  it('names each offending field in the message and the details', () => {
    const schema = z.object({ a: z.string(), b: z.object({ c: z.number() }) });
    const error = schema.safeParse({ a: 1, b: { c: 'x' } }).error!;
    const value = invalidArgs(error);
    expect(value.code).toBe('invalid_args');
    expect(value.message).toContain('a:');
    expect(value.message).toContain('b.c:');
    expect(value.details?.fields).toHaveLength(2);
  });
});
