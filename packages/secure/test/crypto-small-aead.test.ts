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
import { SmallAead } from '../src/crypto/small-aead.js';
import { DecryptError } from '../src/errors.js';
import { CipherState, SMALL_MESSAGE_BYTES } from '../src/noise/cipher-state.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

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
