/** PROXY header parsing on any bytes: a header, "need more" or a typed error; never more. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProxyProtocolError } from '../src/errors.js';
import { PROXY_V1_MAX_BYTES, parseProxyHeader } from '../src/proxy-header.js';
import { proxyV1, proxyV2 } from './proxy-relay.js';

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const port = fc.integer({ min: 0, max: 65535 });
const endpoint = (ip: fc.Arbitrary<string>) => fc.record({ address: ip, port });

function outcome(bytes: Uint8Array, maxBytes: number) {
  try {
    return parseProxyHeader(bytes, maxBytes);
  } catch (error) {
    expect(error).toBeInstanceOf(ProxyProtocolError);
    return (error as ProxyProtocolError).code;
  }
}

// Near-valid input is far likelier to reach the deep branches than uniform noise.
const signatures = fc.constantFrom(
  Buffer.from('PROXY '),
  Buffer.from('PROXY TCP4 '),
  Buffer.from('PROXY UNKNOWN'),
  proxyV2({}).subarray(0, 12),
  proxyV2({}).subarray(0, 13),
  Buffer.alloc(0),
);
const noisy = fc
  .tuple(signatures, fc.uint8Array({ maxLength: 300 }))
  .map(([head, tail]) => Uint8Array.from([...head, ...tail]));

describe('PROXY header parser properties', () => {
  it('any bytes give a header, need-more or a typed error, within the bounds', () => {
    fc.assert(
      fc.property(
        fc.oneof(noisy, fc.uint8Array({ maxLength: 400 })),
        fc.integer({ min: 232, max: 2048 }),
        (bytes, maxBytes) => {
          const result = outcome(bytes, maxBytes);
          if (typeof result === 'string') return;
          if (!result.done) {
            // Waiting is allowed only while the bytes may still become a header in bounds.
            expect(bytes.length).toBeLessThan(Math.max(PROXY_V1_MAX_BYTES, maxBytes));
            return;
          }
          expect(result.consumed).toBeGreaterThan(0);
          expect(result.consumed).toBeLessThanOrEqual(
            result.header.version === 1 ? PROXY_V1_MAX_BYTES : maxBytes,
          );
          expect(result.consumed).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('every prefix of a valid header needs more; the whole one round-trips', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(endpoint(ipv4), endpoint(ipv4)),
          fc.tuple(endpoint(ipv6), endpoint(ipv6)),
        ),
        fc.boolean(),
        fc.uint8Array({ maxLength: 64 }),
        ([source, destination], v2, tlvs) => {
          const header = v2 ? proxyV2({ source, destination, tlvs }) : proxyV1(source, destination);
          const parse = parseProxyHeader(Buffer.concat([header, Buffer.from('tail')]));
          expect(parse.done).toBe(true);
          if (!parse.done) return;
          expect(parse.consumed).toBe(header.length);
          expect(parse.header.source?.port).toBe(source.port);
          expect(parse.header.destination?.port).toBe(destination.port);
          // Same address, whatever spelling the generator chose.
          const again = parseProxyHeader(
            proxyV2({
              source: parse.header.source!,
              destination: parse.header.destination!,
            }),
          );
          expect(again.done && again.header.source).toEqual(parse.header.source);
          for (const n of [1, 5, 12, 15, header.length - 1]) {
            if (n < header.length) expect(parseProxyHeader(header.subarray(0, n)).done).toBe(false);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
