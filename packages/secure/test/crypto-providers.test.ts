/**
 * The two crypto providers against published vectors (RFC 8439 §2.8.2 and Appendix A.5,
 * RFC 7748 §5.2 and §6.1, RFC 8032 §7.1, FIPS 180-2 "abc", RFC 4231 case 2) and against
 * each other.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { DecryptError, HandshakeError } from '../src/errors.js';
import { scalarOfSeed, TORSION_POINTS } from './ed25519-aliases.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

const PROVIDERS: readonly CryptoProvider[] = [nodeCryptoProvider, nobleCryptoProvider];

// RFC 8439 §2.8.2: the "sunscreen" AEAD example.
const AEAD_282 = {
  key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: hex('070000004041424344454647'),
  ad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ciphertext: hex(
    `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
     3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
     92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
     3ff4def08e4b7a9de576d26586cec64b6116`,
  ),
  tag: hex('1ae10b594f09e26a7e902ecbd0600691'),
};

// RFC 8439 Appendix A.5: AEAD decryption.
const AEAD_A5 = {
  key: hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0'),
  nonce: hex('000000000102030405060708'),
  ad: hex('f33388860000000000004e91'),
  ciphertext: hex(
    `64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e
     382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd
     60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c76
     7b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a
     0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a67276
     27097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b`,
  ),
  tag: hex('eead9d67890cbb22392336fea1851f38'),
  plaintext: hex(
    `496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f
     722061206d6178696d756d206f6620736978206d6f6e74687320616e64206d617920626520757064617465642c
     207265706c616365642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320617420
     616e792074696d652e20497420697320696e617070726f70726961746520746f2075736520496e7465726e65742d
     447261667473206173207265666572656e6365206d6174657269616c206f7220746f2063697465207468656d206f
     74686572207468616e206173202fe2809c776f726b20696e2070726f67726573732e2fe2809d`,
  ),
};

// RFC 7748 §6.1: Alice and Bob.
const X25519_61 = {
  aliceSecret: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  alicePublic: hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
  bobSecret: hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
  bobPublic: hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
  shared: hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'),
};

// RFC 7748 §5.2: the first single-scalar-multiplication vector.
const X25519_52 = {
  scalar: hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
  u: hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
  out: hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'),
};

describe.each(PROVIDERS)('crypto provider $name', (p) => {
  it('seals the RFC 8439 §2.8.2 example byte for byte', () => {
    const sealed = p.seal(AEAD_282.key, AEAD_282.nonce, AEAD_282.ad, AEAD_282.plaintext);
    expect(toHex(sealed)).toBe(toHex(concat([AEAD_282.ciphertext, AEAD_282.tag])));
  });

  it('seals in parts to the same bytes as in one piece', () => {
    const pt = AEAD_282.plaintext;
    const chunks = p.sealParts(AEAD_282.key, AEAD_282.nonce, AEAD_282.ad, [
      pt.subarray(0, 1),
      pt.subarray(1, 70),
      pt.subarray(70),
    ]);
    expect(toHex(concat(chunks))).toBe(toHex(concat([AEAD_282.ciphertext, AEAD_282.tag])));
  });

  it('opens the RFC 8439 Appendix A.5 ciphertext', () => {
    const sealed = concat([AEAD_A5.ciphertext, AEAD_A5.tag]);
    expect(toHex(p.open(AEAD_A5.key, AEAD_A5.nonce, AEAD_A5.ad, sealed))).toBe(
      toHex(AEAD_A5.plaintext),
    );
  });

  it('refuses a flipped bit in ciphertext, tag or associated data with DecryptError', () => {
    const sealed = concat([AEAD_A5.ciphertext, AEAD_A5.tag]);
    for (const index of [0, AEAD_A5.ciphertext.length - 1, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[index]! ^= 1;
      expect(() => p.open(AEAD_A5.key, AEAD_A5.nonce, AEAD_A5.ad, bad)).toThrow(DecryptError);
    }
    const badAd = AEAD_A5.ad.slice();
    badAd[0]! ^= 0x80;
    expect(() => p.open(AEAD_A5.key, AEAD_A5.nonce, badAd, sealed)).toThrow(DecryptError);
    expect(() => p.open(AEAD_A5.key, AEAD_A5.nonce, AEAD_A5.ad, sealed.subarray(0, 15))).toThrow(
      DecryptError,
    );
  });

  it('rejects wrong key and nonce sizes with RangeError', () => {
    expect(() =>
      p.seal(new Uint8Array(31), new Uint8Array(12), new Uint8Array(0), AEAD_282.plaintext),
    ).toThrow(RangeError);
    expect(() =>
      p.seal(new Uint8Array(32), new Uint8Array(8), new Uint8Array(0), AEAD_282.plaintext),
    ).toThrow(RangeError);
  });

  it('computes the RFC 7748 §6.1 key pairs and shared secret', () => {
    expect(toHex(p.publicKeyOf(X25519_61.aliceSecret))).toBe(toHex(X25519_61.alicePublic));
    expect(toHex(p.publicKeyOf(X25519_61.bobSecret))).toBe(toHex(X25519_61.bobPublic));
    expect(toHex(p.dh(X25519_61.aliceSecret, X25519_61.bobPublic))).toBe(toHex(X25519_61.shared));
    expect(toHex(p.dh(X25519_61.bobSecret, X25519_61.alicePublic))).toBe(toHex(X25519_61.shared));
  });

  it('keeps computing the RFC 7748 vectors with public keys it has seen before, and with keys at the same array rewritten', () => {
    for (let round = 0; round < 3; round++) {
      expect(toHex(p.dh(X25519_61.aliceSecret, X25519_61.bobPublic))).toBe(toHex(X25519_61.shared));
      expect(toHex(p.dh(X25519_52.scalar, X25519_52.u))).toBe(toHex(X25519_52.out));
    }
    // A public key array rewritten in place is looked up by its new bytes.
    const peer = X25519_61.bobPublic.slice();
    expect(toHex(p.dh(X25519_61.aliceSecret, peer))).toBe(toHex(X25519_61.shared));
    peer.set(X25519_52.u);
    expect(toHex(p.dh(X25519_52.scalar, peer))).toBe(toHex(X25519_52.out));
    // More peers than any cache holds: the oldest still compute right when they return.
    for (let i = 0; i < 300; i++) p.dh(X25519_61.aliceSecret, p.generateKeyPair().publicKey);
    expect(toHex(p.dh(X25519_61.bobSecret, X25519_61.alicePublic))).toBe(toHex(X25519_61.shared));
  });

  it('computes the RFC 7748 §5.2 scalar multiplication', () => {
    expect(toHex(p.dh(X25519_52.scalar, X25519_52.u))).toBe(toHex(X25519_52.out));
  });

  it('refuses a low-order public key (all-zero shared secret) with HandshakeError', () => {
    expect(() => p.dh(X25519_61.aliceSecret, new Uint8Array(32))).toThrow(HandshakeError);
  });

  it('generates key pairs whose public half matches the secret', () => {
    const kp = p.generateKeyPair();
    expect(kp.secretKey.length).toBe(32);
    expect(toHex(p.publicKeyOf(kp.secretKey))).toBe(toHex(kp.publicKey));
  });

  it('hashes FIPS 180-2 "abc" and RFC 4231 HMAC case 2', () => {
    const enc = new TextEncoder();
    expect(toHex(p.sha256([enc.encode('a'), enc.encode('bc')]))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(
      toHex(p.hmacSha256(enc.encode('Jefe'), [enc.encode('what do ya want for nothing?')])),
    ).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('regression: Buffer.slice() shares memory', () => {
  // A forged-frame test once flipped a bit in a "copy" made with slice() and corrupted the
  // original, because node:crypto returned Buffers. Providers now return plain Uint8Arrays.
  it('provider outputs are plain Uint8Arrays whose slice() copies', () => {
    for (const p of PROVIDERS) {
      const sealed = p.seal(AEAD_282.key, AEAD_282.nonce, AEAD_282.ad, AEAD_282.plaintext);
      const opened = p.open(AEAD_282.key, AEAD_282.nonce, AEAD_282.ad, sealed);
      for (const out of [
        sealed,
        opened,
        ...p.sealParts(AEAD_282.key, AEAD_282.nonce, AEAD_282.ad, [AEAD_282.plaintext]),
      ]) {
        expect(Buffer.isBuffer(out)).toBe(false);
        const copy = out.slice();
        copy[0]! ^= 0xff;
        expect(copy[0]).not.toBe(out[0]);
      }
    }
  });
});

describe('node provider key cache', () => {
  it('a secret-key array rewritten with other bytes is never matched to its old key', () => {
    const kp = nodeCryptoProvider.generateKeyPair();
    const before = nodeCryptoProvider.dh(kp.secretKey, X25519_61.bobPublic);
    kp.secretKey.set(X25519_61.aliceSecret);
    expect(toHex(nodeCryptoProvider.dh(kp.secretKey, X25519_61.bobPublic))).toBe(
      toHex(X25519_61.shared),
    );
    expect(toHex(before)).not.toBe(toHex(X25519_61.shared));
    kp.secretKey.fill(0);
    expect(toHex(nodeCryptoProvider.dh(kp.secretKey, X25519_61.bobPublic))).toBe(
      toHex(nobleCryptoProvider.dh(kp.secretKey, X25519_61.bobPublic)),
    );
  });
});

describe('the node:crypto and noble providers agree', () => {
  const [node, noble] = PROVIDERS as [CryptoProvider, CryptoProvider];
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
  const bytes = fc.uint8Array({ maxLength: 2048 });

  it('what one seals the other opens, byte-identical', () => {
    fc.assert(
      fc.property(key, nonce, bytes, bytes, (k, n, ad, pt) => {
        const a = node.seal(k, n, ad, pt);
        const b = noble.seal(k, n, ad, pt);
        expect(toHex(a)).toBe(toHex(b));
        expect(toHex(noble.open(k, n, ad, a))).toBe(toHex(pt));
        expect(toHex(node.open(k, n, ad, b))).toBe(toHex(pt));
      }),
      { numRuns: 200 },
    );
  });

  it('give the same DH, hash, HMAC and HKDF outputs', () => {
    fc.assert(
      fc.property(key, key, bytes, (a, b, data) => {
        const pub = node.publicKeyOf(b);
        expect(toHex(noble.publicKeyOf(b))).toBe(toHex(pub));
        expect(toHex(node.dh(a, pub))).toBe(toHex(noble.dh(a, pub)));
        expect(toHex(node.sha256([data]))).toBe(toHex(noble.sha256([data])));
        expect(toHex(node.hmacSha256(a, [data]))).toBe(toHex(noble.hmacSha256(a, [data])));
        expect(node.hkdf(a, data, 3).map(toHex)).toEqual(noble.hkdf(a, data, 3).map(toHex));
      }),
      { numRuns: 50 },
    );
  });
});

// RFC 8032 §7.1, TEST 1 to 3: seed, public key, message, signature.
const ED25519_71 = [
  [
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    '',
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  ],
  [
    '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    '72',
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ],
  [
    'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    'af82',
    '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  ],
].map(([seed, publicKey, message, signature]) => ({
  seed: hex(seed!),
  publicKey: hex(publicKey!),
  message: hex(message!),
  signature: hex(signature!),
}));

describe('Ed25519 signatures (RFC 8032)', () => {
  const L = ed25519.Point.Fn.ORDER;

  for (const provider of PROVIDERS) {
    it(`${provider.name}: signs and verifies the RFC 8032 §7.1 vectors`, () => {
      for (const v of ED25519_71) {
        expect(toHex(provider.sign(v.seed, v.message))).toBe(toHex(v.signature));
        expect(provider.verify(v.publicKey, v.message, v.signature)).toBe(true);
      }
    });

    it(`${provider.name}: verifies the RFC 8032 vectors again under keys it has seen, and still refuses forgeries`, () => {
      for (let round = 0; round < 3; round++) {
        for (const v of ED25519_71) {
          expect(provider.verify(v.publicKey, v.message, v.signature)).toBe(true);
          // The signature of one vector under another's (remembered) key.
          const other = ED25519_71[(ED25519_71.indexOf(v) + 1) % ED25519_71.length]!;
          expect(provider.verify(other.publicKey, v.message, v.signature)).toBe(false);
        }
      }
      // A key array rewritten in place is looked up by its new bytes.
      const key = ED25519_71[0]!.publicKey.slice();
      expect(provider.verify(key, ED25519_71[0]!.message, ED25519_71[0]!.signature)).toBe(true);
      key.set(ED25519_71[1]!.publicKey);
      expect(provider.verify(key, ED25519_71[0]!.message, ED25519_71[0]!.signature)).toBe(false);
      expect(provider.verify(key, ED25519_71[1]!.message, ED25519_71[1]!.signature)).toBe(true);
    });

    it(`${provider.name}: refuses a changed message, a changed signature and wrong lengths`, () => {
      const v = ED25519_71[2]!;
      expect(provider.verify(v.publicKey, Uint8Array.of(0xaf, 0x83), v.signature)).toBe(false);
      const flipped = v.signature.slice();
      flipped[40]! ^= 1;
      expect(provider.verify(v.publicKey, v.message, flipped)).toBe(false);
      expect(provider.verify(v.publicKey, v.message, v.signature.subarray(0, 63))).toBe(false);
      expect(provider.verify(v.publicKey.subarray(1), v.message, v.signature)).toBe(false);
      expect(() => provider.sign(v.seed.subarray(1), v.message)).toThrow(RangeError);
    });

    it(`${provider.name}: refuses S + L, the malleated twin of a valid signature`, () => {
      const v = ED25519_71[1]!;
      const s = bytesToNumberLE(v.signature.subarray(32));
      const twin = concat([v.signature.subarray(0, 32), numberToBytesLE(s + L, 32)]);
      expect(provider.verify(v.publicKey, v.message, twin)).toBe(false);
    });

    it(`${provider.name}: refuses an R carrying a small-order component (the cofactorless rule)`, () => {
      // R = [r]B + T with S = r + k·a: [S]B = R − T + [k]A, so only the cofactored
      // equation holds. noble's own verify (cofactored) accepts it; OpenSSL does not.
      const v = ED25519_71[0]!;
      const a = scalarOfSeed(v.seed);
      const r = 12345678901234567890n;
      const R = ed25519.Point.BASE.multiply(r).add(TORSION_POINTS[1]!).toBytes();
      const k = bytesToNumberLE(sha512(concat([R, v.publicKey, v.message]))) % L;
      const signature = concat([R, numberToBytesLE((r + k * a) % L, 32)]);
      expect(ed25519.verify(signature, v.message, v.publicKey)).toBe(true);
      expect(provider.verify(v.publicKey, v.message, signature)).toBe(false);
    });
  }

  it('what one provider signs the other verifies, and both sign alike', () => {
    const [node, noble] = PROVIDERS as [CryptoProvider, CryptoProvider];
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 512 }),
        (seed, message) => {
          const publicKey = ed25519.getPublicKey(seed);
          const a = node.sign(seed, message);
          const b = noble.sign(seed, message);
          expect(toHex(a)).toBe(toHex(b));
          expect(noble.verify(publicKey, message, a)).toBe(true);
          expect(node.verify(publicKey, message, b)).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('both give the same verdict on any signature bytes', () => {
    const [node, noble] = PROVIDERS as [CryptoProvider, CryptoProvider];
    const v = ED25519_71[1]!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const signature = v.signature.slice();
        signature[at]! ^= x;
        expect(node.verify(v.publicKey, v.message, signature)).toBe(
          noble.verify(v.publicKey, v.message, signature),
        );
      }),
      { numRuns: 200 },
    );
  });
});
