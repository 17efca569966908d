/**
 * A non-recursive structural check of one msgpack value before msgpackr decodes it
 * (docs/protocol.md §2, §9; property-tested, docs/design.md §7). It enforces what the
 * decoder must never see from a peer: nesting deeper than the limit, container lengths
 * larger than the bytes that could hold them (no huge allocations), map keys other than
 * strings, the reserved byte 0xc1, trailing bytes, any extension type other than the
 * three the protocol uses (0 = undefined, -1 = timestamp, 0x42 = big integer), and more
 * decoded values than the element limit allows. msgpackr's record and structured-clone
 * extensions can therefore never be reached from the wire.
 *
 * Elements bound what decoding costs, which bytes alone do not: one byte `0xc0` becomes an
 * 8-byte array slot, one byte `0x80` a JavaScript `Map` of about 190 bytes. Each value
 * costs {@link ELEMENT_COST} units, roughly its decoded memory in array slots; a
 * container's items are counted when it opens, so a huge array is refused after reading
 * its header, before anything is allocated.
 */

/** Extension types a peer may send. */
const EXT_UNDEFINED = 0;
const EXT_TIMESTAMP = -1;
const EXT_BIGINT = 0x42;

/**
 * Element units each kind of msgpack value costs (measured heap after msgpackr decodes a
 * million of them: nil 10 bytes, empty array 41, binary 104, timestamp 105, map 192).
 * Strings cost 1: their characters are already bounded by the message's bytes.
 */
export const ELEMENT_COST = Object.freeze({
  /** nil, booleans, numbers, strings, the `undefined` extension. */
  scalar: 1,
  array: 4,
  /** Binary values, timestamps and big integers: each becomes an object of its own. */
  object: 8,
  map: 16,
});

/** Reusable stacks for {@link scanMessage}, so that a scan allocates nothing. */
export class ScanScratch {
  readonly maxDepth: number;
  /** Most element units (see {@link ELEMENT_COST}) one message may cost. */
  readonly maxElements: number;
  /**
   * Element units of the last message scanned: its total when accepted, a count above
   * `maxElements` when refused for that, 0 when refused for another reason.
   */
  elements = 0;
  /** Per open container: items still to read. */
  readonly remaining: Float64Array;
  /** Per open container: 1 for a map (keys sit at even remaining counts). */
  readonly isMap: Uint8Array;

  constructor(maxDepth: number, maxElements = Number.POSITIVE_INFINITY) {
    this.maxDepth = maxDepth;
    this.maxElements = maxElements;
    this.remaining = new Float64Array(maxDepth + 1);
    this.isMap = new Uint8Array(maxDepth + 1);
  }
}

/**
 * Checks that `bytes` hold exactly one well-formed msgpack value within the limits.
 * @param bytes The message.
 * @param limit The deepest container nesting allowed (the top-level container is 1), or
 *   scratch stacks made for that depth and an element limit.
 * @returns `undefined` when the value is acceptable, otherwise a reason for people.
 */
export function scanMessage(bytes: Uint8Array, limit: number | ScanScratch): string | undefined {
  const scratch = typeof limit === 'number' ? new ScanScratch(limit) : limit;
  const { maxDepth, maxElements, remaining, isMap } = scratch;
  const end = bytes.length;
  // Units of every value read or announced by an open container (each item costs >= 1).
  let elements = ELEMENT_COST.scalar;
  scratch.elements = elements > maxElements ? elements : 0;
  if (elements > maxElements) return `more than ${maxElements} element units`;
  let depth = 0;
  remaining[0] = 1;
  isMap[0] = 0;
  let pos = 0;

  while (true) {
    while (depth > 0 && remaining[depth] === 0) depth--;
    if (depth === 0 && remaining[0] === 0) break;
    if (pos >= end) return 'truncated message';
    const keyPosition = isMap[depth] === 1 && remaining[depth]! % 2 === 0;
    remaining[depth]!--;
    const token = bytes[pos++]!;
    let skip = 0;
    let items = -1;
    let map = false;
    const isString =
      (token >= 0xa0 && token <= 0xbf) || token === 0xd9 || token === 0xda || token === 0xdb;
    if (keyPosition && !isString) return 'map key is not a string';
    if (token <= 0x7f || token >= 0xe0) {
      // fixint
    } else if (token <= 0x8f) {
      items = (token & 0x0f) * 2;
      map = true;
    } else if (token <= 0x9f) {
      items = token & 0x0f;
    } else if (token <= 0xbf) {
      skip = token & 0x1f;
    } else {
      switch (token) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          return 'reserved byte 0xc1';
        case 0xc4:
        case 0xd9:
          if (pos + 1 > end) return 'truncated length';
          skip = bytes[pos]!;
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          if (pos + 2 > end) return 'truncated length';
          skip = u16(bytes, pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (pos + 4 > end) return 'truncated length';
          skip = u32(bytes, pos);
          pos += 4;
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const lengthBytes = token === 0xc7 ? 1 : token === 0xc8 ? 2 : 4;
          if (pos + lengthBytes + 1 > end) return 'truncated extension';
          skip =
            lengthBytes === 1 ? bytes[pos]! : lengthBytes === 2 ? u16(bytes, pos) : u32(bytes, pos);
          pos += lengthBytes;
          const reason = checkExtension(i8(bytes, pos), skip);
          if (reason) return reason;
          pos += 1;
          break;
        }
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: {
          const length = 1 << (token - 0xd4);
          if (pos + 1 > end) return 'truncated extension';
          const reason = checkExtension(i8(bytes, pos), length);
          if (reason) return reason;
          pos += 1;
          skip = length;
          break;
        }
        case 0xdc:
          if (pos + 2 > end) return 'truncated length';
          items = u16(bytes, pos);
          pos += 2;
          break;
        case 0xdd:
          if (pos + 4 > end) return 'truncated length';
          items = u32(bytes, pos);
          pos += 4;
          break;
        case 0xde:
          if (pos + 2 > end) return 'truncated length';
          items = u16(bytes, pos) * 2;
          pos += 2;
          map = true;
          break;
        default: // 0xdf
          if (pos + 4 > end) return 'truncated length';
          items = u32(bytes, pos) * 2;
          pos += 4;
          map = true;
          break;
      }
    }
    if (skip > 0) {
      if (pos + skip > end) return 'truncated value';
      pos += skip;
    }
    if (items >= 0 || (token >= 0xc4 && token <= 0xc9) || (token >= 0xd4 && token <= 0xd8)) {
      // The value's own cost beyond the unit counted when it was announced, and its items.
      const extra =
        items < 0
          ? isUndefinedExtension(bytes, token, pos - skip)
            ? 0
            : ELEMENT_COST.object - ELEMENT_COST.scalar
          : (map ? ELEMENT_COST.map : ELEMENT_COST.array) - ELEMENT_COST.scalar + items;
      elements += extra;
      if (elements > maxElements) {
        scratch.elements = elements;
        return `more than ${maxElements} element units`;
      }
    }
    if (items >= 0) {
      // Every item takes at least one byte: a longer count is a lie meant to make us allocate.
      if (items > end - pos) return 'container length exceeds message size';
      if (items > 0) {
        if (depth + 1 > maxDepth) return `nesting deeper than ${maxDepth}`;
        depth++;
        remaining[depth] = items;
        isMap[depth] = map ? 1 : 0;
      } else if (depth + 1 > maxDepth) {
        return `nesting deeper than ${maxDepth}`;
      }
    }
  }
  if (pos !== end) return 'trailing bytes after the message';
  scratch.elements = elements;
  return undefined;
}

/** Whether the extension whose data starts at `data` is `undefined` (costs a scalar). */
function isUndefinedExtension(bytes: Uint8Array, token: number, data: number): boolean {
  // Only fixext 1 (0xd4) carries undefined; its type byte sits just before the data.
  return token === 0xd4 && i8(bytes, data - 1) === EXT_UNDEFINED;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

function i8(b: Uint8Array, at: number): number {
  return (b[at]! << 24) >> 24;
}

function checkExtension(type: number, length: number): string | undefined {
  if (type === EXT_UNDEFINED) return length === 1 ? undefined : 'bad undefined extension';
  // msgpackr writes an invalid Date as a 1-byte timestamp; 4, 8 and 12 are the standard.
  if (type === EXT_TIMESTAMP)
    return length === 1 || length === 4 || length === 8 || length === 12
      ? undefined
      : 'bad timestamp';
  if (type === EXT_BIGINT) return length >= 1 && length <= 4096 ? undefined : 'bad big integer';
  return `extension type ${type} is not allowed`;
}
