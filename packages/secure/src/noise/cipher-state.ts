/**
 * Noise CipherState (rev 34 §5.1) over ChaCha20-Poly1305 (§12.3): a key and a 64-bit
 * counter nonce. The nonce advances only after a message is sealed, or opened with a tag
 * that verifies, and the state refuses to run once the counter reaches 2^64-1, which is
 * reserved for `Rekey()`.
 */
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type CryptoProvider,
  checkLength,
  isBuiltInProvider,
} from '../crypto/provider.js';
import { openSmall, sealSmall } from '../crypto/small-aead.js';
import { ChannelError, DecryptError } from '../errors.js';

/** The reserved nonce 2^64-1: never used for a message, only by `Rekey()` (§4.2). */
export const MAX_NONCE = 0xffff_ffff_ffff_ffffn;

const EMPTY = new Uint8Array(0);
const ZEROS_32 = new Uint8Array(32);

// Noise's ChaChaPoly nonce: 32 bits of zeros then the 64-bit counter, little-endian. One
// buffer for every cipher state of this thread: it is written right before each AEAD call,
// which copies it, so no state needs one of its own (a connection holds two states).
const NONCE = new Uint8Array(AEAD_NONCE_BYTES);
const NONCE_VIEW = new DataView(NONCE.buffer);

/**
 * Messages up to this many bytes are sealed and opened by small-aead.ts (the same
 * ChaCha20-Poly1305, in JS) rather than by the provider: below
 * it, a native cipher's per-message setup costs more than the JS cipher's work, several
 * times more for the ~50-byte frame of a trivial call. Only with keyway's own providers
 * (`nodeCryptoProvider`, `nobleCryptoProvider`): any other provider is called for every
 * message, whatever its length.
 */
export const SMALL_MESSAGE_BYTES = 1024;

/** Noise CipherState: `k` and `n`, with EncryptWithAd / DecryptWithAd / Rekey. */
export class CipherState {
  readonly #provider: CryptoProvider;
  /** Whether small messages may skip the provider: it is one of keyway's own. */
  readonly #smallPath: boolean;
  /**
   * Where `k` lies: the 32 bytes of `#store` from `#at`; undefined when there is no key.
   * The store is this state's own copy, or a buffer it shares with the other keys of its
   * channel (see {@link CipherState.moveKeyTo}); either way nobody else writes there.
   */
  #store: Uint8Array | undefined;
  #at = 0;
  // The 64-bit counter `n` as two 32-bit halves: a bigint would be allocated anew at
  // every increment, once per frame.
  #nHigh = 0;
  #nLow = 0;

  /**
   * @param provider - the crypto provider that runs ChaCha20-Poly1305.
   * @param key - an initial 32-byte key (`InitializeKey`), or none.
   */
  constructor(provider: CryptoProvider, key?: Uint8Array) {
    this.#provider = provider;
    this.#smallPath = isBuiltInProvider(provider);
    if (key !== undefined) this.initializeKey(key);
  }

  /** `InitializeKey(key)`: sets the key and resets the nonce to zero. */
  initializeKey(key: Uint8Array | undefined): void {
    if (key !== undefined) checkLength(key, AEAD_KEY_BYTES, 'key');
    // Our own copy, taken before the old key is wiped (the new one may be read from it).
    const copy = key && new Uint8Array(key);
    this.#wipeKey();
    this.#store = copy;
    this.#at = 0;
    this.#nHigh = 0;
    this.#nLow = 0;
  }

  /**
   * @internal Moves the key to the 32 bytes of `store` from `at` and wipes where it was:
   * a channel keeps both of its keys (and its handshake values) in one buffer, one object
   * rather than one per key. The caller leaves those bytes to this state from then on.
   * @throws {ChannelError} when no key is set.
   * @throws {RangeError} when `store` has no room for a key at `at`.
   */
  moveKeyTo(store: Uint8Array, at: number): void {
    const from = this.#store;
    if (from === undefined) throw new ChannelError('cipher state has no key');
    if (!Number.isInteger(at) || at < 0 || store.length - at < AEAD_KEY_BYTES)
      throw new RangeError('no room for a key there');
    if (store.buffer === from.buffer) {
      const to = store.byteOffset + at;
      const was = from.byteOffset + this.#at;
      if (to === was) {
        this.#store = store;
        this.#at = at;
        return;
      }
      // Copying then wiping where it was would zero part of the key.
      if (to < was + AEAD_KEY_BYTES && was < to + AEAD_KEY_BYTES)
        throw new RangeError('the new place overlaps where the key is');
    }
    store.set(from.subarray(this.#at, this.#at + AEAD_KEY_BYTES), at);
    this.#wipeKey();
    this.#store = store;
    this.#at = at;
  }

  /** The key as one array, for the provider (a view when it lies inside a larger store). */
  #key(store: Uint8Array): Uint8Array {
    const at = this.#at;
    return at === 0 && store.length === AEAD_KEY_BYTES
      ? store
      : store.subarray(at, at + AEAD_KEY_BYTES);
  }

  /** Zeroes the key where it lies; the state keeps pointing there. */
  #wipeKey(): void {
    this.#store?.fill(0, this.#at, this.#at + AEAD_KEY_BYTES);
  }

  /** `HasKey()`. */
  hasKey(): boolean {
    return this.#store !== undefined;
  }

  /** `SetNonce(nonce)`: for tests and out-of-order transports; keyway never calls it. */
  setNonce(nonce: bigint): void {
    if (nonce < 0n || nonce > MAX_NONCE) throw new RangeError('nonce must be a 64-bit counter');
    this.#nHigh = Number(nonce >> 32n);
    this.#nLow = Number(nonce & 0xffff_ffffn);
  }

  /** The counter the next message will use. */
  get nonce(): bigint {
    return (BigInt(this.#nHigh) << 32n) | BigInt(this.#nLow);
  }

  /**
   * `EncryptWithAd(ad, plaintext)`.
   * @returns ciphertext and tag; the plaintext itself when no key is set.
   * @throws {ChannelError} when the nonce space is exhausted.
   */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const store = this.#store;
    if (store === undefined) return plaintext;
    const n = plaintext.length;
    if (this.#smallPath && n <= SMALL_MESSAGE_BYTES) {
      const sealed = new Uint8Array(n + AEAD_TAG_BYTES);
      sealSmall(store, this.#at, this.#useNonce(), ad, plaintext, 0, n, sealed, 0);
      this.#advance();
      return sealed;
    }
    const sealed = this.#provider.seal(this.#key(store), this.#useNonce(), ad, plaintext);
    this.#advance();
    return sealed;
  }

  /**
   * `EncryptWithAd` in place: the `length` bytes of `buffer` from `at` are the plaintext;
   * ciphertext replaces them and the tag follows (`length + 16` bytes in all).
   * @throws {ChannelError} when no key is set or the nonce space is exhausted.
   * @throws {RangeError} when `at` or `length` is not a non-negative integer, or `buffer`
   *   has no room for the message and its tag.
   */
  encryptInPlaceWithAd(ad: Uint8Array, buffer: Uint8Array, at: number, length: number): void {
    const store = this.#store;
    if (store === undefined) throw new ChannelError('cipher state has no key');
    if (!Number.isInteger(at) || at < 0 || !Number.isInteger(length) || length < 0)
      throw new RangeError('at and length must be non-negative integers');
    if (buffer.length - at < length + AEAD_TAG_BYTES) throw new RangeError('output too short');
    if (this.#smallPath && length <= SMALL_MESSAGE_BYTES) {
      sealSmall(store, this.#at, this.#useNonce(), ad, buffer, at, length, buffer, at);
    } else {
      const sealed = this.#provider.sealParts(this.#key(store), this.#useNonce(), ad, [
        buffer.subarray(at, at + length),
      ]);
      for (const chunk of sealed) {
        buffer.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#advance();
  }

  /**
   * Vectored `EncryptWithAd`: seals the concatenation of `parts` and returns chunks ready
   * for `writev`, so a frame's header and body are never joined into one buffer.
   * @throws {ChannelError} when no key is set or the nonce space is exhausted.
   */
  encryptPartsWithAd(ad: Uint8Array, parts: readonly Uint8Array[]): Uint8Array[] {
    const store = this.#store;
    if (store === undefined) throw new ChannelError('cipher state has no key');
    let total = 0;
    for (const part of parts) total += part.length;
    if (this.#smallPath && total <= SMALL_MESSAGE_BYTES) {
      const sealed = new Uint8Array(total + AEAD_TAG_BYTES);
      sealSmall(store, this.#at, this.#useNonce(), ad, joinPieces(parts), 0, total, sealed, 0);
      this.#advance();
      return [sealed];
    }
    const sealed = this.#provider.sealParts(this.#key(store), this.#useNonce(), ad, parts);
    this.#advance();
    return sealed;
  }

  /**
   * `DecryptWithAd(ad, ciphertext)`. The nonce advances only once the tag verifies, so a
   * forged frame does not desynchronise the counter.
   * @returns the plaintext; the ciphertext itself when no key is set.
   * @throws {DecryptError} when the tag does not verify.
   * @throws {ChannelError} when the nonce space is exhausted.
   */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    const store = this.#store;
    if (store === undefined) return ciphertext;
    if (this.#smallPath && ciphertext.length <= SMALL_MESSAGE_BYTES + AEAD_TAG_BYTES) {
      const plaintext = this.#openSmall(store, ad, ciphertext);
      this.#advance();
      return plaintext;
    }
    const plaintext = this.#provider.open(this.#key(store), this.#useNonce(), ad, ciphertext);
    this.#advance();
    return plaintext;
  }

  /**
   * {@link CipherState.decryptWithAd} of a ciphertext given as pieces in order, opened
   * piece by piece when the provider can (else joined first).
   * @returns the plaintext as pieces in order.
   * @throws {DecryptError} when the tag does not verify.
   * @throws {ChannelError} when the cipher state has no key or the nonce space is exhausted.
   */
  decryptPartsWithAd(ad: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array[] {
    const store = this.#store;
    if (store === undefined) throw new ChannelError('cipher state has no key');
    let total = 0;
    for (const piece of pieces) total += piece.length;
    if (this.#smallPath && total <= SMALL_MESSAGE_BYTES + AEAD_TAG_BYTES) {
      const plaintext = this.#openSmall(store, ad, joinPieces(pieces));
      this.#advance();
      return [plaintext];
    }
    const k = this.#key(store);
    const nonce = this.#useNonce();
    const plaintext =
      this.#provider.openParts === undefined
        ? [this.#provider.open(k, nonce, ad, joinPieces(pieces))]
        : this.#provider.openParts(k, nonce, ad, pieces);
    this.#advance();
    return plaintext;
  }

  /**
   * `Rekey()` (§4.2, §11.3): `k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros(32))`.
   * The nonce is not reset. The new key overwrites the old where it lies.
   */
  rekey(): void {
    const store = this.#store;
    if (store === undefined) throw new ChannelError('cipher state has no key');
    NONCE_VIEW.setBigUint64(4, MAX_NONCE, true);
    const sealed = this.#provider.seal(this.#key(store), NONCE, EMPTY, ZEROS_32);
    store.set(sealed.subarray(0, AEAD_KEY_BYTES), this.#at);
    // The provider's output is the new key (and a tag): it must not linger either.
    sealed.fill(0);
  }

  /** Overwrites the key; the state has no key afterwards. */
  destroy(): void {
    this.#wipeKey();
    this.#store = undefined;
  }

  /** Opens a small sealed message, or throws; the nonce is the caller's to advance. */
  #openSmall(store: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
    const n = sealed.length - AEAD_TAG_BYTES;
    if (n < 0) throw new DecryptError('ciphertext shorter than a tag');
    const plaintext = new Uint8Array(n);
    if (!openSmall(store, this.#at, this.#useNonce(), ad, sealed, n, plaintext, 0))
      throw new DecryptError('frame failed authentication');
    return plaintext;
  }

  #useNonce(): Uint8Array {
    if (this.#nHigh === 0xffff_ffff && this.#nLow === 0xffff_ffff)
      throw new ChannelError('nonce space exhausted; the channel must close');
    NONCE_VIEW.setUint32(4, this.#nLow, true);
    NONCE_VIEW.setUint32(8, this.#nHigh, true);
    return NONCE;
  }

  #advance(): void {
    if (this.#nLow === 0xffff_ffff) {
      this.#nLow = 0;
      this.#nHigh++;
    } else this.#nLow++;
  }
}

function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
