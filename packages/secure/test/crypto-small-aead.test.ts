/**
 * The JS ChaCha20-Poly1305 of small messages (`SmallAead`, and `CipherState` which uses it
 * up to SMALL_MESSAGE_BYTES) against RFC 8439 §2.8.2 and Appendix A.5 and, byte for byte,
 * against `node:crypto` for any key, nonce, associated data and length; a flipped bit
 * anywhere fails the tag and writes nothing.
 */
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { type CryptoProvider, isBuiltInProvider } from '../src/crypto/provider.js';
import { openSmall, SmallAead, scratchSnapshot, sealSmall } from '../src/crypto/small-aead.js';
import { ChannelError, DecryptError } from '../src/errors.js';
import { CipherState, MAX_NONCE, SMALL_MESSAGE_BYTES } from '../src/noise/cipher-state.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

function nodeSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array) {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  return new Uint8Array(
    Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]),
  );
}

describe('SmallAead', () => {
  it('seals the RFC 8439 §2.8.2 example byte for byte', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const ad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const out = new Uint8Array(plaintext.length + 16);
    new SmallAead(key).seal(nonce, ad, plaintext, out, 0);
    expect(toHex(out)).toBe(
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
        '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
        '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
        '3ff4def08e4b7a9de576d26586cec64b6116' +
        '1ae10b594f09e26a7e902ecbd0600691',
    );
  });

  it('opens the RFC 8439 Appendix A.5 ciphertext', () => {
    const key = hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0');
    const nonce = hex('000000000102030405060708');
    const ad = hex('f33388860000000000004e91');
    const sealed = hex(
      `64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e
       382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd
       60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c76
       7b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a
       0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a67276
       27097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b
       eead9d67890cbb22392336fea1851f38`,
    );
    const out = new Uint8Array(sealed.length - 16);
    expect(new SmallAead(key).open(nonce, ad, sealed, out, 0)).toBe(true);
    expect(new TextDecoder().decode(out)).toMatch(/^Internet-Drafts are draft documents/);
  });

  it('gives the bytes of node:crypto for any key, nonce, associated data and length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 1300 }),
        fc.nat(7),
        (key, nonce, ad, plaintext, at) => {
          const expected = nodeSeal(key, nonce, ad, plaintext);
          const aead = new SmallAead(key);
          const out = new Uint8Array(at + plaintext.length + 16);
          aead.seal(nonce, ad, plaintext, out, at);
          expect(toHex(out.subarray(at))).toBe(toHex(expected));
          const back = new Uint8Array(plaintext.length);
          expect(aead.open(nonce, ad, expected, back, 0)).toBe(true);
          expect(toHex(back)).toBe(toHex(plaintext));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('seals in place, where the plaintext lies in the output', () => {
    const key = new Uint8Array(32).fill(9);
    const nonce = new Uint8Array(12).fill(1);
    const plaintext = new Uint8Array(200).map((_, i) => i);
    const expected = toHex(nodeSeal(key, nonce, new Uint8Array(0), plaintext));
    const buffer = new Uint8Array(2 + 200 + 16);
    buffer.set(plaintext, 2);
    new SmallAead(key).seal(nonce, new Uint8Array(0), buffer.subarray(2, 202), buffer, 2);
    expect(toHex(buffer.subarray(2))).toBe(expected);
    buffer.fill(0).set(plaintext, 2);
    new SmallAead(key).sealInPlace(nonce, new Uint8Array(0), buffer, 2, 200);
    expect(toHex(buffer.subarray(2))).toBe(expected);
    expect(() => new SmallAead(key).sealInPlace(nonce, new Uint8Array(0), buffer, 3, 200)).toThrow(
      RangeError,
    );
  });

  it('refuses a flipped bit anywhere and writes no plaintext', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.nat(7),
        (key, plaintext, where, bit) => {
          const nonce = new Uint8Array(12);
          const sealed = nodeSeal(key, nonce, new Uint8Array(0), plaintext);
          sealed[where % sealed.length]! ^= 1 << bit;
          const out = new Uint8Array(plaintext.length).fill(0xaa);
          expect(new SmallAead(key).open(nonce, new Uint8Array(0), sealed, out, 0)).toBe(false);
          expect(out.every((b) => b === 0xaa)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a short key, nonce, output or sealed message', () => {
    expect(() => new SmallAead(new Uint8Array(31))).toThrow(RangeError);
    const aead = new SmallAead(new Uint8Array(32));
    expect(() =>
      aead.seal(new Uint8Array(11), new Uint8Array(0), new Uint8Array(4), new Uint8Array(20), 0),
    ).toThrow(RangeError);
    expect(() =>
      aead.seal(new Uint8Array(12), new Uint8Array(0), new Uint8Array(4), new Uint8Array(19), 0),
    ).toThrow(RangeError);
    expect(() =>
      aead.open(new Uint8Array(12), new Uint8Array(0), new Uint8Array(15), new Uint8Array(0), 0),
    ).toThrow(RangeError);
  });
});

describe('CipherState across SMALL_MESSAGE_BYTES', () => {
  for (const provider of [nodeCryptoProvider, nobleCryptoProvider]) {
    it(`seals as the provider does on either side of the threshold (${provider.name})`, () => {
      const key = new Uint8Array(32).map((_, i) => i * 7);
      for (const length of [
        0,
        1,
        63,
        64,
        SMALL_MESSAGE_BYTES - 1,
        SMALL_MESSAGE_BYTES,
        SMALL_MESSAGE_BYTES + 1,
        3000,
      ]) {
        const plaintext = new Uint8Array(length).map((_, i) => i);
        const ad = new Uint8Array(length % 40).fill(3);
        const ours = new CipherState(provider, key);
        const theirs = new CipherState(provider, key);
        const parted = new CipherState(provider, key);
        const opener = new CipherState(provider, key);
        for (let n = 0; n < 3; n++) {
          const nonce = new Uint8Array(12);
          new DataView(nonce.buffer).setUint32(4, n, true);
          const expected = provider.seal(key, nonce, ad, plaintext);
          expect(toHex(ours.encryptWithAd(ad, plaintext))).toBe(toHex(expected));
          const out = new Uint8Array(3 + length + 16);
          out.set(plaintext, 3);
          theirs.encryptInPlaceWithAd(ad, out, 3, length);
          expect(toHex(out.subarray(3))).toBe(toHex(expected));
          const half = length >> 1;
          const parts = parted.encryptPartsWithAd(ad, [
            plaintext.subarray(0, half),
            plaintext.subarray(half),
          ]);
          expect(toHex(new Uint8Array(Buffer.concat(parts)))).toBe(toHex(expected));
          expect(toHex(opener.decryptWithAd(ad, expected))).toBe(toHex(plaintext));
        }
      }
    });
  }

  it('does not advance the nonce on a forged small frame', () => {
    const key = new Uint8Array(32).fill(5);
    const send = new CipherState(nodeCryptoProvider, key);
    const receive = new CipherState(nodeCryptoProvider, key);
    const sealed = send.encryptWithAd(new Uint8Array(0), Uint8Array.of(1, 2, 3));
    sealed[0]! ^= 1;
    expect(() => receive.decryptWithAd(new Uint8Array(0), sealed)).toThrow(DecryptError);
    expect(receive.nonce).toBe(0n);
    sealed[0]! ^= 1;
    expect(Array.from(receive.decryptWithAd(new Uint8Array(0), sealed))).toEqual([1, 2, 3]);
    expect(receive.nonce).toBe(1n);
  });
});

const EMPTY = new Uint8Array(0);
const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** Noise's 12-byte nonce of counter `n`. */
function nonceOf(n: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, n, true);
  return nonce;
}

/** A provider that is not keyway's own: it wraps `inner` and counts the AEAD calls. */
function counting(inner: CryptoProvider) {
  const calls = { seal: 0, sealParts: 0, open: 0, openParts: 0 };
  const outputs: Uint8Array[] = [];
  const provider: CryptoProvider = {
    ...inner,
    name: `counting-${inner.name}`,
    seal(key, nonce, ad, plaintext) {
      calls.seal++;
      const out = inner.seal(key, nonce, ad, plaintext);
      outputs.push(out);
      return out;
    },
    sealParts(key, nonce, ad, parts) {
      calls.sealParts++;
      return inner.sealParts(key, nonce, ad, parts);
    },
    open(key, nonce, ad, sealed) {
      calls.open++;
      return inner.open(key, nonce, ad, sealed);
    },
  };
  const openParts = inner.openParts;
  if (openParts !== undefined) {
    provider.openParts = (key, nonce, ad, sealed) => {
      calls.openParts++;
      return openParts(key, nonce, ad, sealed);
    };
  }
  return { provider, calls, outputs };
}

describe('SmallAead scratch', () => {
  it('is all zeros after a seal, an open and a failed open', () => {
    const key = new Uint8Array(32).fill(4);
    const nonce = new Uint8Array(12).fill(2);
    const ad = Uint8Array.of(1, 2, 3);
    const aead = new SmallAead(key);
    const plaintext = new Uint8Array(70).fill(0x5a);
    const sealed = new Uint8Array(plaintext.length + 16);
    aead.seal(nonce, ad, plaintext, sealed, 0);
    expect(scratchSnapshot().every(isZero)).toBe(true);
    const out = new Uint8Array(plaintext.length);
    expect(aead.open(nonce, ad, sealed, out, 0)).toBe(true);
    expect(scratchSnapshot().every(isZero)).toBe(true);
    // A forged message: the tag computed for it (the valid one) must not stay behind.
    sealed[3]! ^= 1;
    expect(aead.open(nonce, ad, sealed, out, 0)).toBe(false);
    expect(scratchSnapshot().every(isZero)).toBe(true);
    expect(aead.openToNew(nonce, ad, sealed)).toBeUndefined();
    expect(scratchSnapshot().every(isZero)).toBe(true);
    aead.sealToNew(nonce, ad, plaintext);
    expect(scratchSnapshot().every(isZero)).toBe(true);
  });
});

describe('SmallAead with overlapping views', () => {
  it('reads associated data lying in the output as given (RFC order), like node:crypto', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 300, maxLength: 300 }),
        fc.uint8Array({ maxLength: 120 }),
        fc.nat(100),
        fc.integer({ min: 1, max: 60 }),
        fc.nat(100),
        (key, initial, plaintext, adAt, adLength, outAt) => {
          const nonce = new Uint8Array(12).fill(7);
          const buffer = new Uint8Array(initial);
          const ad = buffer.subarray(adAt, adAt + adLength);
          const expected = nodeSeal(key, nonce, ad.slice(), plaintext);
          new SmallAead(key).seal(nonce, ad, plaintext, buffer, outAt);
          expect(toHex(buffer.subarray(outAt, outAt + expected.length))).toBe(toHex(expected));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('opens with associated data lying in the output', () => {
    const key = new Uint8Array(32).fill(3);
    const nonce = new Uint8Array(12);
    const buffer = new Uint8Array(100).map((_, i) => i);
    const ad = buffer.subarray(0, 30);
    const plaintext = new Uint8Array(40).fill(0x11);
    const sealed = nodeSeal(key, nonce, ad.slice(), plaintext);
    expect(new SmallAead(key).open(nonce, ad, sealed, buffer, 10)).toBe(true);
    expect(toHex(buffer.subarray(10, 50))).toBe(toHex(plaintext));
  });

  it('opens exactly in place', () => {
    const key = new Uint8Array(32).fill(8);
    const nonce = new Uint8Array(12).fill(1);
    const plaintext = new Uint8Array(150).map((_, i) => i * 3);
    const buffer = new Uint8Array(5 + 150 + 16);
    buffer.set(nodeSeal(key, nonce, EMPTY, plaintext), 5);
    const sealed = buffer.subarray(5);
    expect(new SmallAead(key).open(nonce, EMPTY, sealed, buffer, 5)).toBe(true);
    expect(toHex(buffer.subarray(5, 155))).toBe(toHex(plaintext));
  });

  it('refuses an output that overlaps the input other than exactly, with RangeError', () => {
    const key = new Uint8Array(32).fill(8);
    const nonce = new Uint8Array(12).fill(1);
    const aead = new SmallAead(key);
    for (const shift of [-20, -1, 1, 20]) {
      const buffer = new Uint8Array(400);
      buffer.set(nodeSeal(key, nonce, EMPTY, new Uint8Array(150).fill(9)), 100);
      const before = buffer.slice();
      const sealed = buffer.subarray(100, 100 + 166);
      expect(() => aead.open(nonce, EMPTY, sealed, buffer, 100 + shift)).toThrow(RangeError);
      // Through another view of the same memory too.
      const other = new Uint8Array(buffer.buffer, 50);
      expect(() => aead.open(nonce, EMPTY, sealed, other, 50 + shift)).toThrow(RangeError);
      const plaintext = buffer.subarray(100, 250);
      expect(() => aead.seal(nonce, EMPTY, plaintext, buffer, 100 + shift)).toThrow(RangeError);
      expect(toHex(buffer)).toBe(toHex(before));
    }
    // Adjacent but not overlapping is fine.
    const buffer = new Uint8Array(400);
    buffer.set(nodeSeal(key, nonce, EMPTY, new Uint8Array(150).fill(9)), 200);
    expect(aead.open(nonce, EMPTY, buffer.subarray(200, 366), buffer, 50)).toBe(true);
    expect(isZero(buffer.subarray(0, 50))).toBe(true);
    expect(buffer.subarray(50, 200).every((b) => b === 9)).toBe(true);
  });

  it('refuses offsets and lengths that are not non-negative integers, with RangeError', () => {
    const aead = new SmallAead(new Uint8Array(32));
    const nonce = new Uint8Array(12);
    const sealed = nodeSeal(new Uint8Array(32), nonce, EMPTY, new Uint8Array(4));
    for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      const out = new Uint8Array(64);
      expect(() => aead.seal(nonce, EMPTY, new Uint8Array(4), out, bad)).toThrow(RangeError);
      expect(() => aead.sealInPlace(nonce, EMPTY, out, bad, 4)).toThrow(RangeError);
      expect(() => aead.sealInPlace(nonce, EMPTY, out, 0, bad)).toThrow(RangeError);
      expect(() => aead.open(nonce, EMPTY, sealed, out, bad)).toThrow(RangeError);
      expect(isZero(out)).toBe(true);
      const state = new CipherState(nodeCryptoProvider, new Uint8Array(32));
      expect(() => state.encryptInPlaceWithAd(EMPTY, out, bad, 4)).toThrow(RangeError);
      expect(() => state.encryptInPlaceWithAd(EMPTY, out, 0, bad)).toThrow(RangeError);
      expect(state.nonce).toBe(0n);
    }
  });
});

describe('CipherState and the provider', () => {
  it('uses the JS path only with the two built-in providers', () => {
    expect(isBuiltInProvider(nodeCryptoProvider)).toBe(true);
    expect(isBuiltInProvider(nobleCryptoProvider)).toBe(true);
    expect(isBuiltInProvider({ ...nodeCryptoProvider })).toBe(false);
    expect(isBuiltInProvider(counting(nobleCryptoProvider).provider)).toBe(false);
  });

  for (const inner of [nodeCryptoProvider, nobleCryptoProvider]) {
    it(`calls a custom provider for every message, small ones included (${inner.name})`, () => {
      const { provider, calls } = counting(inner);
      const key = new Uint8Array(32).fill(6);
      const send = new CipherState(provider, key);
      const receive = new CipherState(provider, key);
      const reference = new CipherState(inner, key);
      const lengths = [0, 1, 50, SMALL_MESSAGE_BYTES, SMALL_MESSAGE_BYTES + 1];
      for (const length of lengths) {
        const plaintext = new Uint8Array(length).fill(length & 0xff);
        const expected = reference.encryptWithAd(EMPTY, plaintext);
        expect(toHex(send.encryptWithAd(EMPTY, plaintext))).toBe(toHex(expected));
        expect(toHex(receive.decryptWithAd(EMPTY, expected))).toBe(toHex(plaintext));
      }
      expect(calls.seal).toBe(lengths.length);
      expect(calls.open).toBe(lengths.length);
      const buffer = new Uint8Array(2 + 50 + 16);
      send.encryptInPlaceWithAd(EMPTY, buffer, 2, 50);
      expect(calls.sealParts).toBe(1);
      const parts = send.encryptPartsWithAd(EMPTY, [Uint8Array.of(1), Uint8Array.of(2)]);
      expect(calls.sealParts).toBe(2);
      receive.decryptPartsWithAd(EMPTY, [buffer.subarray(2)]);
      receive.decryptPartsWithAd(EMPTY, parts);
      // Without openParts (noble), the joined pieces go to open.
      if (inner.openParts === undefined) expect(calls.open).toBe(lengths.length + 2);
      else expect(calls.openParts).toBe(2);
    });
  }

  it('wipes the provider output that holds the new key on rekey', () => {
    const { provider, outputs } = counting(nodeCryptoProvider);
    const key = new Uint8Array(32).fill(1);
    const state = new CipherState(provider, key);
    const reference = new CipherState(nodeCryptoProvider, key);
    state.rekey();
    reference.rekey();
    expect(outputs.length).toBe(1);
    expect(outputs[0]!.length).toBe(48);
    expect(isZero(outputs[0]!)).toBe(true);
    // The key itself was taken before the wipe.
    const plaintext = Uint8Array.of(1, 2, 3);
    expect(toHex(state.encryptWithAd(EMPTY, plaintext))).toBe(
      toHex(reference.encryptWithAd(EMPTY, plaintext)),
    );
  });
});

describe('CipherState at large nonces and across rekeys', () => {
  const lengths = [0, 50, SMALL_MESSAGE_BYTES, SMALL_MESSAGE_BYTES + 1, 3000];

  for (const inner of [nodeCryptoProvider, nobleCryptoProvider]) {
    it(`seals and opens at counters 2^32-1, 2^32 and 2^64-2 as the provider does (${inner.name})`, () => {
      const key = new Uint8Array(32).map((_, i) => 255 - i);
      const ad = Uint8Array.of(9, 9);
      for (const start of [0xffff_ffffn, 0x1_0000_0000n, MAX_NONCE - 1n]) {
        for (const length of lengths) {
          const plaintext = new Uint8Array(length).map((_, i) => i ^ length);
          const js = new CipherState(inner, key);
          const viaProvider = new CipherState(counting(inner).provider, key);
          const opener = new CipherState(inner, key);
          const inPlace = new CipherState(inner, key);
          for (const state of [js, viaProvider, opener, inPlace]) state.setNonce(start);
          const expected = inner.seal(key, nonceOf(start), ad, plaintext);
          expect(toHex(js.encryptWithAd(ad, plaintext))).toBe(toHex(expected));
          expect(toHex(viaProvider.encryptWithAd(ad, plaintext))).toBe(toHex(expected));
          const buffer = new Uint8Array(length + 16);
          buffer.set(plaintext);
          inPlace.encryptInPlaceWithAd(ad, buffer, 0, length);
          expect(toHex(buffer)).toBe(toHex(expected));
          expect(toHex(opener.decryptWithAd(ad, expected))).toBe(toHex(plaintext));
          for (const state of [js, viaProvider, opener, inPlace])
            expect(state.nonce).toBe(start + 1n);
          if (start === MAX_NONCE - 1n) {
            // 2^64-1 is Rekey()'s: no message may use it.
            expect(() => js.encryptWithAd(ad, plaintext)).toThrow(ChannelError);
            expect(() => viaProvider.encryptWithAd(ad, plaintext)).toThrow(ChannelError);
            expect(() => opener.decryptWithAd(ad, expected)).toThrow(ChannelError);
          } else {
            const next = inner.seal(key, nonceOf(start + 1n), ad, plaintext);
            expect(toHex(js.encryptWithAd(ad, plaintext))).toBe(toHex(next));
            expect(toHex(viaProvider.encryptWithAd(ad, plaintext))).toBe(toHex(next));
            expect(toHex(opener.decryptWithAd(ad, next))).toBe(toHex(plaintext));
          }
        }
      }
    });

    it(`round-trips across rekeys on both paths, either side of 1 KiB (${inner.name})`, () => {
      const key = new Uint8Array(32).fill(0x42);
      const js = new CipherState(inner, key);
      const viaProvider = new CipherState(counting(inner).provider, key);
      const jsOpener = new CipherState(inner, key);
      const providerOpener = new CipherState(counting(inner).provider, key);
      const states = [js, viaProvider, jsOpener, providerOpener];
      let expectedKey: Uint8Array = new Uint8Array(key);
      let counter = 0n;
      for (let round = 0; round < 4; round++) {
        for (const length of lengths) {
          const plaintext = new Uint8Array(length).fill(round * 16 + (length & 15));
          const expected = inner.seal(expectedKey, nonceOf(counter), EMPTY, plaintext);
          const fromJs = js.encryptWithAd(EMPTY, plaintext);
          const fromProvider = viaProvider.encryptWithAd(EMPTY, plaintext);
          expect(toHex(fromJs)).toBe(toHex(expected));
          expect(toHex(fromProvider)).toBe(toHex(expected));
          expect(toHex(providerOpener.decryptWithAd(EMPTY, fromJs))).toBe(toHex(plaintext));
          expect(toHex(jsOpener.decryptWithAd(EMPTY, fromProvider))).toBe(toHex(plaintext));
          counter++;
        }
        for (const state of states) state.rekey();
        expectedKey = inner.seal(expectedKey, nonceOf(MAX_NONCE), EMPTY, new Uint8Array(32));
        expectedKey = expectedKey.slice(0, 32);
        for (const state of states) expect(state.nonce).toBe(counter);
      }
    });
  }
});

describe('CipherState with its key moved into a shared store', () => {
  const lengths = [0, 50, SMALL_MESSAGE_BYTES, SMALL_MESSAGE_BYTES + 1, 3000];

  for (const inner of [nodeCryptoProvider, nobleCryptoProvider]) {
    it(`seals, opens and rekeys as a state with its own key, in place, on both paths (${inner.name})`, () => {
      const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
      const viaProvider = counting(inner).provider;
      // Two states per path: one keeps its own copy, the other's key moves into a store
      // between other bytes (as a channel keeps both keys and its handshake values).
      const own = [new CipherState(inner, key), new CipherState(viaProvider, key)];
      const moved = [new CipherState(inner, key), new CipherState(viaProvider, key)];
      const opener = new CipherState(inner, key);
      const store = new Uint8Array(128).fill(0xee);
      moved[0]!.moveKeyTo(store, 32);
      moved[1]!.moveKeyTo(store, 64);
      expect(toHex(store.subarray(32, 64))).toBe(toHex(key));
      expect(toHex(store.subarray(64, 96))).toBe(toHex(key));
      for (let round = 0; round < 3; round++) {
        for (const length of lengths) {
          const plaintext = new Uint8Array(length).map((_, i) => i ^ round);
          const expected = own[0]!.encryptWithAd(EMPTY, plaintext);
          expect(toHex(own[1]!.encryptWithAd(EMPTY, plaintext))).toBe(toHex(expected));
          for (const state of moved) {
            const buffer = new Uint8Array(length + 16);
            buffer.set(plaintext);
            state.encryptInPlaceWithAd(EMPTY, buffer, 0, length);
            expect(toHex(buffer)).toBe(toHex(expected));
          }
          expect(toHex(opener.decryptWithAd(EMPTY, expected))).toBe(toHex(plaintext));
        }
        for (const state of [...own, ...moved, opener]) state.rekey();
        // The new key overwrote the old where it lies; the bytes around it are untouched.
        expect(toHex(store.subarray(32, 64))).toBe(toHex(store.subarray(64, 96)));
        expect(toHex(store.subarray(32, 64))).not.toBe(toHex(key));
      }
      expect(store.subarray(0, 32).every((b) => b === 0xee)).toBe(true);
      expect(store.subarray(96).every((b) => b === 0xee)).toBe(true);
      // destroy() zeroes the key where it lies, and only there.
      moved[0]!.destroy();
      expect(moved[0]!.hasKey()).toBe(false);
      expect(store.subarray(32, 64).every((b) => b === 0)).toBe(true);
      expect(store.subarray(64, 96).some((b) => b !== 0)).toBe(true);
      expect(() => moved[0]!.encryptWithAd(EMPTY, Uint8Array.of(1))).not.toThrow();
      expect(moved[0]!.encryptWithAd(EMPTY, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
    });
  }

  it('wipes the key where it was, and refuses a state with no key or a store without room', () => {
    const key = new Uint8Array(32).fill(9);
    const state = new CipherState(nodeCryptoProvider, key);
    const first = new Uint8Array(64);
    state.moveKeyTo(first, 0);
    const second = new Uint8Array(64);
    state.moveKeyTo(second, 32);
    expect(first.every((b) => b === 0)).toBe(true);
    expect(toHex(second.subarray(32))).toBe(toHex(key));
    // The caller's key was copied at construction, never used in place.
    expect(key.every((b) => b === 9)).toBe(true);
    expect(() => state.moveKeyTo(new Uint8Array(63), 32)).toThrow(RangeError);
    expect(() => state.moveKeyTo(new Uint8Array(64), -1)).toThrow(RangeError);
    expect(() => state.moveKeyTo(new Uint8Array(64), 0.5)).toThrow(RangeError);
    expect(() => new CipherState(nodeCryptoProvider).moveKeyTo(new Uint8Array(32), 0)).toThrow(
      ChannelError,
    );
    // A later InitializeKey wipes the shared bytes and takes a copy of its own again.
    state.initializeKey(new Uint8Array(32).fill(3));
    expect(second.every((b) => b === 0)).toBe(true);
  });

  it('keeps its key when moved to where it already is, and refuses an overlapping place', () => {
    const key = new Uint8Array(32).map((_, i) => i + 1);
    const reference = new CipherState(nodeCryptoProvider, key);
    const state = new CipherState(nodeCryptoProvider, key);
    const store = new Uint8Array(96);
    state.moveKeyTo(store, 16);
    state.moveKeyTo(store, 16);
    state.moveKeyTo(store.subarray(16), 0);
    expect(toHex(store.subarray(16, 48))).toBe(toHex(key));
    for (const at of [0, 1, 31, 47]) {
      expect(() => state.moveKeyTo(store, at)).toThrow(RangeError);
      expect(toHex(store.subarray(16, 48))).toBe(toHex(key));
    }
    // Just past it is fine, and the old place is wiped.
    state.moveKeyTo(store, 48);
    expect(store.subarray(0, 48).every((b) => b === 0)).toBe(true);
    const message = Uint8Array.of(1, 2, 3);
    expect(toHex(state.encryptWithAd(EMPTY, message))).toBe(
      toHex(reference.encryptWithAd(EMPTY, message)),
    );
  });

  it('takes a new key read from where its old key lies before wiping it', () => {
    const key = new Uint8Array(32).fill(7);
    const state = new CipherState(nodeCryptoProvider, key);
    const store = new Uint8Array(32);
    state.moveKeyTo(store, 0);
    state.initializeKey(store);
    const reference = new CipherState(nodeCryptoProvider, key);
    expect(toHex(state.encryptWithAd(EMPTY, Uint8Array.of(9)))).toBe(
      toHex(reference.encryptWithAd(EMPTY, Uint8Array.of(9))),
    );
  });

  it('sealSmall and openSmall meet RFC 8439 with the key anywhere in a buffer, and only there', () => {
    // RFC 8439 §2.8.2.
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = fromHex('070000004041424344454647');
    const ad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const tag = '1ae10b594f09e26a7e902ecbd0600691';
    for (const keyAt of [0, 5, 32, 61]) {
      const holder = new Uint8Array(keyAt + 32 + 3).fill(0xaa);
      holder.set(key, keyAt);
      const out = new Uint8Array(plaintext.length + 16);
      sealSmall(holder, keyAt, nonce, ad, plaintext, 0, plaintext.length, out, 0);
      expect(toHex(out.subarray(plaintext.length))).toBe(tag);
      const opened = new Uint8Array(plaintext.length);
      expect(openSmall(holder, keyAt, nonce, ad, out, plaintext.length, opened, 0)).toBe(true);
      expect(toHex(opened)).toBe(toHex(plaintext));
      // A key cut off by the end of the buffer, or before its start, is refused.
      const short = holder.subarray(0, keyAt + 31);
      expect(() => sealSmall(short, keyAt, nonce, ad, plaintext, 0, 1, out, 0)).toThrow(RangeError);
      expect(() => openSmall(holder, -1, nonce, ad, out, 1, opened, 0)).toThrow(RangeError);
    }
  });
});

describe('a channel whose options are refused', () => {
  it('wipes both cipher keys before it throws', async () => {
    const { SecureChannel } = await import('../src/channel/secure-channel.js');
    const { FrameReader } = await import('../src/channel/frame-reader.js');
    const { PassThrough } = await import('node:stream');
    for (const options of [
      { maxBufferedBytes: 0 },
      { closeGraceMs: -1 },
      { rekey: { afterFrames: 0 } },
    ]) {
      const send = new CipherState(nodeCryptoProvider, new Uint8Array(32).fill(1));
      const receive = new CipherState(nodeCryptoProvider, new Uint8Array(32).fill(2));
      expect(
        () =>
          new SecureChannel({
            stream: new PassThrough(),
            send,
            receive,
            handshakeHash: new Uint8Array(32),
            remoteStatic: new Uint8Array(32),
            reader: new FrameReader(16 * 1024),
            options,
          }),
      ).toThrow(RangeError);
      expect([send.hasKey(), receive.hasKey()]).toEqual([false, false]);
    }
  });
});
