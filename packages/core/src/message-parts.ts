/**
 * Out-of-line byte parts (docs/protocol.md §2 "Out-of-line parts"). A large byte array
 * travels beside the msgpack envelope instead of inside it, so that msgpackr only ever packs
 * small envelopes (no growth of its buffer, no copy of the payload into it) and a transport
 * that knows the layout can deliver each part in a buffer of its own.
 *
 * A message with parts is one transport message laid out as
 *
 *     0xc1 | u32 envelope bytes | u32 part count | u32 bytes of each part | envelope | parts
 *
 * (big-endian). `0xc1` is the one byte msgpack never uses, so such a message can never be
 * mistaken for a plain msgpack message. In the envelope each part stands where its bytes
 * would have been, as the tagged array `[TAG_PART, index]`.
 */
import { MessageTooLargeError, ProtocolError } from './errors.js';
import { MSG_REJECT, MSG_REQUEST, MSG_RESOLVE } from './message-kinds.js';
import type { Transport, TransportReceiver } from './transport.js';

/** First byte of a message that carries out-of-line parts (never valid msgpack). */
export const PARTS_MARKER = 0xc1;
/** Byte arrays of at least this many bytes travel out of line (64 KiB). */
export const OUT_OF_LINE_MIN_BYTES = 64 * 1024;
/** Most parts one message may carry; further large arrays stay inline. */
export const MAX_PARTS = 1024;
/** Wire tag of an out-of-line part's placeholder, `[TAG_PART, index]`. */
export const TAG_PART = 15;
const FIXED_HEAD_BYTES = 9;

/** Parts collected by the running `Codec.encode`; `undefined` outside of one. */
let collecting: Uint8Array[] | undefined;

/**
 * A large byte array in a wire tree (made by `toWire`). While a codec collects parts it
 * becomes a placeholder and its bytes a part; anywhere else it is written inline.
 */
export class OutOfLineBytes {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  /** msgpackr writes what this returns in the object's place. */
  toJSON(): unknown {
    if (collecting === undefined || collecting.length >= MAX_PARTS) return this.bytes;
    collecting.push(this.bytes);
    return [TAG_PART, collecting.length - 1];
  }
}

/**
 * Starts collecting out-of-line byte arrays into `parts` (for the duration of one pack).
 * @returns The collection running before, to hand back to {@link stopCollecting}.
 */
export function startCollecting(parts: Uint8Array[]): Uint8Array[] | undefined {
  const outer = collecting;
  collecting = parts;
  return outer;
}

/** Ends the collection {@link startCollecting} began. */
export function stopCollecting(outer: Uint8Array[] | undefined): void {
  collecting = outer;
}

/**
 * Lays out a message with parts: its head (marker, lengths, envelope) followed by the parts.
 * @returns `[head, ...parts]`, to be sent as one message.
 * @throws {MessageTooLargeError} When the whole message exceeds `maxMessageBytes`.
 */
export function layOutParts(
  envelope: Uint8Array,
  parts: readonly Uint8Array[],
  maxMessageBytes: number,
): Uint8Array[] {
  const headBytes = FIXED_HEAD_BYTES + 4 * parts.length;
  let total = headBytes + envelope.byteLength;
  for (const part of parts) total += part.byteLength;
  if (total > maxMessageBytes) throw new MessageTooLargeError(total, maxMessageBytes);
  const head = new Uint8Array(headBytes + envelope.byteLength);
  const view = new DataView(head.buffer);
  head[0] = PARTS_MARKER;
  view.setUint32(1, envelope.byteLength);
  view.setUint32(5, parts.length);
  for (let i = 0; i < parts.length; i++)
    view.setUint32(FIXED_HEAD_BYTES + 4 * i, parts[i]!.byteLength);
  head.set(envelope, headBytes);
  const out: Uint8Array[] = [head];
  for (const part of parts) out.push(part);
  return out;
}

/** Why a head cannot be read; `announcedBytes` is set when it announces too much. */
export interface PartsLayoutError {
  reason: string;
  announcedBytes?: number;
}

/** The layout a message with parts announces in its first bytes. */
export interface PartsLayout {
  /** Bytes of marker, lengths and envelope: the head a transport delivers apart. */
  headBytes: number;
  /** Offset of the envelope in the head. */
  envelopeAt: number;
  /** Bytes of each part, in order. */
  partBytes: number[];
  /** The whole message: head and parts. */
  totalBytes: number;
}

/**
 * Reads the layout of a message with parts from its first bytes.
 * @param prefix The first bytes of the message (at least the marker and the lengths).
 * @param maxMessageBytes Largest message accepted; checked before anything is allocated.
 * @returns The layout, `undefined` when `prefix` is too short to tell, or why it is
 * malformed.
 */
export function readPartsLayout(
  prefix: Uint8Array,
  maxMessageBytes: number,
): PartsLayout | PartsLayoutError | undefined {
  if (prefix.byteLength < FIXED_HEAD_BYTES) return undefined;
  if (prefix[0] !== PARTS_MARKER) return { reason: 'not a message with parts' };
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const envelopeBytes = view.getUint32(1);
  const count = view.getUint32(5);
  if (count === 0 || count > MAX_PARTS)
    return { reason: `part count ${count} is outside 1..${MAX_PARTS}` };
  const envelopeAt = FIXED_HEAD_BYTES + 4 * count;
  if (prefix.byteLength < envelopeAt) return undefined;
  const partBytes = new Array<number>(count);
  let total = envelopeAt + envelopeBytes;
  for (let i = 0; i < count; i++) {
    const n = view.getUint32(FIXED_HEAD_BYTES + 4 * i);
    partBytes[i] = n;
    total += n;
  }
  if (total > maxMessageBytes)
    return {
      reason: `announces ${total} bytes, more than ${maxMessageBytes}`,
      announcedBytes: total,
    };
  return { headBytes: envelopeAt + envelopeBytes, envelopeAt, partBytes, totalBytes: total };
}

/** Allocates the buffers a message with `layout` is read into: its head, then each part. */
export function partsBuffers(layout: PartsLayout): Uint8Array[] {
  const out = [new Uint8Array(layout.headBytes)];
  for (const n of layout.partBytes) out.push(new Uint8Array(n));
  return out;
}

/**
 * Splits a message with parts into its envelope and parts.
 * @param bytes The whole message, or only its head when `delivered` holds the parts' bytes.
 * @param delivered The bytes of the parts, in order, delivered apart by the transport: one
 * buffer per part, or pieces cut anywhere else (as the frames they arrived in), whose
 * lengths add up to those the head announces.
 * @returns Each part as the pieces its bytes lie in (views; none when it is empty), and
 * whether the receiver owns that memory (it was delivered apart).
 * @throws {ProtocolError} When the lengths do not add up.
 */
export function splitParts(
  bytes: Uint8Array,
  delivered: readonly Uint8Array[] | undefined,
  maxMessageBytes: number,
): { envelope: Uint8Array; parts: Uint8Array[][]; owned: boolean } {
  const layout = readPartsLayout(bytes, maxMessageBytes);
  if (layout === undefined)
    throw new ProtocolError('malformed message: truncated parts head (0xc1)');
  if ('reason' in layout) {
    if (layout.announcedBytes !== undefined)
      throw new MessageTooLargeError(layout.announcedBytes, maxMessageBytes);
    throw new ProtocolError(`malformed message: ${layout.reason}`);
  }
  const envelope = bytes.subarray(layout.envelopeAt, layout.headBytes);
  const sizes = layout.partBytes;
  if (delivered !== undefined) {
    if (bytes.byteLength !== layout.headBytes) throw partsMismatch();
    let total = 0;
    for (const piece of delivered) total += piece.byteLength;
    if (total !== layout.totalBytes - layout.headBytes) throw partsMismatch();
    // The usual case: one buffer per part, as the head announces.
    if (delivered.length === sizes.length && delivered.every((p, i) => p.byteLength === sizes[i]))
      return {
        envelope,
        parts: delivered.map((p) => (p.byteLength === 0 ? [] : [p])),
        owned: true,
      };
    return { envelope, parts: cutPieces(delivered, sizes), owned: true };
  }
  if (bytes.byteLength !== layout.totalBytes) throw partsMismatch();
  return { envelope, parts: cutPieces([bytes.subarray(layout.headBytes)], sizes), owned: false };
}

function partsMismatch(): ProtocolError {
  return new ProtocolError('malformed message: parts do not match their head');
}

/** Cuts `pieces` (exactly `sizes` bytes in all) into each part's views, in order. */
function cutPieces(pieces: readonly Uint8Array[], sizes: readonly number[]): Uint8Array[][] {
  const parts: Uint8Array[][] = [];
  let piece = 0;
  let at = 0;
  for (const size of sizes) {
    const part: Uint8Array[] = [];
    let need = size;
    while (need > 0) {
      const from = pieces[piece]!;
      const n = Math.min(from.byteLength - at, need);
      if (n > 0) part.push(at === 0 && n === from.byteLength ? from : from.subarray(at, at + n));
      at += n;
      need -= n;
      if (at === from.byteLength) {
        piece++;
        at = 0;
      }
    }
    parts.push(part);
  }
  return parts;
}

/**
 * A part in a decoded wire tree: its bytes, as the pieces they arrived in. `take` gives
 * them once as one array in memory of its own; `takeChunks` (for a byte stream, whose
 * chunk boundaries carry no meaning) gives them once as they lie, without a copy when
 * the receiver owns them.
 */
export class ReceivedPart {
  #pieces: readonly Uint8Array[] | undefined;
  readonly #owned: boolean;
  /** Bytes of the part. */
  readonly byteLength: number;
  constructor(pieces: readonly Uint8Array[], owned: boolean) {
    this.#pieces = pieces;
    this.#owned = owned;
    let n = 0;
    for (const piece of pieces) n += piece.byteLength;
    this.byteLength = n;
  }

  #use(): readonly Uint8Array[] {
    const pieces = this.#pieces;
    if (pieces === undefined) throw new ProtocolError('out-of-line part used twice');
    this.#pieces = undefined;
    return pieces;
  }

  /**
   * The bytes, never a view shared with anything else: the transport's buffer itself when
   * it delivered the part alone in one (nothing else references it), else a copy.
   */
  take(): Uint8Array {
    const pieces = this.#use();
    const only = pieces.length === 1 ? pieces[0]! : undefined;
    if (
      only !== undefined &&
      this.#owned &&
      only.byteOffset === 0 &&
      only.byteLength === only.buffer.byteLength
    )
      return only;
    // `new Uint8Array(view)` copies (a Buffer's `slice` would not).
    return only !== undefined ? new Uint8Array(only) : joinPieces(pieces);
  }

  /**
   * The bytes as views of the buffers they arrived in, which the receiver owns and which
   * hold nothing but this message (so a chunk may share its buffer with the chunk before
   * or after it, and with the message's head); copies when the receiver does not own them.
   */
  takeChunks(): Uint8Array[] {
    const pieces = this.#use();
    return this.#owned ? [...pieces] : pieces.map((piece) => new Uint8Array(piece));
  }
}

/**
 * Puts each part in place of its placeholder in a decoded message. Placeholders count only
 * where values sit (docs/protocol.md §3): the arguments of a REQUEST, the value of a
 * RESOLVE, the error of a REJECT. Inside a value every array is tagged, so `[TAG_PART, i]`
 * is unambiguous there; elsewhere (a REQUEST's finishes and releases are plain lists of
 * numbers) the same shape is data. Every part must be referenced exactly once.
 * @throws {ProtocolError} For a placeholder out of range, used twice, or a part never used.
 */
export function placeParts(
  message: unknown,
  parts: readonly (readonly Uint8Array[])[],
  owned: boolean,
): void {
  const used = new Uint8Array(parts.length);
  let placed = 0;
  const resolve = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof Map) {
      for (const [key, item] of value as Map<unknown, unknown>) {
        const next = resolve(item);
        if (next !== item) value.set(key, next);
      }
      return value;
    }
    if (!Array.isArray(value)) return value;
    if (value.length === 2 && value[0] === TAG_PART) {
      const index = value[1];
      if (
        typeof index !== 'number' ||
        !Number.isInteger(index) ||
        index < 0 ||
        index >= parts.length
      )
        throw new ProtocolError('malformed message: placeholder of an unknown part');
      if (used[index] === 1) throw new ProtocolError('malformed message: part used twice');
      used[index] = 1;
      placed++;
      return new ReceivedPart(parts[index]!, owned);
    }
    for (let i = 0; i < value.length; i++) value[i] = resolve(value[i]);
    return value;
  };
  if (Array.isArray(message)) {
    if (message[0] === MSG_REQUEST && Array.isArray(message[6])) {
      const args = message[6] as unknown[];
      for (let i = 0; i < args.length; i++) args[i] = resolve(args[i]);
    } else if (message[0] === MSG_RESOLVE || message[0] === MSG_REJECT) {
      message[2] = resolve(message[2]);
    }
  }
  if (placed !== parts.length) throw new ProtocolError('malformed message: a part is never used');
}

/** Joins the pieces of one message (for a transport that takes only whole messages). */
export function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const piece of pieces) total += piece.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

/** Sends the pieces of one message: vectored when the transport can, else joined once. */
export function sendPieces(transport: Transport, pieces: Uint8Array[]): void {
  if (transport.sendParts !== undefined) transport.sendParts(pieces);
  else transport.send(joinPieces(pieces));
}

/**
 * Hands a message that arrived as owned pieces to `receiver`: apart when the pieces are
 * exactly the head and the parts of a message with parts and the receiver takes them so,
 * else joined.
 */
export function deliverPieces(receiver: TransportReceiver, pieces: readonly Uint8Array[]): void {
  if (receiver.onMessageParts !== undefined && matchesLayout(pieces)) {
    receiver.onMessageParts(pieces[0]!, pieces.slice(1));
    return;
  }
  receiver.onMessage(pieces.length === 1 ? pieces[0]! : joinPieces(pieces));
}

function matchesLayout(pieces: readonly Uint8Array[]): boolean {
  const head = pieces[0];
  if (head === undefined) return false;
  const layout = readPartsLayout(head, Number.MAX_SAFE_INTEGER);
  if (layout === undefined || 'reason' in layout) return false;
  if (head.byteLength !== layout.headBytes || pieces.length !== layout.partBytes.length + 1)
    return false;
  for (let i = 1; i < pieces.length; i++)
    if (pieces[i]!.byteLength !== layout.partBytes[i - 1]) return false;
  return true;
}
