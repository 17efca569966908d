/**
 * The main thread's pre-authentication frame-length check: it follows frame boundaries
 * however the stream is cut into chunks, and flags the first oversize length.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameLengthGuard } from '../src/frame-guard.js';

function framed(lengths: readonly number[]): Uint8Array {
  const total = lengths.reduce((sum, n) => sum + 2 + n, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const n of lengths) {
    out[at] = n >>> 8;
    out[at + 1] = n & 0xff;
    // Body bytes that look like oversize headers, so that a lost boundary shows.
    out.fill(0xff, at + 2, at + 2 + n);
    at += 2 + n;
  }
  return out;
}

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

describe('FrameLengthGuard', () => {
  it('passes frames within the limit, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (lengths, offsets) => {
          const guard = new FrameLengthGuard(300);
          for (const chunk of cut(framed(lengths), offsets)) {
            expect(guard.push(chunk)).toBeUndefined();
          }
        },
      ),
    );
  });

  it('flags the first oversize length, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 10 }),
        fc.integer({ min: 301, max: 65535 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (lengths, oversize, offsets) => {
          const guard = new FrameLengthGuard(300);
          const bytes = framed([...lengths, oversize]).subarray(
            0,
            lengths.reduce((s, n) => s + 2 + n, 0) + 2,
          );
          let flagged: number | undefined;
          for (const chunk of cut(bytes, offsets)) {
            flagged ??= guard.push(chunk);
          }
          expect(flagged).toBe(oversize);
        },
      ),
    );
  });

  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 65535 }),
        (bytes, max) => {
          const guard = new FrameLengthGuard(max);
          const flagged = guard.push(bytes);
          expect(flagged === undefined || (flagged > max && flagged <= 65535)).toBe(true);
        },
      ),
    );
  });

  it('checks its limit', () => {
    for (const bad of [-1, 65536, 1.5, Number.NaN]) {
      expect(() => new FrameLengthGuard(bad)).toThrow(RangeError);
    }
  });
});
