/**
 * The element limit: what a message costs to decode is bounded before the decoder
 * allocates, not only its bytes. A 16 MiB message of nils inside one array used to decode into a
 * 16-million-slot array (about 130 MiB of heap, more than half a second of blocked event
 * loop); the decoder (and the reference scan) now refuses it after reading its five-byte
 * header.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Codec, DEFAULT_MAX_ELEMENTS } from '../src/codec.js';
import { connectTransport } from '../src/connection.js';
import { ProtocolError } from '../src/errors.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import type { Remote } from '../src/remote.js';
import { Service } from '../src/service.js';
import { ELEMENT_COST, ScanScratch, scanMessage } from '../src/wire-scan.js';
import { connectionPair } from './helpers.js';

class Echo extends Service {
  echo(value: unknown) {
    return value;
  }
}

const raw = new Packr({ useRecords: false, useBigIntExtension: true });

/** One msgpack array32 of `count` copies of the one-byte value `item`. */
function flatArray(count: number, item: number): Uint8Array {
  const bytes = new Uint8Array(5 + count).fill(item);
  bytes[0] = 0xdd;
  new DataView(bytes.buffer).setUint32(1, count);
  return bytes;
}

function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The cost of a value as the codec encodes it, computed from the value, not the bytes. */
function cost(value: unknown): number {
  if (value instanceof Uint8Array || value instanceof Date) return ELEMENT_COST.object;
  // int64 and uint64 are plain msgpack integers; larger ones travel as an extension.
  if (typeof value === 'bigint')
    return value >= -(2n ** 63n) && value < 2n ** 64n ? ELEMENT_COST.scalar : ELEMENT_COST.object;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + cost(v), ELEMENT_COST.array);
  if (value instanceof Map) {
    let n = ELEMENT_COST.map;
    for (const v of value.values()) n += ELEMENT_COST.scalar + cost(v);
    return n;
  }
  if (typeof value === 'object' && value !== null)
    return Object.values(value).reduce((n: number, v) => n + 1 + cost(v), ELEMENT_COST.map);
  return ELEMENT_COST.scalar;
}

const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, undefined),
    fc.double(),
    fc.integer(),
    fc.string({ maxLength: 8 }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.uint8Array({ maxLength: 8 }),
    fc.date(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('maxElements: decode cost bounded per message', () => {
  it('regression: a 16 MiB message of nils in one array is refused quickly, without growing the heap', () => {
    const gc = collectGarbage();
    const codec = new Codec({ maxMessageBytes: 16 * 1024 * 1024, maxDepth: 64 });
    const bomb = flatArray(16 * 1024 * 1024 - 5, 0xc0);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    let decoded: unknown;
    let error: unknown;
    try {
      decoded = codec.decode(bomb);
    } catch (e) {
      error = e;
    }
    const elapsed = performance.now() - started;
    const grown = process.memoryUsage().heapUsed - heapBefore;
    console.log(
      `16 MiB of nils: refused in ${elapsed.toFixed(2)} ms, heap +${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(decoded).toBeUndefined();
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_LIMIT_EXCEEDED');
    expect((error as Error).message).toMatch(/more than 1048576 element units/);
    // Generous for a loaded machine: the refusal reads 5 bytes; decoding took ~600 ms.
    expect(elapsed).toBeLessThan(100);
    expect(grown).toBeLessThan(16 * 2 ** 20);
  });

  it('the connection that sent it closes with ProtocolError; another keeps working', async () => {
    const bystander = await connectionPair('memory', { service: Echo });
    const [a, b] = memoryTransportPair();
    b.start({ onMessage: () => {}, onClose: () => {} });
    b.send(raw.pack([0, 'keyway-rpc', 1]));
    const victim = await connectTransport(a, { service: Echo });
    b.send(flatArray(16 * 1024 * 1024 - 5, 0xc0));
    const reason = await victim.closed;
    expect(reason).toBeInstanceOf(ProtocolError);
    expect((reason as ProtocolError).code).toBe('ERR_LIMIT_EXCEEDED');
    expect(await (bystander.client.root as Remote<Echo>).echo('still here')).toBe('still here');
    await bystander.client.close();
  });

  it('refuses a message whose elements are hidden in many small containers', () => {
    // 16-item fixarrays of nils: one element per byte, no container announces a lot.
    const groups = 70_000;
    const bytes = new Uint8Array(5 + groups * 16);
    bytes[0] = 0xdd;
    new DataView(bytes.buffer).setUint32(1, groups);
    for (let i = 0; i < groups; i++) {
      bytes[5 + i * 16] = 0x9f;
      bytes.fill(0xc0, 6 + i * 16, 5 + (i + 1) * 16);
    }
    const codec = new Codec({ maxMessageBytes: 16 * 1024 * 1024, maxDepth: 64 });
    expect(() => codec.decode(bytes)).toThrow(/element units/);
    // The same message passes a limit it fits in: the count is exact, not a guess.
    const fitting = new Codec({
      maxMessageBytes: 16 * 1024 * 1024,
      maxDepth: 64,
      maxElements: 4 + groups * 19,
    });
    expect((fitting.decode(bytes) as unknown[]).length).toBe(groups);
  });

  it('maps cost more than nils: 65,536 empty maps fit the default, one more does not', () => {
    const codec = new Codec({ maxMessageBytes: 16 * 1024 * 1024, maxDepth: 64 });
    // The top-level array itself costs 4.
    const fits = (DEFAULT_MAX_ELEMENTS - ELEMENT_COST.array) / ELEMENT_COST.map;
    expect(() => codec.decode(flatArray(Math.floor(fits), 0x80))).not.toThrow();
    expect(() => codec.decode(flatArray(Math.floor(fits) + 1, 0x80))).toThrow(/element units/);
  });

  it('a Uint8Array or typed array travels as one binary element, whatever its length', async () => {
    const { client } = await connectionPair('memory', { service: Echo, maxElements: 64 });
    const echo = client.root as Remote<Echo>;
    const bytes = new Uint8Array(4 * 1024 * 1024).fill(7);
    expect(((await echo.echo(bytes)) as Uint8Array).length).toBe(bytes.length);
    const floats = new Float64Array(500_000).fill(1.5);
    expect(((await echo.echo(floats)) as Float64Array).length).toBe(floats.length);
    await client.close();
  });

  it('ordinary messages are untouched by the default: 10,000 records of 10 fields', async () => {
    const { client } = await connectionPair('memory', { service: Echo });
    const records = Array.from({ length: 10_000 }, (_, i) => ({
      id: i,
      name: `n${i}`,
      a: 1,
      b: 2,
      c: 3,
      d: 4,
      e: 5,
      f: 6,
      g: 7,
      h: true,
    }));
    expect(((await (client.root as Remote<Echo>).echo(records)) as unknown[]).length).toBe(10_000);
    await client.close();
  });

  it('checks the option: maxElements must be a number >= 1', async () => {
    const [a] = memoryTransportPair();
    await expect(connectTransport(a, { maxElements: 0 })).rejects.toThrow(RangeError);
  });

  it('property: the scan counts exactly the cost of any value, and refuses one unit less', () => {
    const codec = new Codec({ maxMessageBytes: 1 << 20, maxDepth: 64 });
    fc.assert(
      fc.property(wireValue, (value) => {
        const bytes = codec.encode(value);
        const expected = cost(value);
        const scratch = new ScanScratch(64, expected);
        expect(scanMessage(bytes, scratch)).toBeUndefined();
        expect(scratch.elements).toBe(expected);
        const tight = new ScanScratch(64, expected - 1);
        expect(scanMessage(bytes, tight)).toMatch(/element units/);
      }),
      { numRuns: 500 },
    );
  });

  it('property: any bytes under a small element limit give a value or a typed error', () => {
    const codec = new Codec({ maxMessageBytes: 1 << 16, maxDepth: 8, maxElements: 32 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          codec.decode(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
