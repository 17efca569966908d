import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { connectionPair } from './helpers.js';

class Echo extends Service {
  echo(value: unknown) {
    return value;
  }
}

/** msgpack has one integer zero: -0 arrives as 0. Everything else must match exactly. */
function normalize(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return Array.from(value, normalize);
  if (value instanceof Map)
    return new Map([...value].map(([k, v]) => [normalize(k), normalize(v)]));
  if (value instanceof Set) return new Set([...value].map(normalize));
  if (
    value !== null &&
    typeof value === 'object' &&
    !ArrayBuffer.isView(value) &&
    !(value instanceof Date)
  ) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value))
      out[key] = normalize((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

describe('round trip of arbitrary values (fast-check)', () => {
  it('what goes out by value comes back equal', async () => {
    const { client } = await connectionPair('memory', { service: Echo });
    const echo = client.root as Remote<Echo>;
    await fc.assert(
      fc.asyncProperty(
        fc.anything({
          maxDepth: 4,
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withTypedArray: true,
          withSparseArray: false,
          withBoxedValues: false,
        }),
        async (value) => {
          const back = await echo.echo(value);
          expect(normalize(back)).toEqual(normalize(value));
        },
      ),
      { numRuns: 300 },
    );
  });
});
