/**
 * The aliases of one Ed25519 key, for hostile-peer tests (docs/security.md, "One key, one
 * identity"): −A, A + T for the 8 points T of order dividing 8, and non-canonical
 * encodings; and a signer that works from the raw scalar, as an attacker holding a key
 * would, so that a signature "by" an alias can be forged wherever the maths allows it.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes } from '@noble/hashes/utils.js';

const { Point } = ed25519;
type EdPoint = InstanceType<typeof Point>;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;

/** The 8 points of order dividing 8, T_0 = the identity, T_i = i·T_1 with T_1 of order 8. */
export const TORSION_POINTS: readonly EdPoint[] = (() => {
  // [L]Q for a curve point Q lies in the 8-torsion subgroup; find one of order exactly 8.
  for (let i = 0; i < 1000; i++) {
    let q: EdPoint;
    try {
      q = Point.fromBytes(sha512(Uint8Array.of(i)).subarray(0, 32), false);
    } catch {
      continue;
    }
    const t = q.multiplyUnsafe(L - 1n).add(q);
    if (t.multiplyUnsafe(4n).is0()) continue;
    const out: EdPoint[] = [Point.ZERO];
    for (let k = 1; k < 8; k++) out.push(out[k - 1]!.add(t));
    return out;
  }
  throw new Error('no point of order 8 found');
})();

/** The signing scalar `a` (mod L) of an Ed25519 seed, as RFC 8032 §5.1.5 derives it. */
export function scalarOfSeed(seed: Uint8Array): bigint {
  const head = sha512(seed).slice(0, 32);
  head[0]! &= 248;
  head[31]! &= 127;
  head[31]! |= 64;
  return bytesToNumberLE(head) % L;
}

/** −A: the same key with the sign of x flipped. */
export function negateKey(key: Uint8Array): Uint8Array {
  return Point.fromBytes(key).negate().toBytes();
}

/** A + T. */
export function addPoint(key: Uint8Array, t: EdPoint): Uint8Array {
  return Point.fromBytes(key).add(t).toBytes();
}

/**
 * Non-canonical encodings (y + p, or the sign bit set on x = 0) of curve points, each with
 * the canonical encoding of the same point. Only y < 19 has a y + p below 2^255.
 */
export const NON_CANONICAL_KEYS: readonly { bytes: Uint8Array; canonical: Uint8Array }[] = (() => {
  const out: { bytes: Uint8Array; canonical: Uint8Array }[] = [];
  for (let y = 0n; y < 19n; y++) {
    for (const sign of [0, 0x80]) {
      const canonical = numberToBytesLE(y, 32);
      canonical[31]! |= sign;
      let point: EdPoint;
      try {
        point = Point.fromBytes(canonical, false);
      } catch {
        continue;
      }
      const bytes = numberToBytesLE(y + P, 32);
      bytes[31]! |= sign;
      out.push({ bytes, canonical: point.toBytes() });
    }
  }
  // x = 0 with the sign bit set: y = 1 (the identity) and y = −1 (order 2).
  for (const y of [1n, P - 1n]) {
    const bytes = numberToBytesLE(y, 32);
    bytes[31]! |= 0x80;
    out.push({ bytes, canonical: Point.fromBytes(numberToBytesLE(y, 32)).toBytes() });
  }
  return out;
})();

/**
 * An Ed25519 signature "by" `publicKey` from the scalar `scalar`, with a random nonce.
 * `accept(k)` may refuse a challenge, and a new nonce is drawn (at most 256 times): an
 * attacker grinding for `k ≡ 0 (mod 8)` makes the torsion part of `A + T` vanish from the
 * cofactorless verification equation.
 */
export function signWithScalar(
  scalar: bigint,
  publicKey: Uint8Array,
  message: Uint8Array,
  accept: (k: bigint) => boolean = () => true,
): Uint8Array {
  for (let i = 0; i < 256; i++) {
    const r = bytesToNumberLE(randomBytes(64)) % L;
    if (r === 0n) continue;
    const R = Point.BASE.multiply(r).toBytes();
    const k = bytesToNumberLE(sha512(concatBytes(R, publicKey, message))) % L;
    if (!accept(k)) continue;
    const s = (r + k * scalar) % L;
    return concatBytes(R, numberToBytesLE(s, 32));
  }
  throw new Error('no acceptable nonce in 256 tries');
}

/** A signature "by" `publicKey` = [scalar]B + T that verifies cofactorless (k ≡ 0 mod 8). */
export function signForTorsionAlias(
  scalar: bigint,
  publicKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  return signWithScalar(scalar, publicKey, message, (k) => k % 8n === 0n);
}

/** −scalar mod L: the scalar of −A. */
export function negateScalar(scalar: bigint): bigint {
  return (L - scalar) % L;
}
