import type { FastifyInstance } from 'fastify';
import { errorValue, jsonBoundsViolation, type JsonBounds, type ToolErrorValue } from '@tether/shared';

/** JSON.parse reviver refusing the keys of prototype poisoning, as Fastify's own parser does. */
function refusePoison(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
  )
    throw new Error('forbidden key');
  return value;
}

/**
 * Whether a body might hold a poisoning key: only then is it parsed with the (much slower)
 * reviver, as Fastify's secure-json-parse does. A key can spell `__proto__` or `constructor`
 * only literally or with `\u` escapes (JSON has no other escapes for letters).
 */
function mayHoldPoison(text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
}

/** An error a body parser hands Fastify that carries the error value to answer with. */
export interface BodyRefusal extends Error {
  statusCode: number;
  tetherError: ToolErrorValue;
}

/** The error value of a refused body, when the error is one. */
export function bodyRefusalOf(err: unknown): ToolErrorValue | null {
  const value = (err as Partial<BodyRefusal> | null)?.tetherError;
  return value ?? null;
}

/**
 * Replaces Fastify's JSON parser: the raw text is first scanned for its nesting depth and key
 * count (MAX_JSON_DEPTH, MAX_JSON_KEYS) and refused with 413 `too_large` past them, so
 * `JSON.parse` only ever sees shallow text (a 7 MiB `[[[…]]]` body stalled the relay for
 * seconds). Then JSON with prototype-poisoning protection, as Fastify's own parser. An empty
 * body is no body: clients often send `Content-Type: application/json` on a bodiless POST.
 */
export function registerJsonParser(app: FastifyInstance, bounds?: JsonBounds): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    const violation = jsonBoundsViolation(text, bounds);
    if (violation !== null) {
      const refusal: BodyRefusal = Object.assign(new Error(violation.message), {
        statusCode: 413,
        tetherError: errorValue('too_large', `the request body is refused: ${violation.message}`, {
          limit: violation.limit === 'depth' ? 'json_depth' : 'json_keys',
          max: violation.max,
        }),
      });
      return done(refusal, undefined);
    }
    try {
      done(null, mayHoldPoison(text) ? JSON.parse(text, refusePoison) : JSON.parse(text));
    } catch {
      done(
        Object.assign(new Error('the body is not valid JSON'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON' }),
        undefined,
      );
    }
  });
}
