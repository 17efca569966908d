import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Codec } from '../src/codec.js';
import { connectTransport } from '../src/connection.js';
import { duplexTransport } from '../src/duplex-transport.js';
import { MessageTooLargeError, ProtocolError } from '../src/errors.js';
import {
  deliverPieces,
  joinPieces,
  MAX_PARTS,
  OUT_OF_LINE_MIN_BYTES,
  OutOfLineBytes,
  PARTS_MARKER,
  type ReceivedPart,
  TAG_PART,
} from '../src/message-parts.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { TRANSPORTS, tcpPair, transportPair } from './helpers.js';

const MAX = 1 << 22;
const codec = () => new Codec({ maxMessageBytes: MAX, maxDepth: 16 });

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Byte equality without the deep comparison's cost on megabytes. */
function same(a: ArrayBufferView | ArrayBuffer, b: ArrayBufferView | ArrayBuffer): boolean {
  const view = (v: ArrayBufferView | ArrayBuffer) =>
    v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return view(a).equals(view(b));
}

/** A message head announcing `lengths` parts after an envelope of `envelope`. */
function head(envelope: Uint8Array, lengths: readonly number[]): Uint8Array {
  const out = new Uint8Array(9 + 4 * lengths.length + envelope.byteLength);
  const view = new DataView(out.buffer);
  out[0] = PARTS_MARKER;
  view.setUint32(1, envelope.byteLength);
  view.setUint32(5, lengths.length);
  for (const [i, n] of lengths.entries()) view.setUint32(9 + 4 * i, n);
  out.set(envelope, 9 + 4 * lengths.length);
  return out;
}

class Echo extends Service {
  echo(data: unknown): unknown {
    return data;
  }
  /** Returns `data`, then changes it once the call has answered. */
  echoThenScribble(data: Uint8Array): Uint8Array {
    setImmediate(() => data.fill(0xee));
    return data;
  }
}

describe('out-of-line parts in the codec', () => {
  it('keeps small messages one plain msgpack buffer', () => {
    const encoded = codec().encodeParts([2, 1, new Uint8Array(OUT_OF_LINE_MIN_BYTES - 1)]);
    expect(encoded).toBeInstanceOf(Uint8Array);
    expect((encoded as Uint8Array)[0]).not.toBe(PARTS_MARKER);
  });

  it('sends a large array beside the envelope, as a view of the caller bytes', () => {
    const payload = bytes(OUT_OF_LINE_MIN_BYTES, 1);
    const encoded = codec().encodeParts([2, 1, new OutOfLineBytes(payload)]);
    expect(Array.isArray(encoded)).toBe(true);
    const pieces = encoded as Uint8Array[];
    expect(pieces).toHaveLength(2);
    expect(pieces[0]![0]).toBe(PARTS_MARKER);
    expect(pieces[1]).toBe(payload);
  });

  it('hands a part delivered apart to the application without a copy', () => {
    const c = codec();
    const pieces = c.encodeParts([2, 1, new OutOfLineBytes(bytes(100_000, 2))]) as Uint8Array[];
    const part = pieces[1]!.slice();
    const decoded = c.decode(pieces[0]!, [part]) as unknown[];
    const placed = decoded[2] as { take(): Uint8Array };
    expect(placed.take()).toBe(part);
  });

  it('copies a part of a joined message out of it', () => {
    const c = codec();
    const payload = bytes(100_000, 3);
    const joined = joinPieces(c.encodeParts([2, 1, new OutOfLineBytes(payload)]) as Uint8Array[]);
    const decoded = c.decode(joined) as unknown[];
    const taken = (decoded[2] as { take(): Uint8Array }).take();
    expect(taken.buffer === joined.buffer).toBe(false);
    expect(taken.byteLength).toBe(taken.buffer.byteLength);
    expect(same(taken, payload)).toBe(true);
  });

  it('refuses a message whose parts total more than maxMessageBytes', () => {
    const c = new Codec({ maxMessageBytes: 1000, maxDepth: 8 });
    const envelope = codec().encode([2, 1, [TAG_PART, 0]]);
    // Announces a 4 GiB part in a 30-byte message: refused from the head alone.
    expect(() => c.decode(head(envelope, [0xffffffff]))).toThrow(MessageTooLargeError);
    expect(() =>
      c.encodeParts([2, 1, new OutOfLineBytes(new Uint8Array(OUT_OF_LINE_MIN_BYTES))]),
    ).toThrow(MessageTooLargeError);
  });

  it('refuses placeholders of unknown parts, parts used twice and parts never used', () => {
    const c = codec();
    const part = new Uint8Array(10);
    const envelope = (tree: unknown) => codec().encode(tree);
    const cases: [unknown, number][] = [
      [[2, 1, [TAG_PART, 1]], 1],
      [[2, 1, [0, [TAG_PART, 0], [TAG_PART, 0]]], 1],
      [[2, 1, null], 1],
      [[2, 1, [TAG_PART, -1]], 1],
    ];
    for (const [tree, count] of cases) {
      const message = joinPieces([head(envelope(tree), new Array(count).fill(10)), part]);
      expect(() => c.decode(message)).toThrow(ProtocolError);
    }
    expect(() => c.decode(envelope([2, 1, null]), [part])).toThrow(ProtocolError);
    const good = head(envelope([2, 1, [TAG_PART, 0]]), [10]);
    expect(() => c.decode(good, [new Uint8Array(11)])).toThrow(ProtocolError);
    expect(() => c.decode(good, [])).toThrow(ProtocolError);
    expect(() => c.decode(head(envelope([2]), new Array(MAX_PARTS + 1).fill(0)))).toThrow(
      ProtocolError,
    );
  });

  it('any byte string after the parts marker decodes to a value or a typed error', () => {
    const c = codec();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.option(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 }), {
          nil: undefined,
        }),
        (tail, delivered) => {
          const message = new Uint8Array(tail.byteLength + 1);
          message[0] = PARTS_MARKER;
          message.set(tail, 1);
          try {
            c.decode(message, delivered);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('well-formed heads with any lengths and envelopes decode to a value or a typed error', () => {
    const c = codec();
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        fc.array(fc.nat({ max: 64 }), { minLength: 1, maxLength: 5 }),
        fc.nat({ max: 64 }),
        fc.boolean(),
        (value, lengths, extra, apart) => {
          const envelope = codec().encode([2, 1, [0, value, [TAG_PART, 0]]]);
          const parts = lengths.map((n, i) => bytes(n, i));
          const h = head(envelope, lengths);
          try {
            if (apart) c.decode(h, parts);
            else c.decode(joinPieces([h, ...parts, new Uint8Array(extra % 2 === 0 ? 0 : extra)]));
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parts delivered cut anywhere', () => {
  /** `bytes` cut at `points` (taken modulo its length), each piece in a buffer of its own. */
  function cut(all: Uint8Array, points: readonly number[]): Uint8Array[] {
    const at = [...new Set(points.map((p) => p % (all.byteLength + 1)))].sort((x, y) => x - y);
    const out: Uint8Array[] = [];
    let from = 0;
    for (const p of [...at, all.byteLength]) {
      // A leading byte (a frame's type) before each piece, as the secure channel delivers.
      const own = new Uint8Array(1 + p - from);
      own.set(all.subarray(from, p), 1);
      out.push(own.subarray(1));
      from = p;
    }
    return out;
  }

  it('decode to the same values as one buffer per part, or fail with ProtocolError (property)', () => {
    const c = codec();
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: -2, max: 2 }),
        (lengths, points, skew) => {
          const parts = lengths.map((n, i) => bytes(n, i));
          const pieces = c.encodeParts([
            2,
            1,
            [0, ...parts.map((p) => new OutOfLineBytes(p))],
          ]) as Uint8Array[];
          const all = joinPieces(pieces.slice(1));
          const delivered = cut(all, points);
          if (skew !== 0) {
            // Pieces that do not add up to what the head announced.
            const last = delivered.pop()!;
            delivered.push(new Uint8Array(Math.max(0, last.byteLength + skew)));
            if (last.byteLength + skew < 0) return;
            expect(() => c.decode(pieces[0]!, delivered)).toThrow(ProtocolError);
            return;
          }
          const decoded = c.decode(pieces[0]!, delivered) as unknown[];
          const placed = (decoded[2] as unknown[]).slice(1) as ReceivedPart[];
          expect(placed).toHaveLength(parts.length);
          for (const [i, part] of placed.entries()) {
            expect(part.byteLength).toBe(lengths[i]);
            if (i % 2 === 0) {
              const taken = part.take();
              expect(same(taken, parts[i]!)).toBe(true);
              // One array of its own, whatever the cuts.
              expect(taken.byteLength).toBe(taken.buffer.byteLength);
            } else {
              const chunks = part.takeChunks();
              expect(same(joinPieces(chunks), parts[i]!)).toBe(true);
              // Views of what was delivered, uncopied.
              for (const chunk of chunks)
                expect(delivered.some((d) => d.buffer === chunk.buffer)).toBe(true);
            }
            expect(() => part.take()).toThrow(ProtocolError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a part of a joined message is copied out of it, also for a byte stream', () => {
    const c = codec();
    const payload = bytes(100_000, 3);
    const joined = joinPieces(c.encodeParts([2, 1, new OutOfLineBytes(payload)]) as Uint8Array[]);
    const decoded = c.decode(joined) as unknown[];
    const chunks = (decoded[2] as ReceivedPart).takeChunks();
    expect(chunks.every((chunk) => chunk.buffer !== joined.buffer)).toBe(true);
    expect(same(joinPieces(chunks), payload)).toBe(true);
  });
});

describe('out-of-line parts through a connection', () => {
  for (const kind of TRANSPORTS) {
    it(`round-trips large byte arrays and typed arrays over ${kind}`, async () => {
      const [a, b] = await transportPair(kind);
      const [server, client] = await Promise.all([
        connectTransport(a, { service: new Echo() }),
        connectTransport(b),
      ]);
      const root = client.root as Remote<Echo>;
      const big = bytes(1 << 20, 4);
      const floats = new Float64Array(20_000).map((_, i) => i / 3);
      const shifted = new Uint8Array(OUT_OF_LINE_MIN_BYTES + 8).subarray(3);
      shifted.set(bytes(shifted.byteLength, 5));
      const value = {
        big,
        floats,
        buffer: floats.buffer.slice(0),
        shifted,
        list: [bytes(OUT_OF_LINE_MIN_BYTES, 6), 'small', bytes(10, 7)],
      };
      const back = (await root.echo(value)) as typeof value;
      expect(same(back.big, big)).toBe(true);
      // Not `not.toBe`: on a miss it deep-compares the megabyte element by element.
      expect(back.big === big, 'a copy, not the sent array').toBe(false);
      expect(back.big.byteLength).toBe(back.big.buffer.byteLength);
      expect(back.floats).toBeInstanceOf(Float64Array);
      expect(same(back.floats, floats)).toBe(true);
      expect(back.buffer).toBeInstanceOf(ArrayBuffer);
      expect(same(back.buffer, floats)).toBe(true);
      expect(same(back.shifted, shifted)).toBe(true);
      expect(back.list).toHaveLength(3);
      expect(same(back.list[0] as Uint8Array, value.list[0] as Uint8Array)).toBe(true);
      expect(back.list.slice(1)).toEqual(value.list.slice(1));
      await client.close();
      await server.close();
    });
  }

  it('sends the bytes a service returned, not what it wrote into them afterwards (TCP)', async () => {
    const [a, b] = await transportPair('tcp');
    const [server, client] = await Promise.all([
      connectTransport(a, { service: new Echo() }),
      connectTransport(b),
    ]);
    const root = client.root as Remote<Echo>;
    const payload = bytes(4 << 20, 8);
    for (let i = 0; i < 3; i++) {
      const copy = payload.slice();
      expect(same(await root.echoThenScribble(copy), payload)).toBe(true);
    }
    await client.close();
    await server.close();
  });

  it('refuses, from the head alone, a peer announcing a part above maxMessageBytes', async () => {
    const { client, server } = await tcpPair();
    const victim = duplexTransport(server, { maxMessageBytes: 1 << 20 });
    const closed = connectTransport(victim, { maxMessageBytes: 1 << 20 }).catch(
      (error: unknown) => error,
    );
    // The peer's hello is due first; a message with parts announcing 3 GiB comes instead.
    const envelope = codec().encode([2, 1, [TAG_PART, 0]]);
    const message = head(envelope, [0xc0000000]);
    const frame = Buffer.alloc(4 + message.byteLength);
    frame.writeUInt32BE(message.byteLength, 0);
    frame.set(message, 4);
    client.write(frame);
    const error = await closed;
    expect(error).toBeInstanceOf(MessageTooLargeError);
    client.destroy();
  });

  it('delivers pieces joined to a receiver that does not take parts apart', () => {
    const envelope = codec().encode([2, 1, [TAG_PART, 0]]);
    const pieces = [head(envelope, [3]), Uint8Array.of(1, 2, 3)];
    const got: Uint8Array[] = [];
    deliverPieces({ onMessage: (data) => got.push(data), onClose: () => {} }, pieces);
    expect(got).toEqual([joinPieces(pieces)]);
    const apart: Uint8Array[][] = [];
    deliverPieces(
      {
        onMessage: () => {},
        onMessageParts: (h, parts) => apart.push([h, ...parts]),
        onClose: () => {},
      },
      pieces,
    );
    expect(apart).toEqual([pieces]);
  });
});

describe('placeholders only in value positions', () => {
  it('finishes and releases that look like a placeholder stay numbers in a request with parts', () => {
    const c = codec();
    const payload = bytes(OUT_OF_LINE_MIN_BYTES, 9);
    // REQUEST [1, qid, op, targetKind, targetId, path, args, timeoutMs, finishes, releases]:
    // finishes [15, 0] (qids 15 and 0) and releases [15, 1] (export 15, one reference).
    const pieces = c.encodeParts([
      1,
      4,
      3,
      0,
      0,
      ['echo'],
      [new OutOfLineBytes(payload)],
      0,
      [TAG_PART, 0],
      [TAG_PART, 1],
    ]) as Uint8Array[];
    const decoded = c.decode(joinPieces(pieces)) as unknown[];
    expect(decoded[8]).toEqual([TAG_PART, 0]);
    expect(decoded[9]).toEqual([TAG_PART, 1]);
    const args = decoded[6] as { take(): Uint8Array }[];
    expect(same(args[0]!.take(), payload)).toBe(true);
  });
});

describe('errors with large bytes', () => {
  it('a rejection whose error carries a large array in its cause arrives whole', async () => {
    class Thrower extends Service {
      fail(data: Uint8Array): void {
        throw new Error('with bytes', { cause: { data } });
      }
    }
    const [a, b] = await transportPair('tcp');
    const [server, client] = await Promise.all([
      connectTransport(a, { service: new Thrower() }),
      connectTransport(b),
    ]);
    const payload = bytes(200_000, 10);
    const error = (await (client.root as Remote<Thrower>)
      .fail(payload)
      .catch((e: unknown) => e)) as {
      cause: { data: Uint8Array };
    };
    expect(same(error.cause.data, payload)).toBe(true);
    await client.close();
    await server.close();
  });
});
