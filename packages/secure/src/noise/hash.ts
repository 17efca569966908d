/**
 * The hash function of a Noise suite (Noise rev 34 §4.3 and §12.5): `HASH`, `HASHLEN` and
 * the HMAC-based `HKDF`. The state machines are generic over it; keyway's suite uses
 * SHA-256 from the crypto provider.
 */
import type { CryptoProvider } from '../crypto/provider.js';

/** A Noise hash function with its HKDF. */
export interface NoiseHashFunction {
  /** The name used in protocol names (`SHA256`, `BLAKE2b`). */
  readonly name: string;
  /** Noise `HASHLEN`: digest length in bytes (32 or 64). */
  readonly hashLen: number;
  /** `HASH(data)` over the concatenation of `parts`. */
  hash(parts: readonly Uint8Array[]): Uint8Array;
  /** Noise `HKDF(chaining_key, input_key_material, num_outputs)`. */
  hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, count: 2 | 3): Uint8Array[];
}

/**
 * SHA-256 as a Noise hash function, computed by `provider`.
 * @param provider - the crypto provider that computes SHA-256 and HMAC-SHA256.
 * @returns the `SHA256` hash function of Noise rev 34 §12.5.
 */
export function sha256NoiseHash(provider: CryptoProvider): NoiseHashFunction {
  return Object.freeze({
    name: 'SHA256',
    hashLen: 32,
    hash: (parts: readonly Uint8Array[]) => provider.sha256(parts),
    hkdf: (ck: Uint8Array, ikm: Uint8Array, count: 2 | 3) => provider.hkdf(ck, ikm, count),
  });
}
