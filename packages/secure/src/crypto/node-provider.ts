/**
 * The `node:crypto` crypto provider (OpenSSL): ChaCha20-Poly1305 (RFC 8439), X25519
 * (RFC 7748), Ed25519 (RFC 8032), SHA-256 and HMAC-SHA256. The default on Node; much
 * faster than pure JS for bulk frames.
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
  sign as signWithKey,
  verify as verifyWithKey,
} from 'node:crypto';
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

// DER header of SPKI X25519 public keys (RFC 8410), used only as a fallback importer.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const fromB64url = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64url'));

/**
 * Private KeyObjects by the secret-key array they were made for. Importing a key costs
 * more than the X25519 operation itself, and a handshake uses each private key in two
 * DH operations. Each entry keeps a copy of the bytes and is used only while the array
 * still holds them, so a wiped or reused array is never matched to a stale key.
 */
const privateKeys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  checkLength(secretKey, X25519_KEY_BYTES, 'secretKey');
  const cached = privateKeys.get(secretKey);
  if (cached !== undefined && sameBytes(cached.bytes, secretKey)) return cached.key;
  let key: KeyObject;
  try {
    // JWK import takes the raw scalar directly; OpenSSL 3's DER decoder is ~10x slower.
    // Node derives the public half from `d` and does not read `x` for a private key.
    key = createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: b64url(secretKey), x: '' },
      format: 'jwk',
    });
  } catch {
    key = createPrivateKey({
      key: Buffer.concat([PKCS8_X25519_PREFIX, secretKey]),
      format: 'der',
      type: 'pkcs8',
    });
  }
  privateKeys.set(secretKey, { bytes: new Uint8Array(secretKey), key });
  return key;
}

/**
 * Public KeyObjects by curve and key bytes, least recently used first. An import costs
 * several times the map lookup, a handshake uses the peer's ephemeral key in two DH
 * operations, and a server sees the same static and signing keys again and again.
 * Public keys only: nothing secret is kept.
 */
const PUBLIC_KEY_CACHE_SIZE = 256;
const publicKeys = new Map<string, KeyObject>();

function cachedPublicKey(crv: 'X25519' | 'Ed25519', publicKey: Uint8Array): KeyObject {
  const id =
    crv + Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex');
  let key = publicKeys.get(id);
  if (key !== undefined) publicKeys.delete(id);
  else {
    // JWK import takes the raw key directly; OpenSSL 3's DER decoder is ~10x slower.
    key = createPublicKey({ key: { kty: 'OKP', crv, x: b64url(publicKey) }, format: 'jwk' });
    if (publicKeys.size >= PUBLIC_KEY_CACHE_SIZE) {
      publicKeys.delete(publicKeys.keys().next().value as string);
    }
  }
  publicKeys.set(id, key);
  return key;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, X25519_KEY_BYTES, 'publicKey');
  return cachedPublicKey('X25519', publicKey);
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('X25519 key has no public value');
  return fromB64url(jwk.x);
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

/** Stream-cipher decryption piece by piece: the same plaintext as one `update` of the join. */
function nodeOpenParts(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: readonly Uint8Array[],
): Uint8Array[] {
  checkAead(key, nonce);
  let total = 0;
  for (const piece of sealed) total += piece.length;
  if (total < AEAD_TAG_BYTES) throw new DecryptError('ciphertext shorter than a tag');
  const split = total - AEAD_TAG_BYTES;
  const tag = new Uint8Array(AEAD_TAG_BYTES);
  let at = 0;
  for (const piece of sealed) {
    const from = Math.max(split - at, 0);
    if (from < piece.length) tag.set(piece.subarray(from), at + from - split);
    at += piece.length;
  }
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, {
    authTagLength: AEAD_TAG_BYTES,
  });
  decipher.setAuthTag(tag);
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: split });
  const out: Uint8Array[] = [];
  at = 0;
  for (const piece of sealed) {
    const end = Math.min(Math.max(split - at, 0), piece.length);
    if (end > 0) out.push(view(decipher.update(piece.subarray(0, end))));
    at += piece.length;
  }
  try {
    decipher.final();
  } catch (cause) {
    for (const plaintext of out) plaintext.fill(0);
    throw new DecryptError('frame failed authentication', { cause });
  }
  return out;
}

/**
 * Ed25519 signing keys by seed array, cached as X25519 keys are (above): a server signs
 * every handshake with its one host key.
 */
const signingKeys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();

function signingKeyObject(seed: Uint8Array): KeyObject {
  checkLength(seed, ED25519_KEY_BYTES, 'seed');
  const cached = signingKeys.get(seed);
  if (cached !== undefined && sameBytes(cached.bytes, seed)) return cached.key;
  // Node derives the public half from `d` and does not read `x` for a private key.
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: '' },
    format: 'jwk',
  });
  signingKeys.set(seed, { bytes: new Uint8Array(seed), key });
  return key;
}

function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(secretKey)));
}

function hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

const provider: CryptoProvider = Object.freeze({
  name: 'node',

  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const chunks = nodeSealParts(key, nonce, ad, [plaintext]);
    return chunks.length === 1 ? chunks[0]! : view(Buffer.concat(chunks));
  },

  sealParts: nodeSealParts,

  openParts: nodeOpenParts,

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
    // Any 32 random bytes are an X25519 secret (RFC 7748 clamps inside the function).
    // Not generateKeyPairSync: on Node 20 a GC that frees its key-generation job while a
    // JWK export of the same key runs deadlocks the thread (seen in this test suite).
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

  sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    return new Uint8Array(signWithKey(null, message, signingKeyObject(seed)));
  },

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_BYTES) return false;
    if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) {
      return false;
    }
    try {
      return verifyWithKey(null, message, cachedPublicKey('Ed25519', publicKey), signature);
    } catch {
      // OpenSSL refuses some malformed keys at import rather than at verification.
      return false;
    }
  },
});

/** The `node:crypto` implementation of {@link CryptoProvider}. */
export const nodeCryptoProvider: CryptoProvider = builtInProvider(provider);
