/**
 * SSH wire encoding (RFC 4251 §5): `uint32` big-endian integers and length-prefixed
 * `string`s, as used inside OpenSSH public key blobs and openssh-key-v1 private keys.
 * Every length read is checked against the bytes that remain, so a hostile length field
 * can never make the reader allocate or slice past the input.
 */
import { KeyFormatError } from '../errors.js';

/** Reads SSH wire values from a byte array, refusing any read past its end. */
export class WireReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /** Reads a big-endian `uint32`. @throws {KeyFormatError} when fewer than 4 bytes remain. */
  uint32(what: string): number {
    if (this.remaining < 4) throw new KeyFormatError(`truncated ${what}`);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** Reads `count` raw bytes (a view, not a copy). @throws {KeyFormatError} when truncated. */
  raw(count: number, what: string): Uint8Array {
    if (count > this.remaining) throw new KeyFormatError(`truncated ${what}`);
    const out = this.#bytes.subarray(this.#offset, this.#offset + count);
    this.#offset += count;
    return out;
  }

  /** Reads a length-prefixed `string` as bytes. @throws {KeyFormatError} when truncated. */
  string(what: string): Uint8Array {
    // The length is bounded by what remains before any slice is taken.
    return this.raw(this.uint32(what), what);
  }

  /** Reads a length-prefixed `string` as ASCII/UTF-8 text. */
  text(what: string): string {
    return new TextDecoder('utf-8', { fatal: false }).decode(this.string(what));
  }

  /** Reads the rest of the input. */
  rest(): Uint8Array {
    return this.raw(this.remaining, 'rest');
  }
}

/** Builds SSH wire values into one byte array. */
export class WireWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  /** Appends a big-endian `uint32`. */
  uint32(value: number): this {
    const part = new Uint8Array(4);
    new DataView(part.buffer).setUint32(0, value >>> 0);
    return this.raw(part);
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    this.#length += bytes.length;
    return this;
  }

  /** Appends a length-prefixed `string` (bytes or UTF-8 text). */
  string(value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    return this.uint32(bytes.length).raw(bytes);
  }

  /** Current length in bytes. */
  get length(): number {
    return this.#length;
  }

  /** Concatenates everything written so far. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

/** Strict standard base64 (with optional padding); undefined when the text is not base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  // atob() skips whitespace and Buffer's decoder skips invalid characters; OpenSSH does
  // neither, so the alphabet is checked first.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  // atob and btoa exist on Node and in browsers alike, so key files parse in both.
  const binary = atob(unpadded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  // String.fromCharCode takes its bytes as arguments: in slices, under engines' limits.
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}

/** Byte-wise equality (not constant time; for public values only). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
