/**
 * The `node:crypto` crypto provider (OpenSSL): ChaCha20-Poly1305 (RFC 8439), X25519
 * (RFC 7748), SHA-256 and HMAC-SHA256. The default on Node; much faster than pure JS for
 * bulk frames.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { DecryptError, HandshakeError } from '../errors.js';
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type CryptoProvider,
  checkLength,
  isAllZero,
  noiseHkdf,
  X25519_KEY_BYTES,
  type X25519KeyPair,
} from './provider.js';

// DER headers of PKCS#8 / SPKI X25519 keys (RFC 8410); the raw 32 bytes follow them.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  checkLength(secretKey, X25519_KEY_BYTES, 'secretKey');
  return createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, secretKey]),
    format: 'der',
    type: 'pkcs8',
  });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, X25519_KEY_BYTES, 'publicKey');
  return createPublicKey({
    key: Buffer.concat([SPKI_X25519_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_X25519_PREFIX.length));
}

// Buffer's slice() shares memory where Uint8Array's copies; hand out plain views so that
// callers get Uint8Array semantics.
function view(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkAead(key: Uint8Array, nonce: Uint8Array): void {
  checkLength(key, AEAD_KEY_BYTES, 'key');
  checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
}

function nodeSealParts(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  parts: readonly Uint8Array[],
): Uint8Array[] {
  checkAead(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, {
    authTagLength: AEAD_TAG_BYTES,
  });
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: 0 });
  const out: Uint8Array[] = [];
  for (const part of parts) {
    if (part.length > 0) out.push(view(cipher.update(part)));
  }
  cipher.final();
  out.push(view(cipher.getAuthTag()));
  return out;
}

function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(secretKey)));
}

function hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** The `node:crypto` implementation of {@link CryptoProvider}. */
export const nodeCryptoProvider: CryptoProvider = Object.freeze({
  name: 'node',

  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const chunks = nodeSealParts(key, nonce, ad, [plaintext]);
    return chunks.length === 1 ? chunks[0]! : view(Buffer.concat(chunks));
  },

  sealParts: nodeSealParts,

  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
    checkAead(key, nonce);
    if (sealed.length < AEAD_TAG_BYTES) throw new DecryptError('ciphertext shorter than a tag');
    const split = sealed.length - AEAD_TAG_BYTES;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, {
      authTagLength: AEAD_TAG_BYTES,
    });
    decipher.setAuthTag(sealed.subarray(split));
    if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: split });
    // OpenSSL releases plaintext before final() checks the tag; it is only returned after.
    const plaintext = decipher.update(sealed.subarray(0, split));
    try {
      decipher.final();
    } catch (cause) {
      plaintext.fill(0);
      throw new DecryptError('frame failed authentication', { cause });
    }
    return view(plaintext);
  },

  generateKeyPair(): X25519KeyPair {
    const secretKey = new Uint8Array(randomBytes(X25519_KEY_BYTES));
    return { secretKey, publicKey: publicKeyOf(secretKey) };
  },

  publicKeyOf: publicKeyOf,

  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const privateKey = privateKeyObject(secretKey);
    const peer = publicKeyObject(publicKey);
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey, publicKey: peer });
    } catch (cause) {
      // OpenSSL refuses an all-zero result itself; report it as the noble backend does.
      throw new HandshakeError('X25519 produced no shared secret (low-order key)', { cause });
    }
    if (isAllZero(shared)) throw new HandshakeError('X25519 shared secret is all zeros');
    return new Uint8Array(shared);
  },

  sha256(parts: readonly Uint8Array[]): Uint8Array {
    const h = createHash('sha256');
    for (const part of parts) h.update(part);
    return new Uint8Array(h.digest());
  },

  hmacSha256: hmacSha256,

  hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, count: 2 | 3): Uint8Array[] {
    return noiseHkdf((k, p) => hmacSha256(k, p), chainingKey, inputKeyMaterial, count);
  },

  randomBytes(n: number): Uint8Array {
    return new Uint8Array(randomBytes(n));
  },
});
