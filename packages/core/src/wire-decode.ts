/**
 * The single-pass msgpack decoder of incoming messages (docs/protocol.md §2, §9;
 * docs/security.md "Decode cost per message"). It reads each message once, building its
 * values as it checks them, and refuses exactly what `scanMessage` refuses, with the same
 * reasons, in the same order: nesting deeper than the limit, container lengths larger
 * than the bytes that could hold them, map keys other than strings, the reserved byte
 * 0xc1, trailing bytes, extension types other than the three the protocol uses
 * (0 = undefined, -1 = timestamp, 0x42 = big integer) and more element units than the
 * limit allows. A container's cost is counted from its header, before it is allocated.
 *
 * Its values are those of the msgpackr configuration it replaces (`codec.ts`, kept as the
 * reference the property tests compare against): maps as `Map`, binary values as
 * `subarray`s of the message, 64-bit integers as `bigint`, strings decoded as UTF-8 with
 * U+FFFD for malformed bytes and a leading U+FEFF kept. It uses no Node-only API.
 */
import { ProtocolError } from './errors.js';
import { ELEMENT_COST } from './wire-scan.js';

const EXT_UNDEFINED = 0;
const EXT_TIMESTAMP = -1;
const EXT_BIGINT = 0x42;

/** Element units a value costs beyond the one unit counted when it was announced. */
const ARRAY_EXTRA = ELEMENT_COST.array - ELEMENT_COST.scalar;
const MAP_EXTRA = ELEMENT_COST.map - ELEMENT_COST.scalar;
const OBJECT_EXTRA = ELEMENT_COST.object - ELEMENT_COST.scalar;

/** Longest string decoded in JavaScript when it is all ASCII; longer ones go to TextDecoder. */
const ASCII_IN_JS_BYTES = 16;

/** Slots of the cache of short map keys (a power of two). */
const KEY_CACHE_SLOTS = 4096;
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SLOTS).fill(
  undefined,
);

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const fromCharCode = String.fromCharCode;
/** Big-endian reads of floats and 64-bit integers without a DataView per message. */
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const EMPTY = new Uint8Array(0);

// The message being decoded. Decoding runs start to end without calling out, so one set
// of cursors serves every decoder of the thread; `src` is dropped after each message.
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
let elements = 0;
let maxDepth = 0;
let maxElements = 0;

/** Thrown inside a decode for a refused message; turned into a {@link ProtocolError}. */
class Refusal {
  readonly reason: string;
  readonly overElements: boolean;
  constructor(reason: string, overElements: boolean) {
    this.reason = reason;
    this.overElements = overElements;
  }
}

function refuse(reason: string): never {
  throw new Refusal(reason, false);
}

function countElements(extra: number): void {
  elements += extra;
  if (elements > maxElements) throw new Refusal(`more than ${maxElements} element units`, true);
}

/** Decodes the messages of the codecs that share one pair of limits. */
export class WireDecoder {
  readonly maxDepth: number;
  /** Most element units (see `ELEMENT_COST`) one message may cost. */
  readonly maxElements: number;
  /**
   * Element units of the last message decoded: its total when accepted, the count above
   * `maxElements` when refused for that, 0 when refused for another reason.
   */
  elements = 0;

  /**
   * @param maxDepth The deepest container nesting allowed (the top-level container is 1).
   * @param maxElements Most element units a message may cost.
   */
  constructor(maxDepth: number, maxElements = Number.POSITIVE_INFINITY) {
    this.maxDepth = maxDepth;
    this.maxElements = maxElements;
  }

  /**
   * Decodes exactly one msgpack value that fills `bytes`.
   * @param bytes The message; binary values in the result are views of it.
   * @returns The value.
   * @throws {ProtocolError} `malformed message: <reason>` for a malformed message, with
   *   code `ERR_LIMIT_EXCEEDED` when it costs more element units than allowed.
   */
  decode(bytes: Uint8Array): unknown {
    src = bytes;
    pos = 0;
    end = bytes.length;
    maxDepth = this.maxDepth;
    maxElements = this.maxElements;
    elements = ELEMENT_COST.scalar;
    this.elements = 0;
    try {
      if (elements > maxElements) throw new Refusal(`more than ${maxElements} element units`, true);
      const value = readValue(0);
      if (pos !== end) refuse('trailing bytes after the message');
      this.elements = elements;
      src = EMPTY;
      return value;
    } catch (error) {
      src = EMPTY;
      if (error instanceof Refusal) {
        if (error.overElements) this.elements = elements;
        throw new ProtocolError(`malformed message: ${error.reason}`, {
          code: error.overElements ? 'ERR_LIMIT_EXCEEDED' : 'ERR_PROTOCOL',
        });
      }
      // Only the engine can throw here (a stack exhausted by a huge depth limit).
      throw new ProtocolError('malformed message', { cause: error });
    }
  }
}

/** Reads one value; `depth` is the number of containers open around it. */
function readValue(depth: number): unknown {
  if (pos >= end) refuse('truncated message');
  const token = src[pos++]!;
  if (token <= 0x7f) return token;
  if (token >= 0xe0) return token - 0x100;
  if (token <= 0x8f) return readMap(token & 0x0f, depth);
  if (token <= 0x9f) return readArray(token & 0x0f, depth);
  if (token <= 0xbf) return readString(token & 0x1f);
  switch (token) {
    case 0xc0:
      return null;
    case 0xc1:
      return refuse('reserved byte 0xc1');
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return readBinary(readLength(1));
    case 0xc5:
      return readBinary(readLength(2));
    case 0xc6:
      return readBinary(readLength(4));
    case 0xc7:
      return readExtension(1);
    case 0xc8:
      return readExtension(2);
    case 0xc9:
      return readExtension(4);
    case 0xca:
      take(4);
      return readFloat32(pos - 4);
    case 0xcb:
      take(8);
      return readFloat64(pos - 8);
    case 0xcc:
      take(1);
      return src[pos - 1]!;
    case 0xcd:
      take(2);
      return u16(pos - 2);
    case 0xce:
      take(4);
      return u32(pos - 4);
    case 0xcf:
      take(8);
      return copyToScratch(8).getBigUint64(0);
    case 0xd0:
      take(1);
      return (src[pos - 1]! << 24) >> 24;
    case 0xd1:
      take(2);
      return (u16(pos - 2) << 16) >> 16;
    case 0xd2:
      take(4);
      return u32(pos - 4) | 0;
    case 0xd3:
      take(8);
      return copyToScratch(8).getBigInt64(0);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return readFixedExtension(token);
    case 0xd9:
      return readString(readLength(1));
    case 0xda:
      return readString(readLength(2));
    case 0xdb:
      return readString(readLength(4));
    case 0xdc:
      return readArray(readLength(2), depth);
    case 0xdd:
      return readArray(readLength(4), depth);
    case 0xde:
      return readMap(readLength(2), depth);
    default: // 0xdf
      return readMap(readLength(4), depth);
  }
}

/** Reads a big-endian length of `size` bytes. */
function readLength(size: 1 | 2 | 4): number {
  if (pos + size > end) refuse('truncated length');
  const at = pos;
  pos += size;
  return size === 1 ? src[at]! : size === 2 ? u16(at) : u32(at);
}

/** Steps over `count` bytes of a value's body, refusing a body the message cuts short. */
function take(count: number): void {
  if (pos + count > end) refuse('truncated value');
  pos += count;
}

function readArray(items: number, depth: number): unknown[] {
  countElements(ARRAY_EXTRA + items);
  // Every item takes at least one byte: a longer count is a lie meant to make us allocate.
  if (items > end - pos) refuse('container length exceeds message size');
  if (depth + 1 > maxDepth) refuse(`nesting deeper than ${maxDepth}`);
  const array = new Array<unknown>(items);
  for (let i = 0; i < items; i++) array[i] = readValue(depth + 1);
  return array;
}

function readMap(entries: number, depth: number): Map<string, unknown> {
  const items = entries * 2;
  countElements(MAP_EXTRA + items);
  if (items > end - pos) refuse('container length exceeds message size');
  if (depth + 1 > maxDepth) refuse(`nesting deeper than ${maxDepth}`);
  const map = new Map<string, unknown>();
  for (let i = 0; i < entries; i++) {
    const key = readKey();
    map.set(key, readValue(depth + 1));
  }
  return map;
}

function readKey(): string {
  if (pos >= end) refuse('truncated message');
  const token = src[pos++]!;
  if (token >= 0xa0 && token <= 0xbf) return readKeyString(token & 0x1f);
  if (token === 0xd9) return readKeyString(readLength(1));
  if (token === 0xda) return readString(readLength(2));
  if (token === 0xdb) return readString(readLength(4));
  return refuse('map key is not a string');
}

/**
 * A map key: short ASCII keys come from {@link keyCache} when the same key was read
 * before, so that records repeat one string per field name instead of allocating (and
 * later hashing) a new one per record.
 */
function readKeyString(length: number): string {
  if (length === 0 || length > ASCII_IN_JS_BYTES) return readString(length);
  take(length);
  const b = src;
  const start = pos - length;
  let bits = 0;
  let hash = length;
  for (let i = start; i < pos; i++) {
    const c = b[i]!;
    bits |= c;
    hash = Math.imul(hash, 31) + c;
  }
  if (bits >= 0x80) return utf8.decode(b.subarray(start, pos));
  const slot = hash & (KEY_CACHE_SLOTS - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached.charCodeAt(i) !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  const key = asciiChars(start, length);
  keyCache[slot] = key;
  return key;
}

function readString(length: number): string {
  if (length === 0) return '';
  take(length);
  const start = pos - length;
  if (length <= ASCII_IN_JS_BYTES) {
    const ascii = asciiString(start, length);
    if (ascii !== undefined) return ascii;
  }
  return utf8.decode(src.subarray(start, pos));
}

/**
 * The string of `length` (1 to {@link ASCII_IN_JS_BYTES}) ASCII bytes at `s`, or
 * `undefined` when one is not ASCII. Short keys and method names are most of a call's
 * strings, and a call of `TextDecoder` costs several times this.
 */
function asciiString(s: number, length: number): string | undefined {
  const b = src;
  let bits = 0;
  for (let i = s, stop = s + length; i < stop; i++) bits |= b[i]!;
  return bits >= 0x80 ? undefined : asciiChars(s, length);
}

/** The string of `length` (1 to {@link ASCII_IN_JS_BYTES}) bytes at `s`, all ASCII. */
function asciiChars(s: number, length: number): string {
  const b = src;
  switch (length) {
    case 1:
      return fromCharCode(b[s]!);
    case 2:
      return fromCharCode(b[s]!, b[s + 1]!);
    case 3:
      return fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4:
      return fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5:
      return fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6:
      return fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
      );
    case 9:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
      );
    case 10:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
      );
    case 11:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
      );
    case 12:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
      );
    case 13:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
      );
    case 14:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
        b[s + 13]!,
      );
    case 15:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
        b[s + 13]!,
        b[s + 14]!,
      );
    default:
      return fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
        b[s + 13]!,
        b[s + 14]!,
        b[s + 15]!,
      );
  }
}

function readBinary(length: number): Uint8Array {
  if (length > 0) take(length);
  countElements(OBJECT_EXTRA);
  return src.subarray(pos - length, pos);
}

/** ext 8 / 16 / 32: a length of `size` bytes, the type byte, the data. */
function readExtension(size: 1 | 2 | 4): unknown {
  if (pos + size + 1 > end) refuse('truncated extension');
  const length = size === 1 ? src[pos]! : size === 2 ? u16(pos) : u32(pos);
  pos += size;
  const type = (src[pos]! << 24) >> 24;
  checkExtension(type, length);
  pos += 1;
  if (length > 0) take(length);
  countElements(OBJECT_EXTRA);
  return extensionValue(type, pos - length, length);
}

/** fixext 1 to 16 (`token` 0xd4 to 0xd8): the type byte, then 1 to 16 bytes of data. */
function readFixedExtension(token: number): unknown {
  const length = 1 << (token - 0xd4);
  if (pos + 1 > end) refuse('truncated extension');
  const type = (src[pos]! << 24) >> 24;
  checkExtension(type, length);
  pos += 1;
  take(length);
  // Only `undefined` as a fixext 1 costs a scalar: it allocates nothing.
  countElements(token === 0xd4 && type === EXT_UNDEFINED ? 0 : OBJECT_EXTRA);
  return extensionValue(type, pos - length, length);
}

function checkExtension(type: number, length: number): void {
  if (type === EXT_UNDEFINED) {
    if (length !== 1) refuse('bad undefined extension');
  } else if (type === EXT_TIMESTAMP) {
    // msgpackr writes an invalid Date as a 1-byte timestamp; 4, 8 and 12 are the standard.
    if (length !== 1 && length !== 4 && length !== 8 && length !== 12) refuse('bad timestamp');
  } else if (type === EXT_BIGINT) {
    if (length < 1 || length > 4096) refuse('bad big integer');
  } else {
    refuse(`extension type ${type} is not allowed`);
  }
}

/** The value of an accepted extension whose data is `length` bytes at `at`. */
function extensionValue(type: number, at: number, length: number): unknown {
  if (type === EXT_UNDEFINED) return undefined;
  if (type === EXT_TIMESTAMP) return timestamp(at, length);
  return bigInteger(at, length);
}

/**
 * A msgpack timestamp, read as the reference decoder reads it: of the 64-bit seconds of
 * the 12-byte form only the sign and the low 48 bits count, which hold every valid Date.
 */
function timestamp(at: number, length: number): Date {
  const d = src;
  if (length === 4)
    return new Date(
      (d[at]! * 0x1000000 + (d[at + 1]! << 16) + (d[at + 2]! << 8) + d[at + 3]!) * 1000,
    );
  if (length === 8)
    return new Date(
      ((d[at]! << 22) + (d[at + 1]! << 14) + (d[at + 2]! << 6) + (d[at + 3]! >> 2)) / 1000000 +
        ((d[at + 3]! & 0x3) * 0x100000000 +
          d[at + 4]! * 0x1000000 +
          (d[at + 5]! << 16) +
          (d[at + 6]! << 8) +
          d[at + 7]!) *
          1000,
    );
  if (length === 12)
    return new Date(
      ((d[at]! << 24) + (d[at + 1]! << 16) + (d[at + 2]! << 8) + d[at + 3]!) / 1000000 +
        ((d[at + 4]! & 0x80 ? -0x1000000000000 : 0) +
          d[at + 6]! * 0x10000000000 +
          d[at + 7]! * 0x100000000 +
          d[at + 8]! * 0x1000000 +
          (d[at + 9]! << 16) +
          (d[at + 10]! << 8) +
          d[at + 11]!) *
          1000,
    );
  return new Date(Number.NaN);
}

/** A big-endian two's-complement integer of `length` (1 to 4096) bytes. */
function bigInteger(at: number, length: number): bigint {
  if (length <= 6) {
    let value = (src[at]! << 24) >> 24;
    for (let i = 1; i < length; i++) value = value * 256 + src[at + i]!;
    return BigInt(value);
  }
  let hex = '0x';
  for (let i = 0; i < length; i++) hex += HEX[src[at + i]!]!;
  const unsigned = BigInt(hex);
  return src[at]! >= 0x80 ? unsigned - (1n << BigInt(length * 8)) : unsigned;
}

function readFloat32(at: number): number {
  const b = src;
  scratchBytes[0] = b[at]!;
  scratchBytes[1] = b[at + 1]!;
  scratchBytes[2] = b[at + 2]!;
  scratchBytes[3] = b[at + 3]!;
  return scratch.getFloat32(0);
}

function readFloat64(at: number): number {
  const b = src;
  scratchBytes[0] = b[at]!;
  scratchBytes[1] = b[at + 1]!;
  scratchBytes[2] = b[at + 2]!;
  scratchBytes[3] = b[at + 3]!;
  scratchBytes[4] = b[at + 4]!;
  scratchBytes[5] = b[at + 5]!;
  scratchBytes[6] = b[at + 6]!;
  scratchBytes[7] = b[at + 7]!;
  return scratch.getFloat64(0);
}

function copyToScratch(count: number): DataView {
  const from = pos - count;
  for (let i = 0; i < count; i++) scratchBytes[i] = src[from + i]!;
  return scratch;
}

function u16(at: number): number {
  return (src[at]! << 8) | src[at + 1]!;
}

function u32(at: number): number {
  return src[at]! * 0x1000000 + ((src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!);
}
