/**
 * The crypto provider seam: one interface for the primitives the Noise suite
 * `25519_ChaChaPoly_SHA256` needs (Noise rev 34, §4 "Crypto functions" and §12), plus the
 * Ed25519 signatures (RFC 8032) with which each side signs the handshake hash under its
 * identity key, so that the native `node:crypto` backend and the portable @noble/*
 * backend are swappable and cross-tested.
 */

/** Length in bytes of an X25519 public or secret key (Noise `DHLEN`). */
export const X25519_KEY_BYTES = 32;
/** Length in bytes of a ChaCha20-Poly1305 key. */
export const AEAD_KEY_BYTES = 32;
/** Length in bytes of a ChaCha20-Poly1305 nonce (RFC 8439 §2.8). */
export const AEAD_NONCE_BYTES = 12;
/** Length in bytes of the Poly1305 authentication tag appended to every ciphertext. */
export const AEAD_TAG_BYTES = 16;
/** Length in bytes of a SHA-256 digest (Noise `HASHLEN` for this suite). */
export const SHA256_BYTES = 32;
/** Length in bytes of an Ed25519 seed (the RFC 8032 private key) or public key. */
export const ED25519_KEY_BYTES = 32;
/** Length in bytes of an Ed25519 signature (RFC 8032 `R ‖ S`). */
export const ED25519_SIGNATURE_BYTES = 64;

/** An X25519 key pair as raw 32-byte strings. */
export interface X25519KeyPair {
  /** The 32-byte secret scalar (clamped by the DH function, not here). */
  readonly secretKey: Uint8Array;
  /** The 32-byte public u-coordinate. */
  readonly publicKey: Uint8Array;
}

/**
 * The primitives keyway's Noise handshake and channel run on. Every method is synchronous
 * and never keeps a reference to its arguments after returning.
 *
 * With keyway's own providers (`nodeCryptoProvider`, `nobleCryptoProvider`), messages of
 * at most 1 KiB are sealed and opened by a ChaCha20-Poly1305 in JavaScript built into the
 * cipher state, not by the provider's `seal` and `open`. Any other provider, including one
 * that wraps or spreads those two, is called for every message.
 */
export interface CryptoProvider {
  /** A short name for logs and benchmarks (`node`, `noble`). */
  readonly name: string;
  /**
   * ChaCha20-Poly1305 (RFC 8439) encryption.
   * @param key - 32-byte key.
   * @param nonce - 12-byte nonce; Noise uses 4 zero bytes then the 64-bit counter little-endian.
   * @param ad - associated data, authenticated but not encrypted.
   * @param plaintext - data to encrypt.
   * @returns ciphertext followed by the 16-byte tag.
   */
  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Vectored {@link CryptoProvider.seal}: encrypts the concatenation of `parts` without
   * the caller joining them, and returns chunks ready for `writev`.
   * @returns chunks whose concatenation is ciphertext followed by the tag.
   */
  sealParts(
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array,
    parts: readonly Uint8Array[],
  ): Uint8Array[];
  /**
   * ChaCha20-Poly1305 decryption and tag check.
   * @param sealed - ciphertext followed by the 16-byte tag.
   * @returns the plaintext, only once the tag has verified, in memory of its own: never a
   * view of `sealed`, whose memory the channel reuses for the next frame.
   * @throws {DecryptError} when the tag does not verify or `sealed` is shorter than a tag.
   */
  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /**
   * Optional: {@link CryptoProvider.open} of a sealed frame given as pieces in order (a
   * frame split across socket reads), without joining them first.
   * @returns the plaintext as pieces in order, only once the tag has verified, each in
   * memory of its own.
   * @throws {DecryptError} when the tag does not verify or the pieces are shorter than a tag.
   */
  openParts?(
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array,
    sealed: readonly Uint8Array[],
  ): Uint8Array[];
  /** Generates a fresh X25519 key pair from the system CSPRNG. */
  generateKeyPair(): X25519KeyPair;
  /**
   * Derives the X25519 public key of a secret key.
   * @throws {RangeError} when `secretKey` is not 32 bytes.
   */
  publicKeyOf(secretKey: Uint8Array): Uint8Array;
  /**
   * X25519 Diffie-Hellman (RFC 7748).
   * @returns the 32-byte shared secret.
   * @throws {HandshakeError} when the result is all zeros (a low-order public key).
   */
  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** SHA-256 of the concatenation of `parts`. */
  sha256(parts: readonly Uint8Array[]): Uint8Array;
  /** HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`. */
  hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array;
  /**
   * Noise's `HKDF(chaining_key, input_key_material, num_outputs)` over HMAC-SHA256
   * (Noise rev 34 §4.3).
   * @returns `count` 32-byte outputs.
   */
  hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, count: 2 | 3): Uint8Array[];
  /** `n` bytes from the system CSPRNG. */
  randomBytes(n: number): Uint8Array;
  /**
   * Ed25519 signature (RFC 8032 §5.1.6, pure Ed25519, no context).
   * @param seed - the 32-byte private key (the seed an OpenSSH key file holds).
   * @param message - the bytes to sign.
   * @returns the 64-byte signature.
   * @throws {RangeError} when `seed` is not 32 bytes.
   */
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * Ed25519 verification (RFC 8032 §5.1.7): `S` must be below the group order and the
   * encodings canonical. It does not check the public key's order; callers that trust a
   * key by its bytes check that first (`checkEd25519PublicKey`).
   * @returns true when `signature` is valid for `message` under `publicKey`; false for
   *   any invalid input (wrong lengths included), never a throw.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Noise's HKDF (rev 34 §4.3) over any HMAC: `temp = HMAC(ck, ikm)`,
 * `out1 = HMAC(temp, 0x01)`, `out_i = HMAC(temp, out_{i-1} ‖ i)`.
 * @param hmac - the HMAC of the suite's hash.
 * @returns `count` outputs of the hash's length.
 */
export function noiseHkdf(
  hmac: (key: Uint8Array, parts: readonly Uint8Array[]) => Uint8Array,
  chainingKey: Uint8Array,
  inputKeyMaterial: Uint8Array,
  count: 2 | 3,
): Uint8Array[] {
  const tempKey = hmac(chainingKey, [inputKeyMaterial]);
  const out1 = hmac(tempKey, [ONE]);
  const out2 = hmac(tempKey, [out1, TWO]);
  if (count === 2) return [out1, out2];
  return [out1, out2, hmac(tempKey, [out2, THREE])];
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** keyway's own providers, whose ChaCha20-Poly1305 is RFC 8439's and nothing else. */
const BUILT_IN = new WeakSet<CryptoProvider>();

/**
 * @internal Marks one of keyway's own providers (`nodeCryptoProvider`,
 * `nobleCryptoProvider`): only with these may a cipher state seal and open small messages
 * in JavaScript instead of calling the provider. Any other provider, even one that wraps
 * or copies these, is called for every message.
 * @returns `provider`.
 */
export function builtInProvider<T extends CryptoProvider>(provider: T): T {
  BUILT_IN.add(provider);
  return provider;
}

/** @internal True for the providers marked by {@link builtInProvider}. */
export function isBuiltInProvider(provider: CryptoProvider): boolean {
  return BUILT_IN.has(provider);
}

/** Throws a RangeError naming `name` unless `bytes` has exactly `length` bytes. */
export function checkLength(bytes: Uint8Array, length: number, name: string): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (bytes.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${bytes.length}`);
  }
}

/** True when every byte is zero, read in constant time for the given length. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}
