/**
 * The @noble/* crypto provider: pure-JS ChaCha20-Poly1305 (RFC 8439), X25519 (RFC 7748),
 * Ed25519 (RFC 8032), SHA-256 and HMAC-SHA256. The portable reference backend,
 * cross-tested against `node:crypto`.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, equalBytes } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes } from '@noble/hashes/utils.js';
import { DecryptError, HandshakeError } from '../errors.js';
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  builtInProvider,
  type CryptoProvider,
  checkLength,
  ED25519_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  isAllZero,
  noiseHkdf,
  X25519_KEY_BYTES,
  type X25519KeyPair,
} from './provider.js';

function checkAead(key: Uint8Array, nonce: Uint8Array): void {
  checkLength(key, AEAD_KEY_BYTES, 'key');
  checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
}

function nobleSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkAead(key, nonce);
  return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  checkLength(secretKey, X25519_KEY_BYTES, 'secretKey');
  return x25519.getPublicKey(secretKey);
}

/**
 * RFC 8032 verification as OpenSSL does it, so that both providers give the same answer
 * for every input: `A` canonical, `S < L`, and `[S]B − [k]A` must encode to exactly the
 * `R` bytes sent (the cofactorless equation). noble's own `verify` checks the cofactored
 * equation, which also accepts an `R` carrying a small-order component.
 */
function verifyCofactorless(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const { Point } = ed25519;
  let A: InstanceType<typeof Point>;
  try {
    A = Point.fromBytes(publicKey, false);
  } catch {
    return false;
  }
  const R = signature.subarray(0, 32);
  const S = bytesToNumberLE(signature.subarray(32));
  if (S >= Point.Fn.ORDER) return false;
  const k = Point.Fn.create(bytesToNumberLE(sha512(concatBytes(R, publicKey, message))));
  const rCheck = Point.BASE.multiplyUnsafe(S).subtract(A.multiplyUnsafe(k));
  return equalBytes(rCheck.toBytes(), R);
}

function hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = hmac.create(sha256, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

const provider: CryptoProvider = Object.freeze({
  name: 'noble',

  seal: nobleSeal,

  sealParts(
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array,
    parts: readonly Uint8Array[],
  ): Uint8Array[] {
    return [nobleSeal(key, nonce, ad, parts.length === 1 ? parts[0]! : concatBytes(...parts))];
  },

  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
    checkAead(key, nonce);
    if (sealed.length < AEAD_TAG_BYTES) throw new DecryptError('ciphertext shorter than a tag');
    try {
      return chacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch (cause) {
      throw new DecryptError('frame failed authentication', { cause });
    }
  },

  generateKeyPair(): X25519KeyPair {
    const secretKey = randomBytes(X25519_KEY_BYTES);
    return { secretKey, publicKey: publicKeyOf(secretKey) };
  },

  publicKeyOf: publicKeyOf,

  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    checkLength(secretKey, X25519_KEY_BYTES, 'secretKey');
    checkLength(publicKey, X25519_KEY_BYTES, 'publicKey');
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(secretKey, publicKey);
    } catch (cause) {
      throw new HandshakeError('X25519 produced no shared secret (low-order key)', { cause });
    }
    if (isAllZero(shared)) throw new HandshakeError('X25519 shared secret is all zeros');
    return shared;
  },

  sha256(parts: readonly Uint8Array[]): Uint8Array {
    const h = sha256.create();
    for (const part of parts) h.update(part);
    return h.digest();
  },

  hmacSha256: hmacSha256,

  hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, count: 2 | 3): Uint8Array[] {
    return noiseHkdf((k, p) => hmacSha256(k, p), chainingKey, inputKeyMaterial, count);
  },

  randomBytes(n: number): Uint8Array {
    return randomBytes(n);
  },

  sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    checkLength(seed, ED25519_KEY_BYTES, 'seed');
    return ed25519.sign(message, seed);
  },

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_BYTES) return false;
    if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) {
      return false;
    }
    return verifyCofactorless(publicKey, message, signature);
  },
});

/** The @noble/* implementation of {@link CryptoProvider}. */
export const nobleCryptoProvider: CryptoProvider = builtInProvider(provider);
