/**
 * The signed hello payloads of handshake messages 2 and 3 (src/auth/wire.ts): they round
 * trip, the signed body is exactly the bytes before the signature, and any byte string
 * decodes to a hello or a HandshakeError, never anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTH_WIRE_VERSION,
  decodeClientHello,
  decodeServerHello,
  encodeClientHello,
  encodeClientHelloBody,
  encodeServerHello,
  encodeServerHelloBody,
} from '../src/auth/wire.js';
import { HandshakeError } from '../src/errors.js';

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const signature = fc.uint8Array({ minLength: 64, maxLength: 64 });
const name = fc.option(
  fc.string({ minLength: 1, maxLength: 60 }).filter((s) => s.length > 0),
  { nil: undefined },
);

describe('hello payloads', () => {
  it('the server hello round-trips; the signature covers exactly the body', () => {
    fc.assert(
      fc.property(key, name, signature, (hostKey, service, sig) => {
        const body = encodeServerHelloBody({ hostKey, service });
        const hello = decodeServerHello(encodeServerHello(body, sig));
        expect(hello.hostKey).toEqual(hostKey);
        expect(hello.service).toBe(service);
        expect(hello.signature).toEqual(sig);
        expect(hello.body).toEqual(body);
        expect(body[0]).toBe(AUTH_WIRE_VERSION);
      }),
      { numRuns: 200 },
    );
  });

  it('the client hello round-trips, with a signature exactly when it names a key', () => {
    fc.assert(
      fc.property(
        fc.option(key, { nil: undefined }),
        name,
        name,
        signature,
        (publicKey, user, service, sig) => {
          const body = encodeClientHelloBody({ publicKey, user, service });
          const bytes = encodeClientHello(body, publicKey ? sig : undefined);
          const hello = decodeClientHello(bytes);
          expect(hello).toEqual({
            publicKey,
            user,
            service,
            signature: publicKey ? sig : undefined,
            body,
          });
          expect(() => encodeClientHello(body, publicKey ? undefined : sig)).toThrow(RangeError);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a version-1 hello (no signature) is refused', () => {
    const v1 = new Uint8Array(33);
    v1[0] = 1;
    expect(() => decodeServerHello(v1)).toThrow(HandshakeError);
    expect(() => decodeClientHello(Uint8Array.of(1, 0, 0, 0))).toThrow(HandshakeError);
  });

  it('a truncated or extended hello is refused', () => {
    const body = encodeServerHelloBody({ hostKey: new Uint8Array(32), service: 'Calc' });
    const hello = encodeServerHello(body, new Uint8Array(64));
    expect(() => decodeServerHello(hello.subarray(0, hello.length - 1))).toThrow(HandshakeError);
    expect(() => decodeServerHello(Uint8Array.of(...hello, 0))).toThrow(HandshakeError);
  });

  it('any bytes decode to a hello or a HandshakeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, versioned) => {
        const input =
          versioned && bytes.length > 0 ? Uint8Array.of(AUTH_WIRE_VERSION, ...bytes) : bytes;
        for (const decode of [decodeServerHello, decodeClientHello]) {
          try {
            decode(input);
          } catch (error) {
            expect(error).toBeInstanceOf(HandshakeError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
