/**
 * The single-pass decoder against the reference it replaces (`scanMessage`, then
 * msgpackr): for any message, the same value (same types, same bytes, the same view of the
 * message for binary values) and the same element count, or the same refusal (same class,
 * code and message). Messages come from encoded values of every type the codec uses, from
 * msgpack built token by token with lying lengths and foreign extensions, from mutated
 * encodings and from random bytes, under limits small enough to be hit often.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Codec, referenceDecode } from '../src/codec.js';
import { ProtocolError } from '../src/errors.js';
import { WireDecoder } from '../src/wire-decode.js';
import { ScanScratch } from '../src/wire-scan.js';

const encoder = new Codec({ maxMessageBytes: 1 << 24, maxDepth: 64 });

type Outcome =
  | { ok: true; value: unknown; elements: number }
  | { ok: false; error: unknown; elements: number };

function reference(bytes: Uint8Array, maxDepth: number, maxElements: number): Outcome {
  const scratch = new ScanScratch(maxDepth, maxElements);
  try {
    const value = referenceDecode(bytes, scratch);
    return { ok: true, value, elements: scratch.elements };
  } catch (error) {
    return { ok: false, error, elements: scratch.elements };
  }
}

function single(bytes: Uint8Array, maxDepth: number, maxElements: number): Outcome {
  const decoder = new WireDecoder(maxDepth, maxElements);
  try {
    const value = decoder.decode(bytes);
    return { ok: true, value, elements: decoder.elements };
  } catch (error) {
    return { ok: false, error, elements: decoder.elements };
  }
}

/** Why `a` and `b` differ, or `undefined` when they are the same decoded value. */
function difference(a: unknown, b: unknown, at = '$'): string | undefined {
  if (typeof a !== typeof b) return `${at}: ${typeof a} against ${typeof b}`;
  if (typeof a === 'number') return Object.is(a, b) ? undefined : `${at}: ${a} against ${b}`;
  if (typeof a !== 'object' || a === null || b === null)
    return a === b ? undefined : `${at}: ${String(a)} against ${String(b)}`;
  const other = b as object;
  if (a.constructor !== other.constructor)
    return `${at}: ${a.constructor.name} against ${other.constructor.name}`;
  if (a instanceof Date)
    return Object.is(a.getTime(), (other as Date).getTime())
      ? undefined
      : `${at}: date ${a.getTime()} against ${(other as Date).getTime()}`;
  if (a instanceof Uint8Array) {
    const y = other as Uint8Array;
    if (a.buffer !== y.buffer || a.byteOffset !== y.byteOffset || a.byteLength !== y.byteLength)
      return `${at}: not the same view of the message`;
    return undefined;
  }
  if (Array.isArray(a)) {
    const y = other as unknown[];
    if (a.length !== y.length) return `${at}: length ${a.length} against ${y.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], y[i], `${at}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (a instanceof Map) {
    const x = [...a];
    const y = [...(other as Map<unknown, unknown>)];
    if (x.length !== y.length) return `${at}: size ${x.length} against ${y.length}`;
    for (let i = 0; i < x.length; i++) {
      if (x[i]![0] !== y[i]![0])
        return `${at}: key ${String(x[i]![0])} against ${String(y[i]![0])}`;
      const d = difference(x[i]![1], y[i]![1], `${at}.${String(x[i]![0])}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return `${at}: unexpected ${a.constructor.name}`;
}

/** Asserts that both decoders agree on `bytes` under the limits. */
function agree(bytes: Uint8Array, maxDepth = 64, maxElements = Number.POSITIVE_INFINITY): Outcome {
  const expected = reference(bytes, maxDepth, maxElements);
  const actual = single(bytes, maxDepth, maxElements);
  if (expected.ok) {
    if (!actual.ok) throw new Error(`refused what the reference accepts: ${String(actual.error)}`);
    const d = difference(expected.value, actual.value);
    if (d !== undefined) throw new Error(`values differ at ${d}`);
  } else {
    if (actual.ok)
      throw new Error(`accepted what the reference refuses: ${String(expected.error)}`);
    const want = expected.error as ProtocolError;
    const got = actual.error as ProtocolError;
    expect(got).toBeInstanceOf(ProtocolError);
    expect(got.constructor).toBe(want.constructor);
    expect(got.code).toBe(want.code);
    expect(got.message).toBe(want.message);
  }
  expect(actual.elements).toBe(expected.elements);
  return actual;
}

// Values of every type the codec encodes (serialize.ts's output and what a peer may send).
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, undefined, true, false, 0, -0, Number.NaN, Number.POSITIVE_INFINITY),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.float().map(Number),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', minLength: 10, maxLength: 120 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.date({ noInvalidDate: false }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc
      .array(fc.tuple(fc.oneof(fc.string(), fc.constant('__proto__')), tie('value')), {
        maxLength: 20,
      })
      .map((entries) => new Map(entries)),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 20 }),
  ),
}));

/** Body bytes of the fixed-size number headers. */
const FIXED_BODY = new Map([
  [0xca, 4],
  [0xcb, 8],
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
]);

const stringItem = fc
  .string({ unit: 'grapheme', maxLength: 20 })
  .map((s) => [...encoder.encode(s)]);

function bigEndian(n: number, size: number): number[] {
  const out: number[] = [];
  for (let i = size - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

/** A header of any width for a body of `n` items or bytes, its length sometimes a lie. */
function lengthHeader(kind: 'str' | 'bin' | 'array' | 'map') {
  const tokens = {
    str: [0xa0, 0xd9, 0xda, 0xdb],
    bin: [-1, 0xc4, 0xc5, 0xc6],
    array: [0x90, 0xdc, 0xdd, -1],
    map: [0x80, 0xde, 0xdf, -1],
  }[kind];
  return fc
    .tuple(
      fc.integer({ min: 0, max: 3 }),
      fc.oneof(
        { weight: 6, arbitrary: fc.constant(0) },
        fc.integer({ min: -3, max: 3 }),
        fc.constantFrom(0xffff, 0xffffffff, 0x7fffffff),
      ),
    )
    .map(([width, lie]) => (n: number): number[] => {
      let w = width;
      while (tokens[w] === -1) w = (w + 1) % 4;
      const length = lie > 3 ? lie : Math.max(0, n + lie);
      if (w === 0) {
        const fix = kind === 'str' ? 31 : 15;
        return [tokens[0]! | Math.min(length, fix)];
      }
      const size = kind === 'array' || kind === 'map' ? (w === 1 ? 2 : 4) : 1 << (w - 1);
      return [tokens[w]!, ...bigEndian(length % 2 ** (8 * size), size)];
    });
}

// msgpack written token by token: every header, lengths that may lie, any extension type,
// any key type, the reserved byte, floats of both widths.
const { item: anyItem } = fc.letrec((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: 0, max: 255 }).map((b) => [b]),
    fc.constantFrom([0xc0], [0xc1], [0xc2], [0xc3], [0xd4, 0x00, 0x00], [0xd4, 0xff, 0x00]),
    fc
      .tuple(
        fc.constantFrom(0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
      )
      .map(([token, body]) => [token, ...body.subarray(0, FIXED_BODY.get(token))]),
    fc
      .tuple(lengthHeader('str'), fc.uint8Array({ maxLength: 40 }))
      .map(([head, body]) => [...head(body.length), ...body]),
    fc
      .tuple(lengthHeader('bin'), fc.uint8Array({ maxLength: 40 }))
      .map(([head, body]) => [...head(body.length), ...body]),
    fc
      .tuple(
        fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9),
        fc.oneof(fc.constantFrom(0, 0xff, 0x42), fc.integer({ min: 0, max: 255 })),
        fc.oneof(fc.constantFrom(0, 1, 4, 8, 12, 16), fc.integer({ min: 0, max: 40 })),
        fc.uint8Array({ minLength: 40, maxLength: 40 }),
      )
      .map(([token, type, length, body]) => {
        if (token >= 0xd4 && token <= 0xd8)
          return [token, type, ...body.subarray(0, 1 << (token - 0xd4))];
        const size = token === 0xc7 ? 1 : token === 0xc8 ? 2 : 4;
        return [token, ...bigEndian(length, size), type, ...body.subarray(0, length)];
      }),
    fc
      .tuple(
        lengthHeader('array'),
        fc.array(tie('item') as fc.Arbitrary<number[]>, { maxLength: 6 }),
      )
      .map(([head, items]) => [...head(items.length), ...items.flat()]),
    fc
      .tuple(
        lengthHeader('map'),
        fc.array(
          fc.tuple(fc.oneof(stringItem, tie('item') as fc.Arbitrary<number[]>), tie('item')),
          { maxLength: 5 },
        ),
      )
      .map(([head, entries]) => [
        ...head(entries.length),
        ...entries.flatMap(([k, v]) => [...k, ...(v as number[])]),
      ]),
  ),
}));

const limits = fc.record({
  maxDepth: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(64)),
  maxElements: fc.oneof(
    fc.integer({ min: 0, max: 200 }),
    fc.constant(Number.POSITIVE_INFINITY),
    fc.constant(1_048_576),
  ),
});

describe('single-pass decoder against the reference (scan, then msgpackr)', () => {
  it('decodes every encoded value exactly as the reference does', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const outcome = agree(encoder.encode(value));
        expect(outcome.ok).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('decodes encoded values the same from a Node Buffer (binary values stay its views)', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        agree(Buffer.from(encoder.encode(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees on values and refusals under small limits', () => {
    fc.assert(
      fc.property(anyValue, limits, (value, { maxDepth, maxElements }) => {
        agree(encoder.encode(value), maxDepth, maxElements);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees on msgpack built token by token (lying lengths, foreign extensions, key types)', () => {
    fc.assert(
      fc.property(
        anyItem,
        fc.oneof(fc.constant([]), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 })),
        limits,
        (item, trailing, { maxDepth, maxElements }) => {
          agree(Uint8Array.from([...(item as number[]), ...trailing]), maxDepth, maxElements);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('agrees on truncated, mutated and extended encodings', () => {
    fc.assert(
      fc.property(
        anyValue,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.oneof(fc.constant(-1), fc.nat()),
        fc.uint8Array({ maxLength: 3 }),
        limits,
        (value, flips, cut, extra, { maxDepth, maxElements }) => {
          const encoded = encoder.encode(value);
          let bytes = new Uint8Array([...encoded, ...extra]);
          for (const [at, byte] of flips) if (bytes.length > 0) bytes[at % bytes.length] = byte;
          if (cut >= 0) bytes = bytes.subarray(0, cut % (bytes.length + 1));
          agree(bytes, maxDepth, maxElements);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('agrees on random bytes: a value or the same typed error, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), limits, (bytes, { maxDepth, maxElements }) => {
        agree(bytes, maxDepth, maxElements);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees on the wide headers (str 32, bin 32, array 32, map 32) and big containers', () => {
    const wide = (token: number, n: number, body: number[]) =>
      Uint8Array.from([token, ...bigEndian(n, 4), ...body]);
    agree(wide(0xdb, 3, [0x61, 0xc3, 0xa9]));
    agree(wide(0xc6, 2, [1, 2]));
    agree(wide(0xdd, 2, [0xc0, 0x01]));
    agree(wide(0xdf, 1, [0xa1, 0x6b, 0x07]));
    agree(wide(0xdd, 2, [0xc0]));
    agree(wide(0xdf, 0xffffffff, []));
    agree(encoder.encode(Array.from({ length: 70_000 }, (_, i) => i)));
    agree(encoder.encode(new Map(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))));
    agree(encoder.encode('é'.repeat(70_000)));
    agree(encoder.encode(new Uint8Array(70_000)));
    agree(encoder.encode(Array.from({ length: 70_000 }, (_, i) => i)), 64, 70_000);
  });

  it('agrees on deep nesting at and past the depth limit', () => {
    for (const depth of [1, 63, 64, 65, 500]) {
      const nested = new Uint8Array(depth + 1).fill(0x91);
      nested[depth] = 0xc0;
      agree(nested);
      nested[depth] = 0x90;
      agree(nested);
    }
  });

  it('under a huge depth limit, a message deeper than the stack is a ProtocolError', () => {
    const nested = new Uint8Array(400_001).fill(0x91);
    nested[400_000] = 0xc0;
    try {
      new WireDecoder(1_000_000).decode(nested);
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code).toBe('ERR_PROTOCOL');
    }
  });

  it('agrees on strings that are not well-formed UTF-8, and keeps a leading U+FEFF', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (body, bom) => {
        const text = bom ? Uint8Array.from([0xef, 0xbb, 0xbf, ...body]) : body;
        agree(Uint8Array.from([0xdb, ...bigEndian(text.length, 4), ...text]));
      }),
      { numRuns: 2000 },
    );
    const decoded = new WireDecoder(8).decode(
      Uint8Array.from([0xd9, 70, 0xef, 0xbb, 0xbf, ...new Array(67).fill(0x61)]),
    );
    expect((decoded as string).charCodeAt(0)).toBe(0xfeff);
  });

  it('refuses with ERR_LIMIT_EXCEEDED at the element limit and ERR_PROTOCOL otherwise', () => {
    const decoder = new WireDecoder(8, 10);
    expect(() => decoder.decode(Uint8Array.from([0x9a, ...new Array(10).fill(0)]))).toThrow(
      expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }),
    );
    expect(decoder.elements).toBe(4 + 10);
    expect(() => new WireDecoder(8, 100).decode(Uint8Array.from([0x81, 0x01, 0x02]))).toThrow(
      expect.objectContaining({
        code: 'ERR_PROTOCOL',
        message: 'malformed message: map key is not a string',
      }),
    );
    const other = new WireDecoder(8, 100);
    expect(() => other.decode(Uint8Array.of(0x91, 0xd9))).toThrow(/truncated length/);
    expect(other.elements).toBe(0);
  });

  it('a codec in reference mode decodes as the single-pass codec does', async () => {
    const { useReferenceDecoder } = await import('../src/codec.js');
    const codec = new Codec({ maxMessageBytes: 1 << 20, maxDepth: 16 });
    const bytes = encoder.encode([1, 'two', new Map([['k', new Uint8Array(3)]])]);
    const single = codec.decode(bytes);
    const singleSize = codec.decodedSize;
    useReferenceDecoder(true);
    try {
      expect(difference(codec.decode(bytes), single)).toBeUndefined();
      expect(codec.decodedSize).toBe(singleSize);
    } finally {
      useReferenceDecoder(false);
    }
  });
});
