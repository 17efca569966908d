/**
 * Property tests: any bytes fed to the frame reader, to a live channel or to the
 * handshake reader give frames or a typed error — never a crash, an untyped error or a
 * hang — and frames survive any chunking of the stream.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader, frameHeader } from '../src/channel/frame-reader.js';
import { performHandshake } from '../src/channel/perform-handshake.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { ChannelError, DecryptError, HandshakeError } from '../src/errors.js';
import { CipherState } from '../src/noise/cipher-state.js';
import { duplexPair, PROLOGUE } from './channel-helpers.js';

/** Cuts `bytes` at the given points into chunks. */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of [...sorted, bytes.length]) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  return out;
}

describe('FrameReader', () => {
  it('returns the same frames however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, points) => {
          const wire = Buffer.concat(frames.flatMap((f) => [frameHeader(f.length), f]));
          const reader = new FrameReader(300);
          const got: Uint8Array[] = [];
          for (const chunk of cut(new Uint8Array(wire), points)) {
            reader.push(chunk);
            for (let f = reader.next(); f !== undefined; f = reader.next()) got.push(f.slice());
          }
          expect(got).toEqual(frames);
          expect(reader.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('nextTransient returns the same frames however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, points) => {
          const wire = Buffer.concat(frames.flatMap((f) => [frameHeader(f.length), f]));
          const reader = new FrameReader(300);
          const got: Uint8Array[] = [];
          for (const chunk of cut(new Uint8Array(wire), points)) {
            reader.push(chunk);
            for (let f = reader.nextTransient(); f !== undefined; f = reader.nextTransient())
              got.push(f.slice());
          }
          expect(got).toEqual(frames);
          expect(reader.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('nextTransient joins split frames in one reused buffer; next() gives each its own', () => {
    const wire = Buffer.concat([frameHeader(4), Buffer.of(1, 2, 3, 4), frameHeader(4)]);
    const reader = new FrameReader(100);
    reader.push(wire.subarray(0, 4));
    reader.push(wire.subarray(4));
    const first = reader.nextTransient()!;
    expect(first).toEqual(Uint8Array.of(1, 2, 3, 4));
    reader.push(Uint8Array.of(5, 6));
    reader.push(Uint8Array.of(7, 8));
    const second = reader.nextTransient()!;
    expect(second).toEqual(Uint8Array.of(5, 6, 7, 8));
    // Both joins used the same memory: the first frame was only valid until the second call.
    expect(second.buffer).toBe(first.buffer);
    expect(first).toEqual(Uint8Array.of(5, 6, 7, 8));

    reader.push(Buffer.concat([frameHeader(2), Buffer.of(9)]));
    reader.push(Uint8Array.of(10, 0, 2, 11));
    reader.push(Uint8Array.of(12));
    const a = reader.next()!;
    const b = reader.next()!;
    b.fill(0);
    expect([a, b]).toEqual([Uint8Array.of(9, 10), Uint8Array.of(0, 0)]);
  });

  it('returns a frame inside one chunk as a view of it, without copying', () => {
    const chunk = new Uint8Array([0, 3, 1, 2, 3, 0, 1]);
    const reader = new FrameReader(100);
    reader.push(chunk);
    const frame = reader.next()!;
    expect(frame.buffer).toBe(chunk.buffer);
    expect(frame).toEqual(Uint8Array.of(1, 2, 3));
    expect(reader.next()).toBeUndefined();
  });

  it('regression: frames read from Buffer chunks are plain Uint8Arrays (copying slice)', () => {
    const reader = new FrameReader(100);
    reader.push(Buffer.from([0, 2, 7, 8]));
    const frame = reader.next()!;
    expect(Buffer.isBuffer(frame)).toBe(false);
    const copy = frame.slice();
    copy[0] = 0;
    expect(frame[0]).toBe(7);
  });

  it('any bytes give frames within the limit or a ChannelError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 65535 }),
        (bytes, max) => {
          const reader = new FrameReader(max);
          reader.push(bytes);
          try {
            for (let f = reader.next(); f !== undefined; f = reader.next())
              expect(f.length).toBeLessThanOrEqual(max);
          } catch (error) {
            expect(error).toBeInstanceOf(ChannelError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a live channel fed random bytes', () => {
  it('closes with DecryptError or ChannelError and delivers nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        async (junk, points) => {
          const [ours, theirs] = duplexPair();
          const key = nodeCryptoProvider.randomBytes(32);
          const channel = new SecureChannel({
            stream: ours,
            send: new CipherState(nodeCryptoProvider, key),
            receive: new CipherState(nodeCryptoProvider, key),
            handshakeHash: new Uint8Array(32),
            remoteStatic: new Uint8Array(32),
            reader: new FrameReader(65535),
          });
          const delivered: Uint8Array[] = [];
          const closed = new Promise<Error | undefined>((resolve) =>
            channel.start({ onMessage: (m) => delivered.push(m), onClose: resolve }),
          );
          for (const chunk of cut(junk, points)) theirs.write(chunk);
          theirs.end();
          const error = await closed;
          expect(error instanceof DecryptError || error instanceof ChannelError).toBe(true);
          expect(delivered).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the handshake reader fed random bytes', () => {
  for (const role of ['responder', 'initiator'] as const) {
    it(`rejects with HandshakeError as ${role}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.boolean(), async (junk, framed) => {
          const [ours, theirs] = duplexPair();
          theirs.on('data', () => {});
          const result = performHandshake(ours, {
            role,
            staticKeyPair: nodeCryptoProvider.generateKeyPair(),
            prologue: PROLOGUE,
            verifyRemote: () => {},
            timeoutMs: 2000,
          });
          // Sometimes a well-formed length prefix, so the junk reaches the Noise parser.
          theirs.write(framed ? Buffer.concat([frameHeader(junk.length), junk]) : junk);
          theirs.end();
          await expect(result).rejects.toBeInstanceOf(HandshakeError);
        }),
        { numRuns: 100 },
      );
    });
  }
});
