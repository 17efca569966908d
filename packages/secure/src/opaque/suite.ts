/**
 * The OPAQUE-3DH ciphersuite keyway uses: ristretto255 + SHA-512 (RFC 9807 §7, the first
 * recommended configuration). OPRF from RFC 9497 (`ristretto255-SHA512`, mode 0x00) via
 * @noble/curves' `ristretto255_oprf`; KDF HKDF-SHA512, MAC HMAC-SHA512, Hash SHA-512.
 *
 * Every constant here has the RFC's name (Nn, Nseed, Nh, Nm, Nx, Npk, Nsk, Noe, Nok) so the
 * protocol files read like RFC 9807's pseudo-code.
 */

import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes } from '@noble/hashes/utils.js';
import { OpaqueFormatError } from './errors.js';

/** Nonce length (RFC 9807 §4). */
export const Nn = 32;
/** Seed length for key derivation (RFC 9807 §4). */
export const Nseed = 32;
/** Hash output length of SHA-512. */
export const Nh = 64;
/** MAC output length of HMAC-SHA512. */
export const Nm = 64;
/** KDF (HKDF-SHA512) extract output length. */
export const Nx = 64;
/** Serialized AKE public key length (ristretto255 element). */
export const Npk = 32;
/** Serialized AKE private key length (ristretto255 scalar). */
export const Nsk = 32;
/** Serialized OPRF element length. */
export const Noe = 32;
/** Serialized OPRF private key length. */
export const Nok = 32;
/** Envelope length: nonce ‖ auth_tag (RFC 9807 §4.1.1). */
export const Ne = Nn + Nm;

const encoder = new TextEncoder();
const { Point } = ristretto255;
const Fn = Point.Fn;

/** ASCII/UTF-8 bytes of a label. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Concatenate byte strings (RFC 9807's `||`). */
export const concat: (...parts: Uint8Array[]) => Uint8Array = concatBytes;

/** I2OSP(n, 2): two-byte big-endian length. */
export function i2osp2(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new RangeError(`length ${n} does not fit in two bytes`);
  }
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** `I2OSP(len(x), 2) ‖ x`, the RFC's length-prefixed encoding. */
export function lengthPrefixed(x: Uint8Array): Uint8Array {
  return concat(i2osp2(x.length), x);
}

/** XOR of two equal-length byte strings. */
export function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new RangeError('xor operands differ in length');
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Constant-time equality of two byte strings (length is not secret). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // Every byte is compared whatever the earlier ones were: no early exit on a mismatch.
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Source of uniformly random bytes; replaceable only inside tests via deterministic inputs. */
export function random(length: number): Uint8Array {
  return randomBytes(length);
}

/** Hash = SHA-512. */
export function hash(msg: Uint8Array): Uint8Array {
  return sha512(msg);
}

/** MAC = HMAC-SHA512. */
export function mac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(sha512, key, msg);
}

/** KDF Extract = HKDF-Extract-SHA512; an empty salt is HashLen zero bytes (RFC 5869). */
export function kdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return extract(sha512, ikm, salt);
}

/** KDF Expand = HKDF-Expand-SHA512. */
export function kdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expand(sha512, prk, info, length);
}

/** An AKE or OPRF key pair: 32-byte little-endian scalar and 32-byte ristretto255 element. */
export interface KeyPair {
  /** Scalar, `Nsk` bytes. */
  readonly privateKey: Uint8Array;
  /** Element, `Npk` bytes. */
  readonly publicKey: Uint8Array;
}

const DERIVE_KEY_PAIR_INFO = utf8('OPAQUE-DeriveKeyPair');
const DERIVE_DH_KEY_PAIR_INFO = utf8('OPAQUE-DeriveDiffieHellmanKeyPair');

/** RFC 9807 §3.2 / RFC 9497 §3.2.1: the OPRF key for one credential, from a seed of Nok bytes. */
export function deriveOprfKeyPair(seed: Uint8Array): KeyPair {
  const keys = ristretto255_oprf.oprf.deriveKeyPair(seed, DERIVE_KEY_PAIR_INFO);
  return { privateKey: keys.secretKey, publicKey: keys.publicKey };
}

// RFC 9497 §3.2.1 DeriveKeyPair, modeOPRF context: DST = "DeriveKeyPair" ‖ contextString.
const DERIVE_KEY_PAIR_DST = utf8('DeriveKeyPairOPRFV1-\x00-ristretto255-SHA512');

/**
 * The private half of {@link deriveOprfKeyPair} without computing the public key the server
 * never uses (a base-point multiplication and an encoding, ~1 ms per login in pure JS).
 * Same algorithm as RFC 9497 §3.2.1; tests check it against the full derivation.
 */
export function deriveOprfPrivateKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== Nseed) throw new RangeError(`seed must be ${Nseed} bytes`);
  const msg = concat(seed, lengthPrefixed(DERIVE_KEY_PAIR_INFO), Uint8Array.of(0));
  for (let counter = 0; counter <= 255; counter++) {
    msg[msg.length - 1] = counter;
    const sk = ristretto255_hasher.hashToScalar(msg, { DST: DERIVE_KEY_PAIR_DST });
    if (sk !== 0n) return Fn.toBytes(sk);
  }
  throw new RangeError('DeriveKeyPair failed');
}

/** RFC 9807 §6.4.1 DeriveDiffieHellmanKeyPair(seed): the AKE key pair from Nseed bytes. */
export function deriveDiffieHellmanKeyPair(seed: Uint8Array): KeyPair {
  const keys = ristretto255_oprf.oprf.deriveKeyPair(seed, DERIVE_DH_KEY_PAIR_INFO);
  return { privateKey: keys.secretKey, publicKey: keys.publicKey };
}

/**
 * DeserializeElement with the checks RFC 9807 §6.2.1 and RFC 9497 §3.3 require of anything
 * received: a canonical ristretto255 encoding, and not the identity element.
 */
export function checkElement(bytes: Uint8Array, field: string): Uint8Array {
  let point: InstanceType<typeof Point>;
  try {
    point = Point.fromBytes(bytes);
  } catch (cause) {
    throw new OpaqueFormatError(`${field} is not a valid ristretto255 element`, { cause });
  }
  if (point.equals(Point.ZERO)) {
    throw new OpaqueFormatError(`${field} is the identity element`);
  }
  return bytes;
}

/** DiffieHellman(k, B) = SerializeElement(k * B) (RFC 9807 §6.4.1). */
export function diffieHellman(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return Point.fromBytes(publicKey).multiply(Fn.fromBytes(privateKey)).toBytes();
}

/** Two DiffieHellman results against the same public element, decoding it once. */
export function diffieHellman2(
  privateKey1: Uint8Array,
  privateKey2: Uint8Array,
  publicKey: Uint8Array,
): [Uint8Array, Uint8Array] {
  const B = Point.fromBytes(publicKey);
  return [
    B.multiply(Fn.fromBytes(privateKey1)).toBytes(),
    B.multiply(Fn.fromBytes(privateKey2)).toBytes(),
  ];
}

/** The result of the OPRF Blind step: the secret scalar and the element sent to the server. */
export interface BlindResult {
  /** Secret blinding scalar (kept by the client). */
  readonly blind: Uint8Array;
  /** Serialized blinded element (sent to the server). */
  readonly blindedMessage: Uint8Array;
}

/**
 * OPRF Blind(input). `fixedBlind` reproduces published vectors: noble draws a scalar as
 * `(uniform mod (n-1)) + 1` from 48 random bytes, so feeding it `blind - 1` yields `blind`.
 */
export function oprfBlind(input: Uint8Array, fixedBlind?: Uint8Array): BlindResult {
  let rng: ((n?: number) => Uint8Array) | undefined;
  if (fixedBlind !== undefined) {
    const scalar = Fn.fromBytes(fixedBlind);
    if (scalar === 0n) throw new RangeError('blind must be a non-zero scalar');
    let v = scalar - 1n;
    rng = (n = 48) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n && v > 0n; i++) {
        out[i] = Number(v & 0xffn);
        v >>= 8n;
      }
      return out;
    };
  }
  const r =
    rng === undefined
      ? ristretto255_oprf.oprf.blind(input)
      : ristretto255_oprf.oprf.blind(input, rng);
  return { blind: r.blind, blindedMessage: r.blinded };
}

/** OPRF BlindEvaluate(k, blindedElement); the element must already be checked. */
export function oprfBlindEvaluate(oprfKey: Uint8Array, blindedMessage: Uint8Array): Uint8Array {
  return ristretto255_oprf.oprf.blindEvaluate(oprfKey, blindedMessage);
}

/** OPRF Finalize(input, blind, evaluatedElement). */
export function oprfFinalize(
  input: Uint8Array,
  blind: Uint8Array,
  evaluatedMessage: Uint8Array,
): Uint8Array {
  return ristretto255_oprf.oprf.finalize(input, blind, evaluatedMessage);
}
