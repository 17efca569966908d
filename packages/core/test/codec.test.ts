import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Codec } from '../src/codec.js';
import { KeywayError, MessageTooLargeError, ProtocolError } from '../src/errors.js';
import { scanMessage } from '../src/wire-scan.js';

const codec = () => new Codec({ maxMessageBytes: 1 << 20, maxDepth: 16 });
// An unrestricted encoder, standing in for a hostile or buggy peer.
const raw = new Packr({ useRecords: false, useBigIntExtension: true, moreTypes: true });

describe('codec', () => {
  it('any byte string decodes to a value or a typed ProtocolError, never a crash', () => {
    const c = codec();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          c.decode(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid messages decode to a value or a typed error', () => {
    const c = codec();
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (value, flips) => {
          const bytes = new Uint8Array(raw.pack(value));
          for (const [at, byte] of flips) if (bytes.length > 0) bytes[at % bytes.length] = byte;
          try {
            c.decode(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(KeywayError);
          }
        },
      ),
      { numRuns: 800 },
    );
  });

  it('round-trips JSON values exactly (fixints in 0x40-0x7f are numbers, not records)', () => {
    const c = codec();
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const out = c.decode(c.encode(value));
        // JSON text compares -0 and 0 alike: msgpack has one integer zero.
        expect(JSON.stringify(toPlain(out))).toBe(JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
    expect(c.decode(Uint8Array.of(0x41))).toBe(0x41);
  });

  it('keeps a __proto__ key as data and never touches a prototype', () => {
    const c = codec();
    const bytes = raw.pack(new Map([['__proto__', new Map([['polluted', true]])]]));
    const decoded = c.decode(bytes) as Map<string, unknown>;
    expect(decoded).toBeInstanceOf(Map);
    expect(decoded.get('__proto__')).toBeInstanceOf(Map);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects nesting deeper than the limit without recursing into it', () => {
    const c = codec();
    let deep: unknown = 1;
    for (let i = 0; i < 17; i++) deep = [deep];
    expect(() => c.decode(raw.pack(deep))).toThrow(/nesting deeper than 16/);
    // 100 000 levels in 100 000 bytes: rejected by the scan, no stack overflow.
    const bytes = new Uint8Array(100_001).fill(0x91);
    bytes[100_000] = 0;
    expect(() => c.decode(bytes)).toThrow(ProtocolError);
  });

  it('rejects lying container lengths before any allocation', () => {
    expect(scanMessage(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), 8)).toMatch(/exceeds/);
    expect(scanMessage(Uint8Array.of(0xdf, 0x7f, 0xff, 0xff, 0xff), 8)).toMatch(/exceeds/);
  });

  it('refuses extensions other than undefined, timestamp and bigint', () => {
    const c = codec();
    expect(() => c.decode(raw.pack(new Set([1])))).toThrow(/extension type/);
    expect(() => c.decode(raw.pack(/x/))).toThrow(/extension type/);
    expect(() => c.decode(raw.pack(new Error('x')))).toThrow(/extension type/);
    expect(() => c.decode(Uint8Array.of(0xd4, 0x72, 0x00))).toThrow(/extension type/);
    expect(c.decode(c.encode([undefined, 2n ** 80n, new Date(5)]))).toEqual([
      undefined,
      2n ** 80n,
      new Date(5),
    ]);
  });

  it('regression: an invalid Date (a 1-byte timestamp) and extreme dates round-trip', () => {
    const c = codec();
    const invalid = c.decode(c.encode(new Date(Number.NaN))) as Date;
    expect(Number.isNaN(invalid.getTime())).toBe(true);
    for (const ms of [-8_640_000_000_000_000, 8_640_000_000_000_000, -1, 2 ** 34 * 1000])
      expect((c.decode(c.encode(new Date(ms))) as Date).getTime()).toBe(ms);
  });

  it('refuses map keys that are not strings, trailing bytes and 0xc1', () => {
    const c = codec();
    expect(() => c.decode(raw.pack(new Map([[1, 2]])))).toThrow(/map key/);
    expect(() => c.decode(Uint8Array.of(0x01, 0x02))).toThrow(/trailing/);
    expect(() => c.decode(Uint8Array.of(0xc1))).toThrow(/0xc1/);
  });

  it('enforces the message size limit in both directions with a typed error', () => {
    const c = new Codec({ maxMessageBytes: 100, maxDepth: 8 });
    expect(() => c.encode('x'.repeat(200))).toThrow(MessageTooLargeError);
    expect(() => c.decode(new Uint8Array(101))).toThrow(MessageTooLargeError);
  });

  it('uses its own configuration: the record extension of another Packr is refused', () => {
    const records = new Packr({ useRecords: true });
    const bytes = records.pack([{ a: 1 }, { a: 2 }]);
    expect(() => codec().decode(bytes)).toThrow(ProtocolError);
  });
});

function toPlain(value: unknown): unknown {
  if (value instanceof Map) {
    // Null prototype: a "__proto__" key must stay a key here too.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of value) out[k as string] = toPlain(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(toPlain);
  return value;
}
