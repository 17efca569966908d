/**
 * Noise SymmetricState (rev 34 §5.2): the chaining key `ck`, the handshake hash `h` and a
 * CipherState, with MixKey / MixHash / MixKeyAndHash / EncryptAndHash / DecryptAndHash /
 * Split.
 */
import { AEAD_KEY_BYTES, type CryptoProvider } from '../crypto/provider.js';
import { CipherState } from './cipher-state.js';
import type { NoiseHashFunction } from './hash.js';

/** Noise SymmetricState. */
export class SymmetricState {
  readonly #provider: CryptoProvider;
  readonly #hash: NoiseHashFunction;
  readonly #cipher: CipherState;
  #ck: Uint8Array;
  #h: Uint8Array;

  /**
   * `InitializeSymmetric(protocol_name)`: `h` is the name zero-padded to `HASHLEN`, or its
   * hash when longer; `ck = h`.
   */
  constructor(provider: CryptoProvider, hash: NoiseHashFunction, protocolName: string) {
    this.#provider = provider;
    this.#hash = hash;
    this.#cipher = new CipherState(provider);
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= hash.hashLen) {
      this.#h = new Uint8Array(hash.hashLen);
      this.#h.set(name);
    } else {
      this.#h = hash.hash([name]);
    }
    this.#ck = new Uint8Array(this.#h);
  }

  /** `MixKey(input_key_material)`. */
  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = this.#hash.hkdf(this.#ck, inputKeyMaterial, 2) as [Uint8Array, Uint8Array];
    this.#ck.fill(0);
    this.#ck = ck;
    this.#cipher.initializeKey(tempK.subarray(0, AEAD_KEY_BYTES));
    tempK.fill(0);
  }

  /** `MixHash(data)`: `h = HASH(h ‖ data)`. */
  mixHash(data: Uint8Array): void {
    this.#h = this.#hash.hash([this.#h, data]);
  }

  /** `MixKeyAndHash(input_key_material)`, for pre-shared keys. */
  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempH, tempK] = this.#hash.hkdf(this.#ck, inputKeyMaterial, 3) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    this.#ck.fill(0);
    this.#ck = ck;
    this.mixHash(tempH);
    this.#cipher.initializeKey(tempK.subarray(0, AEAD_KEY_BYTES));
    tempK.fill(0);
  }

  /** `GetHandshakeHash()`: a copy of `h`. */
  getHandshakeHash(): Uint8Array {
    return new Uint8Array(this.#h);
  }

  /** True once a DH result has been mixed in, so payloads are encrypted. */
  hasKey(): boolean {
    return this.#cipher.hasKey();
  }

  /** `EncryptAndHash(plaintext)`. */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /**
   * `DecryptAndHash(ciphertext)`.
   * @throws {DecryptError} when the tag does not verify.
   */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.#cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /**
   * `Split()`: two CipherStates, the first for initiator→responder, the second for
   * responder→initiator. Wipes the chaining key.
   */
  split(): [CipherState, CipherState] {
    const [k1, k2] = this.#hash.hkdf(this.#ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    const c1 = new CipherState(this.#provider, k1.subarray(0, AEAD_KEY_BYTES));
    const c2 = new CipherState(this.#provider, k2.subarray(0, AEAD_KEY_BYTES));
    k1.fill(0);
    k2.fill(0);
    this.destroy();
    return [c1, c2];
  }

  /** Wipes the chaining key and the handshake cipher key. */
  destroy(): void {
    this.#ck.fill(0);
    this.#cipher.destroy();
  }
}
