/**
 * OpenSSH public keys (RFC 4253 §6.6 blobs, RFC 8709 for `ssh-ed25519`): the one-line
 * `.pub` format `ssh-ed25519 AAAA… comment` and the `SHA256:` fingerprint that
 * `ssh-keygen -lf` prints (unpadded base64 of SHA-256 over the key blob), and the checks
 * that make one Ed25519 key one identity (docs/security.md, "One key, one identity"):
 * a key is trusted by its exact bytes only when those bytes are the canonical encoding
 * (RFC 8032 §5.1.3) of a point in the prime-order subgroup.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeyFormatError } from '../errors.js';
import { decodeBase64, encodeBase64, WireReader, WireWriter } from './wire.js';

/** The only key type keyway identities use. */
export const ED25519_KEY_TYPE = 'ssh-ed25519';

/** Longest public key line accepted; OpenSSH's own limit for key lines is 16 KiB. */
export const MAX_PUBLIC_KEY_LINE = 16 * 1024;

/** A parsed Ed25519 public key line. */
export interface ParsedPublicKey {
  /** Always `'ssh-ed25519'`. */
  type: 'ssh-ed25519';
  /** The 32-byte Ed25519 public key. */
  key: Uint8Array;
  /** The comment after the key, or `''`. */
  comment: string;
  /** `SHA256:…` exactly as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/**
 * Why `key` cannot stand for an identity, or undefined when it can: it must be the
 * canonical encoding of an Ed25519 point (`y < p`, no "negative zero" `x`) and the point
 * must not be of small order. With `full` (the default) the bytes must also decode to a
 * curve point in the prime-order subgroup: `A + T` for a small-order `T` would otherwise
 * be an alias of `A` (the same X25519 results, another fingerprint). The full check costs
 * a scalar multiplication (about a millisecond in pure JS), so keys that passed are
 * remembered; without `full` the check only compares bytes, like libsodium's
 * `has_small_order`.
 */
export function ed25519KeyProblem(key: Uint8Array, full = true): string | undefined {
  if (!(key instanceof Uint8Array) || key.length !== 32) return 'ed25519 key is not 32 bytes';
  if (!isCanonicalY(key)) return 'ed25519 key is not a canonical encoding of a curve point';
  const hex = hexOf(key);
  if (SMALL_ORDER_ENCODINGS.has(hex)) return 'ed25519 key is a point of small order';
  if (NEGATIVE_ZERO_ENCODINGS.has(hex)) {
    return 'ed25519 key is not a canonical encoding of a curve point';
  }
  if (!full || torsionFreeKeys.has(hex)) return undefined;
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    // zip215 = false: RFC 8032's strict decoding.
    point = ed25519.Point.fromBytes(key, false);
  } catch {
    return 'ed25519 key is not a curve point';
  }
  if (!point.isTorsionFree()) return 'ed25519 key has a small-order component';
  if (torsionFreeKeys.size >= MAX_REMEMBERED_KEYS) {
    // Forget the oldest: a Set iterates in insertion order.
    const oldest = torsionFreeKeys.values().next().value;
    if (oldest !== undefined) torsionFreeKeys.delete(oldest);
  }
  torsionFreeKeys.add(hex);
  return undefined;
}

/** `y < p = 2^255 − 19`, reading the 255 low bits little-endian (the top bit is x's sign). */
function isCanonicalY(key: Uint8Array): boolean {
  if ((key[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (key[i] !== 0xff) return true;
  return key[0]! < 0xed;
}

/** The canonical encodings of the 8 points of order dividing 8 (libsodium's list). */
const SMALL_ORDER_ENCODINGS: ReadonlySet<string> = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
]);

/** x = 0 with the sign bit set: the only other way to encode the two points with x = 0. */
const NEGATIVE_ZERO_ENCODINGS: ReadonlySet<string> = new Set([
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
]);

/**
 * Throws unless `key` passes {@link ed25519KeyProblem}'s full check.
 * @throws {KeyFormatError} naming what is wrong with the key.
 */
export function checkEd25519PublicKey(key: Uint8Array): void {
  const problem = ed25519KeyProblem(key);
  if (problem !== undefined) throw new KeyFormatError(problem);
}

/** How many keys that passed the full check are remembered (each a 64-character string). */
const MAX_REMEMBERED_KEYS = 4096;
const torsionFreeKeys = new Set<string>();

function hexOf(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** Encodes an Ed25519 public key as an SSH key blob (`string type ‖ string key`). */
export function ed25519Blob(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  if (key.length !== 32) throw new RangeError('publicKey must be 32 bytes');
  return new WireWriter().string(ED25519_KEY_TYPE).string(key).finish();
}

/** `SHA256:` fingerprint of any SSH key blob, as `ssh-keygen -lf` prints it. */
export function blobFingerprint(blob: Uint8Array): string {
  const digest = encodeBase64(sha256(blob));
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** `SHA256:` fingerprint of an Ed25519 public key. */
export function ed25519Fingerprint(key: Uint8Array): string {
  return blobFingerprint(ed25519Blob(key));
}

/** `ssh-ed25519 AAAA… comment` (no trailing newline; no comment part when empty). */
export function ed25519PublicLine(key: Uint8Array, comment = ''): string {
  const base = `${ED25519_KEY_TYPE} ${encodeBase64(ed25519Blob(key))}`;
  return comment === '' ? base : `${base} ${comment}`;
}

/**
 * Decodes the base64 key field of a line into its blob and, for Ed25519, the key.
 * @returns the blob and key, or a reason the field is unusable.
 */
export function decodeKeyField(
  type: string,
  base64: string,
): { blob: Uint8Array; key?: Uint8Array } | { error: string } {
  const blob = decodeBase64(base64);
  if (blob === undefined || blob.length === 0) return { error: 'key is not valid base64' };
  try {
    const reader = new WireReader(blob);
    const inner = reader.text('key type');
    if (inner !== type) return { error: `key type field "${type}" does not match blob` };
    if (type !== ED25519_KEY_TYPE) return { blob };
    const key = reader.string('ed25519 key');
    if (key.length !== 32) return { error: 'ed25519 key is not 32 bytes' };
    if (reader.remaining !== 0) return { error: 'trailing bytes after ed25519 key' };
    // Database lines get the byte comparisons only, so that a large known_hosts loads
    // fast; a line whose key is no point or has a small-order component still never
    // matches, because every key a peer presents passes the full check before lookup.
    const problem = ed25519KeyProblem(key, false);
    if (problem !== undefined) return { error: problem };
    return { blob, key: new Uint8Array(key) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : 'malformed key blob' };
  }
}

/**
 * Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`), as found in `.pub`
 * files.
 * @param line - the line; surrounding whitespace is ignored.
 * @returns the key, its comment and its fingerprint.
 * @throws {KeyFormatError} for any other key type, a malformed line, or a key that is not
 *   the canonical encoding of a point in the prime-order subgroup.
 * @example
 * const { fingerprint } = parsePublicKey(readFileSync('id_ed25519.pub', 'utf8'));
 */
export function parsePublicKey(line: string): ParsedPublicKey {
  if (typeof line !== 'string') throw new TypeError('line must be a string');
  if (line.length > MAX_PUBLIC_KEY_LINE) throw new KeyFormatError('public key line too long');
  const trimmed = line.trim();
  if (/[\r\n\0]/.test(trimmed)) throw new KeyFormatError('public key must be a single line');
  const fields = splitFields(trimmed, 2);
  if (fields === undefined) throw new KeyFormatError('not an OpenSSH public key line');
  const [type = '', base64 = '', comment = ''] = fields;
  if (type !== ED25519_KEY_TYPE) {
    throw new KeyFormatError(`unsupported key type "${type.slice(0, 40)}" (need ssh-ed25519)`);
  }
  const decoded = decodeKeyField(type, base64);
  if ('error' in decoded) throw new KeyFormatError(decoded.error);
  if (decoded.key === undefined) throw new KeyFormatError('missing ed25519 key');
  checkEd25519PublicKey(decoded.key);
  return {
    type: ED25519_KEY_TYPE,
    key: decoded.key,
    comment,
    fingerprint: blobFingerprint(decoded.blob),
  };
}

/**
 * Splits the first `count` blank-separated fields off a line; the rest (trimmed, with its
 * inner spacing kept) comes last. Linear time whatever the input.
 * @returns `count` fields and the rest, or undefined when there are fewer fields.
 */
export function splitFields(line: string, count: number): string[] | undefined {
  const out: string[] = [];
  let index = 0;
  const isBlank = (c: number): boolean => c === 0x20 || c === 0x09;
  for (let field = 0; field < count; field++) {
    while (index < line.length && isBlank(line.charCodeAt(index))) index++;
    const start = index;
    while (index < line.length && !isBlank(line.charCodeAt(index))) index++;
    if (index === start) return undefined;
    out.push(line.slice(start, index));
  }
  out.push(line.slice(index).trim());
  return out;
}
