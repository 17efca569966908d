/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) in plain JavaScript for small messages, the key's
 * words read into this thread's scratch per message. A channel frame of a trivial call
 * is ~50 bytes: sealing it through `node:crypto` costs a native cipher object, its
 * initialisation and three native calls, several times the cipher's own work; sealing it
 * here costs two ChaCha20 blocks and a few Poly1305 blocks, written straight into the
 * caller's buffer. The bytes are those of any RFC 8439 implementation (tested against
 * `node:crypto` and the RFC's vectors); larger messages stay with the crypto provider.
 *
 * Portable: no Node API, so browsers take the same path. Every step runs on 32-bit
 * integers or 13-bit limbs (Poly1305 after poly1305-donna's 16-bit variant), with no
 * branch or index that depends on secret data; the tag comparison is constant-time.
 */
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, checkLength } from './provider.js';

/** "expand 32-byte k" (RFC 8439 §2.3). */
const C0 = 0x61707865;
const C1 = 0x3320646e;
const C2 = 0x79622d32;
const C3 = 0x6b206574;

/**
 * Scratch of this thread, consumed synchronously by each call: the ChaCha20 block just
 * computed, Poly1305's accumulator and key, one padded block of the MAC input and the tag.
 * All of it is wiped after every message, sealed or opened, verified or not: the tag of a
 * forged message is the valid tag for its ciphertext, and must not outlive the call.
 */
const SCRATCH = new ArrayBuffer(64 + 20 + 20 + 16 + 16 + AEAD_TAG_BYTES + 32);
const BLOCK = new Uint32Array(SCRATCH, 0, 16);
const H = new Uint16Array(SCRATCH, 64, 10);
const R = new Uint16Array(SCRATCH, 84, 10);
const PAD = new Uint16Array(SCRATCH, 104, 8);
const LAST = new Uint8Array(SCRATCH, 120, 16);
const TAG = new Uint8Array(SCRATCH, 136, AEAD_TAG_BYTES);
/** The key of the message at hand, as ChaCha20's eight words. */
const KEY = new Uint32Array(SCRATCH, 152, 8);
/** All of the above, to wipe in one call. */
const ALL = new Uint8Array(SCRATCH);

/**
 * @internal A copy of each scratch array of this module, for tests that check that all
 * of them are wiped between messages.
 */
export function scratchSnapshot(): Uint8Array[] {
  return [BLOCK, H, R, PAD, LAST, TAG, KEY].map((view) =>
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice(),
  );
}

/** Throws a RangeError naming `name` unless `value` is a non-negative integer. */
function checkIndex(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

/**
 * True when the `aLength` bytes of `a` from `aAt` and the `bLength` bytes of `b` from
 * `bAt` share memory without starting at the same byte.
 */
function overlapsUnevenly(
  a: Uint8Array,
  aAt: number,
  aLength: number,
  b: Uint8Array,
  bAt: number,
  bLength: number,
): boolean {
  if (aLength === 0 || bLength === 0 || a.buffer !== b.buffer) return false;
  const x = a.byteOffset + aAt;
  const y = b.byteOffset + bAt;
  return x !== y && x < y + bLength && y < x + aLength;
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

const word = (b: Uint8Array, i: number): number =>
  b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

/** One ChaCha20 block (RFC 8439 §2.3) into {@link BLOCK}. */
function chachaBlock(k: Uint32Array, counter: number, n0: number, n1: number, n2: number): void {
  const k0 = k[0]!;
  const k1 = k[1]!;
  const k2 = k[2]!;
  const k3 = k[3]!;
  const k4 = k[4]!;
  const k5 = k[5]!;
  const k6 = k[6]!;
  const k7 = k[7]!;
  let x0 = C0;
  let x1 = C1;
  let x2 = C2;
  let x3 = C3;
  let x4 = k0;
  let x5 = k1;
  let x6 = k2;
  let x7 = k3;
  let x8 = k4;
  let x9 = k5;
  let x10 = k6;
  let x11 = k7;
  let x12 = counter;
  let x13 = n0;
  let x14 = n1;
  let x15 = n2;
  for (let round = 0; round < 10; round++) {
    // Columns.
    x0 = (x0 + x4) | 0;
    x12 = rotl(x12 ^ x0, 16);
    x8 = (x8 + x12) | 0;
    x4 = rotl(x4 ^ x8, 12);
    x0 = (x0 + x4) | 0;
    x12 = rotl(x12 ^ x0, 8);
    x8 = (x8 + x12) | 0;
    x4 = rotl(x4 ^ x8, 7);
    x1 = (x1 + x5) | 0;
    x13 = rotl(x13 ^ x1, 16);
    x9 = (x9 + x13) | 0;
    x5 = rotl(x5 ^ x9, 12);
    x1 = (x1 + x5) | 0;
    x13 = rotl(x13 ^ x1, 8);
    x9 = (x9 + x13) | 0;
    x5 = rotl(x5 ^ x9, 7);
    x2 = (x2 + x6) | 0;
    x14 = rotl(x14 ^ x2, 16);
    x10 = (x10 + x14) | 0;
    x6 = rotl(x6 ^ x10, 12);
    x2 = (x2 + x6) | 0;
    x14 = rotl(x14 ^ x2, 8);
    x10 = (x10 + x14) | 0;
    x6 = rotl(x6 ^ x10, 7);
    x3 = (x3 + x7) | 0;
    x15 = rotl(x15 ^ x3, 16);
    x11 = (x11 + x15) | 0;
    x7 = rotl(x7 ^ x11, 12);
    x3 = (x3 + x7) | 0;
    x15 = rotl(x15 ^ x3, 8);
    x11 = (x11 + x15) | 0;
    x7 = rotl(x7 ^ x11, 7);
    // Diagonals.
    x0 = (x0 + x5) | 0;
    x15 = rotl(x15 ^ x0, 16);
    x10 = (x10 + x15) | 0;
    x5 = rotl(x5 ^ x10, 12);
    x0 = (x0 + x5) | 0;
    x15 = rotl(x15 ^ x0, 8);
    x10 = (x10 + x15) | 0;
    x5 = rotl(x5 ^ x10, 7);
    x1 = (x1 + x6) | 0;
    x12 = rotl(x12 ^ x1, 16);
    x11 = (x11 + x12) | 0;
    x6 = rotl(x6 ^ x11, 12);
    x1 = (x1 + x6) | 0;
    x12 = rotl(x12 ^ x1, 8);
    x11 = (x11 + x12) | 0;
    x6 = rotl(x6 ^ x11, 7);
    x2 = (x2 + x7) | 0;
    x13 = rotl(x13 ^ x2, 16);
    x8 = (x8 + x13) | 0;
    x7 = rotl(x7 ^ x8, 12);
    x2 = (x2 + x7) | 0;
    x13 = rotl(x13 ^ x2, 8);
    x8 = (x8 + x13) | 0;
    x7 = rotl(x7 ^ x8, 7);
    x3 = (x3 + x4) | 0;
    x14 = rotl(x14 ^ x3, 16);
    x9 = (x9 + x14) | 0;
    x4 = rotl(x4 ^ x9, 12);
    x3 = (x3 + x4) | 0;
    x14 = rotl(x14 ^ x3, 8);
    x9 = (x9 + x14) | 0;
    x4 = rotl(x4 ^ x9, 7);
  }
  BLOCK[0] = x0 + C0;
  BLOCK[1] = x1 + C1;
  BLOCK[2] = x2 + C2;
  BLOCK[3] = x3 + C3;
  BLOCK[4] = x4 + k0;
  BLOCK[5] = x5 + k1;
  BLOCK[6] = x6 + k2;
  BLOCK[7] = x7 + k3;
  BLOCK[8] = x8 + k4;
  BLOCK[9] = x9 + k5;
  BLOCK[10] = x10 + k6;
  BLOCK[11] = x11 + k7;
  BLOCK[12] = x12 + counter;
  BLOCK[13] = x13 + n0;
  BLOCK[14] = x14 + n1;
  BLOCK[15] = x15 + n2;
}

/** XORs `n` bytes of `from` at `i` with the keystream of counters 1.. into `to` at `o`. */
function xorStream(
  k: Uint32Array,
  n0: number,
  n1: number,
  n2: number,
  from: Uint8Array,
  i: number,
  to: Uint8Array,
  o: number,
  n: number,
): void {
  let counter = 1;
  for (let done = 0; done < n; done += 64) {
    chachaBlock(k, counter++, n0, n1, n2);
    const end = Math.min(64, n - done);
    let j = 0;
    for (; j + 4 <= end; j += 4) {
      const w = BLOCK[j >>> 2]!;
      const at = done + j;
      to[o + at] = from[i + at]! ^ (w & 0xff);
      to[o + at + 1] = from[i + at + 1]! ^ ((w >>> 8) & 0xff);
      to[o + at + 2] = from[i + at + 2]! ^ ((w >>> 16) & 0xff);
      to[o + at + 3] = from[i + at + 3]! ^ (w >>> 24);
    }
    for (; j < end; j++) {
      const at = done + j;
      to[o + at] = from[i + at]! ^ ((BLOCK[j >>> 2]! >>> ((j & 3) << 3)) & 0xff);
    }
  }
}

/** Poly1305's key from the first half of {@link BLOCK}: `r` clamped into limbs, `s`. */
function polyKey(): void {
  const w0 = BLOCK[0]!;
  const w1 = BLOCK[1]!;
  const w2 = BLOCK[2]!;
  const w3 = BLOCK[3]!;
  const t0 = w0 & 0xffff;
  const t1 = w0 >>> 16;
  const t2 = w1 & 0xffff;
  const t3 = w1 >>> 16;
  const t4 = w2 & 0xffff;
  const t5 = w2 >>> 16;
  const t6 = w3 & 0xffff;
  const t7 = w3 >>> 16;
  // The clamp of RFC 8439 §2.5 is folded into the masks.
  R[0] = t0 & 0x1fff;
  R[1] = ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
  R[2] = ((t1 >>> 10) | (t2 << 6)) & 0x1f03;
  R[3] = ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
  R[4] = ((t3 >>> 4) | (t4 << 12)) & 0x00ff;
  R[5] = (t4 >>> 1) & 0x1ffe;
  R[6] = ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
  R[7] = ((t5 >>> 11) | (t6 << 5)) & 0x1f81;
  R[8] = ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
  R[9] = (t7 >>> 5) & 0x007f;
  for (let i = 0; i < 4; i++) {
    const w = BLOCK[4 + i]!;
    PAD[2 * i] = w & 0xffff;
    PAD[2 * i + 1] = w >>> 16;
  }
  H.fill(0);
}

/** Absorbs 16-byte blocks of `m` from `at` for `n` bytes (a multiple of 16) into {@link H}. */
function polyBlocks(m: Uint8Array, at: number, n: number): void {
  const r0 = R[0]!;
  const r1 = R[1]!;
  const r2 = R[2]!;
  const r3 = R[3]!;
  const r4 = R[4]!;
  const r5 = R[5]!;
  const r6 = R[6]!;
  const r7 = R[7]!;
  const r8 = R[8]!;
  const r9 = R[9]!;
  const s1 = 5 * r1;
  const s2 = 5 * r2;
  const s3 = 5 * r3;
  const s4 = 5 * r4;
  const s5 = 5 * r5;
  const s6 = 5 * r6;
  const s7 = 5 * r7;
  const s8 = 5 * r8;
  const s9 = 5 * r9;
  let h0 = H[0]!;
  let h1 = H[1]!;
  let h2 = H[2]!;
  let h3 = H[3]!;
  let h4 = H[4]!;
  let h5 = H[5]!;
  let h6 = H[6]!;
  let h7 = H[7]!;
  let h8 = H[8]!;
  let h9 = H[9]!;
  for (let end = at + n; at < end; at += 16) {
    const t0 = m[at]! | (m[at + 1]! << 8);
    const t1 = m[at + 2]! | (m[at + 3]! << 8);
    const t2 = m[at + 4]! | (m[at + 5]! << 8);
    const t3 = m[at + 6]! | (m[at + 7]! << 8);
    const t4 = m[at + 8]! | (m[at + 9]! << 8);
    const t5 = m[at + 10]! | (m[at + 11]! << 8);
    const t6 = m[at + 12]! | (m[at + 13]! << 8);
    const t7 = m[at + 14]! | (m[at + 15]! << 8);
    h0 += t0 & 0x1fff;
    h1 += ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
    h2 += ((t1 >>> 10) | (t2 << 6)) & 0x1fff;
    h3 += ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
    h4 += ((t3 >>> 4) | (t4 << 12)) & 0x1fff;
    h5 += (t4 >>> 1) & 0x1fff;
    h6 += ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
    h7 += ((t5 >>> 11) | (t6 << 5)) & 0x1fff;
    h8 += ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
    // Every block of the AEAD's MAC input is whole (padded), so each gets the 2^128 bit.
    h9 += (t7 >>> 5) | 0x800;

    // h *= r mod 2^130 - 5, each limb's sum in two halves so that it stays below 2^32.
    let c = 0;
    let d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6;
    c = d0 >>> 13;
    d0 &= 0x1fff;
    d0 += h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
    c += d0 >>> 13;
    d0 &= 0x1fff;
    let d1 = c + h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7;
    c = d1 >>> 13;
    d1 &= 0x1fff;
    d1 += h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
    c += d1 >>> 13;
    d1 &= 0x1fff;
    let d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8;
    c = d2 >>> 13;
    d2 &= 0x1fff;
    d2 += h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
    c += d2 >>> 13;
    d2 &= 0x1fff;
    let d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9;
    c = d3 >>> 13;
    d3 &= 0x1fff;
    d3 += h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
    c += d3 >>> 13;
    d3 &= 0x1fff;
    let d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
    c = d4 >>> 13;
    d4 &= 0x1fff;
    d4 += h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
    c += d4 >>> 13;
    d4 &= 0x1fff;
    let d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1;
    c = d5 >>> 13;
    d5 &= 0x1fff;
    d5 += h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
    c += d5 >>> 13;
    d5 &= 0x1fff;
    let d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2;
    c = d6 >>> 13;
    d6 &= 0x1fff;
    d6 += h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
    c += d6 >>> 13;
    d6 &= 0x1fff;
    let d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3;
    c = d7 >>> 13;
    d7 &= 0x1fff;
    d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
    c += d7 >>> 13;
    d7 &= 0x1fff;
    let d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4;
    c = d8 >>> 13;
    d8 &= 0x1fff;
    d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
    c += d8 >>> 13;
    d8 &= 0x1fff;
    let d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5;
    c = d9 >>> 13;
    d9 &= 0x1fff;
    d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
    c += d9 >>> 13;
    d9 &= 0x1fff;
    c = ((c << 2) + c) | 0;
    c = (c + d0) | 0;
    d0 = c & 0x1fff;
    c >>>= 13;
    d1 += c;
    h0 = d0;
    h1 = d1;
    h2 = d2;
    h3 = d3;
    h4 = d4;
    h5 = d5;
    h6 = d6;
    h7 = d7;
    h8 = d8;
    h9 = d9;
  }
  H[0] = h0;
  H[1] = h1;
  H[2] = h2;
  H[3] = h3;
  H[4] = h4;
  H[5] = h5;
  H[6] = h6;
  H[7] = h7;
  H[8] = h8;
  H[9] = h9;
}

/** Absorbs `n` bytes of `m` from `at`, zero-padded to a whole block (RFC 8439 §2.8). */
function polyPadded(m: Uint8Array, at: number, n: number): void {
  const whole = n & ~15;
  if (whole > 0) polyBlocks(m, at, whole);
  const rest = n - whole;
  if (rest === 0) return;
  for (let j = 0; j < 16; j++) LAST[j] = j < rest ? m[at + whole + j]! : 0;
  polyBlocks(LAST, 0, 16);
}

/** Absorbs the lengths block, then writes the tag `(h mod 2^130 - 5) + s` into {@link TAG}. */
function polyFinish(adLength: number, textLength: number): void {
  LAST.fill(0);
  writeLength(LAST, 0, adLength);
  writeLength(LAST, 8, textLength);
  polyBlocks(LAST, 0, 16);
  // Carry fully.
  let h0 = H[0]!;
  let h1 = H[1]!;
  let h2 = H[2]!;
  let h3 = H[3]!;
  let h4 = H[4]!;
  let h5 = H[5]!;
  let h6 = H[6]!;
  let h7 = H[7]!;
  let h8 = H[8]!;
  let h9 = H[9]!;
  let c = h1 >>> 13;
  h1 &= 0x1fff;
  h2 += c;
  c = h2 >>> 13;
  h2 &= 0x1fff;
  h3 += c;
  c = h3 >>> 13;
  h3 &= 0x1fff;
  h4 += c;
  c = h4 >>> 13;
  h4 &= 0x1fff;
  h5 += c;
  c = h5 >>> 13;
  h5 &= 0x1fff;
  h6 += c;
  c = h6 >>> 13;
  h6 &= 0x1fff;
  h7 += c;
  c = h7 >>> 13;
  h7 &= 0x1fff;
  h8 += c;
  c = h8 >>> 13;
  h8 &= 0x1fff;
  h9 += c;
  c = h9 >>> 13;
  h9 &= 0x1fff;
  h0 += c * 5;
  c = h0 >>> 13;
  h0 &= 0x1fff;
  h1 += c;
  c = h1 >>> 13;
  h1 &= 0x1fff;
  h2 += c;
  // g = h + 5 - 2^130: h mod p is g when h + 5 reaches 2^130 (h >= p), else h.
  let g0 = h0 + 5;
  c = g0 >>> 13;
  g0 &= 0x1fff;
  let g1 = h1 + c;
  c = g1 >>> 13;
  g1 &= 0x1fff;
  let g2 = h2 + c;
  c = g2 >>> 13;
  g2 &= 0x1fff;
  let g3 = h3 + c;
  c = g3 >>> 13;
  g3 &= 0x1fff;
  let g4 = h4 + c;
  c = g4 >>> 13;
  g4 &= 0x1fff;
  let g5 = h5 + c;
  c = g5 >>> 13;
  g5 &= 0x1fff;
  let g6 = h6 + c;
  c = g6 >>> 13;
  g6 &= 0x1fff;
  let g7 = h7 + c;
  c = g7 >>> 13;
  g7 &= 0x1fff;
  let g8 = h8 + c;
  c = g8 >>> 13;
  g8 &= 0x1fff;
  let g9 = h9 + c;
  c = g9 >>> 13;
  g9 &= 0x1fff;
  const takeG = -c | 0;
  const keepH = ~takeG;
  h0 = (h0 & keepH) | (g0 & takeG);
  h1 = (h1 & keepH) | (g1 & takeG);
  h2 = (h2 & keepH) | (g2 & takeG);
  h3 = (h3 & keepH) | (g3 & takeG);
  h4 = (h4 & keepH) | (g4 & takeG);
  h5 = (h5 & keepH) | (g5 & takeG);
  h6 = (h6 & keepH) | (g6 & takeG);
  h7 = (h7 & keepH) | (g7 & takeG);
  h8 = (h8 & keepH) | (g8 & takeG);
  h9 = (h9 & keepH) | (g9 & takeG);
  // Back to eight 16-bit words, plus s, little-endian.
  let f = ((h0 | (h1 << 13)) & 0xffff) + PAD[0]!;
  TAG[0] = f;
  TAG[1] = f >>> 8;
  f = (((h1 >>> 3) | (h2 << 10)) & 0xffff) + PAD[1]! + (f >>> 16);
  TAG[2] = f;
  TAG[3] = f >>> 8;
  f = (((h2 >>> 6) | (h3 << 7)) & 0xffff) + PAD[2]! + (f >>> 16);
  TAG[4] = f;
  TAG[5] = f >>> 8;
  f = (((h3 >>> 9) | (h4 << 4)) & 0xffff) + PAD[3]! + (f >>> 16);
  TAG[6] = f;
  TAG[7] = f >>> 8;
  f = (((h4 >>> 12) | (h5 << 1) | (h6 << 14)) & 0xffff) + PAD[4]! + (f >>> 16);
  TAG[8] = f;
  TAG[9] = f >>> 8;
  f = (((h6 >>> 2) | (h7 << 11)) & 0xffff) + PAD[5]! + (f >>> 16);
  TAG[10] = f;
  TAG[11] = f >>> 8;
  f = (((h7 >>> 5) | (h8 << 8)) & 0xffff) + PAD[6]! + (f >>> 16);
  TAG[12] = f;
  TAG[13] = f >>> 8;
  f = (((h8 >>> 8) | (h9 << 5)) & 0xffff) + PAD[7]! + (f >>> 16);
  TAG[14] = f;
  TAG[15] = f >>> 8;
}

/** A little-endian u64 of a length below 2^53. */
function writeLength(to: Uint8Array, at: number, n: number): void {
  const low = n >>> 0;
  const high = Math.floor(n / 0x1_0000_0000);
  to[at] = low & 0xff;
  to[at + 1] = (low >>> 8) & 0xff;
  to[at + 2] = (low >>> 16) & 0xff;
  to[at + 3] = low >>> 24;
  to[at + 4] = high & 0xff;
  to[at + 5] = (high >>> 8) & 0xff;
  to[at + 6] = (high >>> 16) & 0xff;
  to[at + 7] = high >>> 24;
}

/** Wipes the scratch: keystream, Poly1305's key, state and last block, and the tag. */
function wipeScratch(): void {
  ALL.fill(0);
}

/** The 32-byte key at `keyAt` of `key` as ChaCha20's words in {@link KEY}, wiped with the scratch. */
function expandKey(key: Uint8Array, keyAt: number): Uint32Array {
  // A key cut off at the end of its buffer would read as zeros, silently.
  if (!(keyAt >= 0 && key.length - keyAt >= 32) || !Number.isInteger(keyAt))
    throw new RangeError('no 32-byte key there');
  for (let i = 0; i < 8; i++) KEY[i] = word(key, keyAt + 4 * i);
  return KEY;
}

/**
 * @internal Seals the `n` bytes of `from` at `i` with the 32-byte key at `keyAt` of `key`,
 * writing ciphertext then tag into `out` at `at`. Nothing is checked but the nonce's
 * length: the caller has checked the indices, the room in `out` and that `out` overlaps
 * `from` only exactly. For key holders that keep their key inside a larger buffer (a
 * channel keeps both of its keys in one), so that no object per key is needed.
 */
export function sealSmall(
  key: Uint8Array,
  keyAt: number,
  nonce: Uint8Array,
  ad: Uint8Array,
  from: Uint8Array,
  i: number,
  n: number,
  out: Uint8Array,
  at: number,
): void {
  checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
  const k = expandKey(key, keyAt);
  const n0 = word(nonce, 0);
  const n1 = word(nonce, 4);
  const n2 = word(nonce, 8);
  chachaBlock(k, 0, n0, n1, n2);
  polyKey();
  // The associated data is MACed first (RFC 8439 §2.8), before any output is written,
  // so that it is read as given even when it lies in `out`.
  if (ad.length > 0) polyPadded(ad, 0, ad.length);
  xorStream(k, n0, n1, n2, from, i, out, at, n);
  polyPadded(out, at, n);
  polyFinish(ad.length, n);
  out.set(TAG, at + n);
  wipeScratch();
}

/**
 * @internal Checks the tag of `sealed` (`n` bytes of ciphertext then the tag) with the
 * 32-byte key at `keyAt` of `key` and, only when it verifies, writes the plaintext into
 * `out` at `at`. As {@link sealSmall}, the caller has checked the rest.
 * @returns false, writing nothing, when the tag does not verify.
 */
export function openSmall(
  key: Uint8Array,
  keyAt: number,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: Uint8Array,
  n: number,
  out: Uint8Array,
  at: number,
): boolean {
  checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
  const k = expandKey(key, keyAt);
  const n0 = word(nonce, 0);
  const n1 = word(nonce, 4);
  const n2 = word(nonce, 8);
  chachaBlock(k, 0, n0, n1, n2);
  polyKey();
  if (ad.length > 0) polyPadded(ad, 0, ad.length);
  polyPadded(sealed, 0, n);
  polyFinish(ad.length, n);
  let diff = 0;
  for (let i = 0; i < AEAD_TAG_BYTES; i++) diff |= TAG[i]! ^ sealed[n + i]!;
  if (diff !== 0) {
    wipeScratch();
    return false;
  }
  xorStream(k, n0, n1, n2, sealed, 0, out, at, n);
  wipeScratch();
  return true;
}

/**
 * One ChaCha20-Poly1305 key; seals and opens into buffers the caller gives. Meant for small
 * messages: its cost grows with the length faster than `node:crypto`'s does. (A channel's
 * cipher states call {@link sealSmall} and {@link openSmall} with their key where it lies,
 * and make no object of this class.)
 */
export class SmallAead {
  // A reference, not a copy: its words are read into this thread's scratch per message
  // (eight reads, against the twenty rounds of every block).
  readonly #key: Uint8Array;

  /**
   * @param key - the 32-byte key; kept by reference, so the caller owns it and leaves it
   *   unchanged while this object is used (CipherState passes its private copy).
   * @throws {RangeError} when `key` is not 32 bytes.
   */
  constructor(key: Uint8Array) {
    checkLength(key, AEAD_KEY_BYTES, 'key');
    this.#key = key;
  }

  /**
   * Encrypts `plaintext` and writes ciphertext then tag (`plaintext.length + 16` bytes)
   * into `out` from `at`. `out` may hold `plaintext` exactly where the ciphertext goes (in
   * place), but must not overlap it otherwise; `ad` may overlap anything, since it is read
   * before anything is written.
   * @throws {RangeError} when the nonce is not 12 bytes, `at` is not a non-negative
   *   integer, `out` is too short, or `out` overlaps `plaintext` other than exactly.
   */
  seal(
    nonce: Uint8Array,
    ad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    at: number,
  ): void {
    checkIndex(at, 'at');
    const n = plaintext.length;
    if (out.length - at < n + AEAD_TAG_BYTES) throw new RangeError('output too short');
    if (overlapsUnevenly(out, at, n + AEAD_TAG_BYTES, plaintext, 0, n))
      throw new RangeError('output overlaps the plaintext other than exactly');
    sealSmall(this.#key, 0, nonce, ad, plaintext, 0, n, out, at);
  }

  /**
   * {@link SmallAead.seal} into a new array of its own.
   * @returns ciphertext then tag.
   * @throws {RangeError} when the nonce is not 12 bytes.
   */
  sealToNew(nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const n = plaintext.length;
    const out = new Uint8Array(n + AEAD_TAG_BYTES);
    sealSmall(this.#key, 0, nonce, ad, plaintext, 0, n, out, 0);
    return out;
  }

  /**
   * Encrypts the `length` bytes of `buffer` from `at` where they lie, and writes the tag
   * right after them.
   * @throws {RangeError} when the nonce is not 12 bytes, `at` or `length` is not a
   *   non-negative integer, or `buffer` has no room for the message and its tag.
   */
  sealInPlace(
    nonce: Uint8Array,
    ad: Uint8Array,
    buffer: Uint8Array,
    at: number,
    length: number,
  ): void {
    checkIndex(at, 'at');
    checkIndex(length, 'length');
    if (buffer.length - at < length + AEAD_TAG_BYTES) throw new RangeError('output too short');
    sealSmall(this.#key, 0, nonce, ad, buffer, at, length, buffer, at);
  }

  /**
   * Checks the tag of `sealed` (ciphertext then tag) and, only when it verifies, writes
   * the plaintext (`sealed.length - 16` bytes) into `out` from `at`. `out` may hold
   * `sealed` exactly where the plaintext goes (in place), but must not overlap it otherwise.
   * @returns false, writing nothing, when the tag does not verify.
   * @throws {RangeError} when the nonce is not 12 bytes, `sealed` is shorter than a tag,
   *   `at` is not a non-negative integer, `out` is too short, or `out` overlaps `sealed`
   *   other than exactly.
   */
  open(
    nonce: Uint8Array,
    ad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
    at: number,
  ): boolean {
    checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
    const n = sealed.length - AEAD_TAG_BYTES;
    if (n < 0) throw new RangeError('sealed message shorter than a tag');
    checkIndex(at, 'at');
    if (out.length - at < n) throw new RangeError('output too short');
    if (overlapsUnevenly(out, at, n, sealed, 0, sealed.length))
      throw new RangeError('output overlaps the sealed message other than exactly');
    return openSmall(this.#key, 0, nonce, ad, sealed, n, out, at);
  }

  /**
   * {@link SmallAead.open} into a new array of its own.
   * @returns the plaintext, or undefined when the tag does not verify.
   * @throws {RangeError} when the nonce is not 12 bytes or `sealed` is shorter than a tag.
   */
  openToNew(nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    checkLength(nonce, AEAD_NONCE_BYTES, 'nonce');
    const n = sealed.length - AEAD_TAG_BYTES;
    if (n < 0) throw new RangeError('sealed message shorter than a tag');
    const out = new Uint8Array(n);
    return openSmall(this.#key, 0, nonce, ad, sealed, n, out, 0) ? out : undefined;
  }

  /** Overwrites the key (the caller's array, which this object uses by reference). */
  wipe(): void {
    this.#key.fill(0);
  }
}
