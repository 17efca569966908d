/**
 * OpenSSH public keys (RFC 4253 §6.6 blobs, RFC 8709 for `ssh-ed25519`): the one-line
 * `.pub` format `ssh-ed25519 AAAA… comment` and the `SHA256:` fingerprint that
 * `ssh-keygen -lf` prints (unpadded base64 of SHA-256 over the key blob). DESIGN.md §4.
 */
import { createHash } from 'node:crypto';
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

/** Encodes an Ed25519 public key as an SSH key blob (`string type ‖ string key`). */
export function ed25519Blob(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  if (key.length !== 32) throw new RangeError('publicKey must be 32 bytes');
  return new WireWriter().string(ED25519_KEY_TYPE).string(key).finish();
}

/** `SHA256:` fingerprint of any SSH key blob, as `ssh-keygen -lf` prints it. */
export function blobFingerprint(blob: Uint8Array): string {
  const digest = createHash('sha256').update(blob).digest('base64');
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
 * @throws {KeyFormatError} for any other key type or a malformed line.
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
