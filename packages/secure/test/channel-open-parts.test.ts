/**
 * A frame split across socket reads is opened piece by piece (FrameReader pieces,
 * CipherState.decryptPartsWithAd, the node provider's openParts): the same plaintext as
 * opening the joined frame, with either provider, and a forged piece fails the tag.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader, frameHeader } from '../src/channel/frame-reader.js';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { DecryptError } from '../src/errors.js';
import { CipherState } from '../src/noise/cipher-state.js';

function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...sorted, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const join = (pieces: readonly Uint8Array[]) => Buffer.concat(pieces.map((p) => Buffer.from(p)));

describe('opening a frame in pieces', () => {
  for (const provider of [nodeCryptoProvider, nobleCryptoProvider]) {
    it(`gives the plaintext of the joined frame (${provider.name})`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.nat({ max: 400 }), { maxLength: 5 }),
          (key, plaintext, points) => {
            const seal = new CipherState(provider, key);
            const open = new CipherState(provider, key);
            const sealed = seal.encryptWithAd(new Uint8Array(0), plaintext);
            const opened = open.decryptPartsWithAd(new Uint8Array(0), cut(sealed, points));
            expect(join(opened).equals(Buffer.from(plaintext))).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it(`refuses a forged piece and a sealed frame shorter than a tag (${provider.name})`, () => {
      const key = new Uint8Array(32).fill(7);
      const sealed = new CipherState(provider, key).encryptWithAd(
        new Uint8Array(0),
        new Uint8Array(100).fill(1),
      );
      for (const at of [0, 50, sealed.length - 1]) {
        const forged = sealed.slice();
        forged[at]! ^= 1;
        const open = new CipherState(provider, key);
        expect(() => open.decryptPartsWithAd(new Uint8Array(0), cut(forged, [40, 110]))).toThrow(
          DecryptError,
        );
      }
      const open = new CipherState(provider, key);
      expect(() =>
        open.decryptPartsWithAd(new Uint8Array(0), [new Uint8Array(5), new Uint8Array(5)]),
      ).toThrow(DecryptError);
    });
  }

  it('the frame reader hands a frame split across chunks as views of them, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 6 }),
        (frames, points) => {
          const stream = join(frames.flatMap((f) => [frameHeader(f.length), f]));
          const reader = new FrameReader(65535);
          for (const chunk of cut(stream, points)) reader.push(chunk);
          for (const frame of frames) {
            const pieces = reader.nextTransientPieces()!;
            expect(join(pieces).equals(Buffer.from(frame))).toBe(true);
          }
          expect(reader.nextTransientPieces()).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });
});
