/**
 * The per-connection msgpack codec (docs/protocol.md §2). One explicit msgpackr
 * configuration per connection: no records, no structured clone, no global extensions
 * (references travel as tagged arrays of the message format instead, see `serialize.ts`),
 * maps decoded as `Map` so that keys are kept exactly (`__proto__` included) and are later
 * copied onto null-prototype objects. Incoming messages are read in one pass by
 * `WireDecoder` (wire-decode.ts), which bounds depth, sizes, element counts and extension
 * types as it builds the values. The earlier two passes, `scanMessage` and then msgpackr,
 * stay as the reference decoder that property tests compare against and benchmarks can
 * switch to ({@link useReferenceDecoder}).
 */
import { Packr } from 'msgpackr';
import { MessageTooLargeError, ProtocolError } from './errors.js';
import {
  layOutParts,
  PARTS_MARKER,
  placeParts,
  splitParts,
  startCollecting,
  stopCollecting,
} from './message-parts.js';
import { WireDecoder } from './wire-decode.js';
import { ScanScratch, scanMessage } from './wire-scan.js';

/**
 * Room above a round payload size that the default message limit leaves for the envelope
 * of the call that carries it (ids, tags, the head of out-of-line parts): 64 KiB.
 */
export const ENVELOPE_ROOM_BYTES = 64 * 1024;
/**
 * Default largest encoded message, in bytes: 16 MiB of payload plus
 * {@link ENVELOPE_ROOM_BYTES} for its envelope (16,842,752), so that a 16 MiB byte array
 * passes as an argument or a result with the defaults.
 */
export const DEFAULT_CODEC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + ENVELOPE_ROOM_BYTES;
/** Default deepest container nesting in a message. */
export const DEFAULT_MAX_DEPTH = 64;
/**
 * Default most element units in a message (2^20): a million numbers or short strings, or
 * 65,536 maps (each map costs 16, see `ELEMENT_COST`). Decoding a message at this limit
 * and the default 16 MiB holds at most about 56 MiB of heap, whatever its shape (the worst
 * is a million 15-byte strings; see docs/security.md "Worst-case memory").
 */
export const DEFAULT_MAX_ELEMENTS = 1_048_576;
/**
 * Bytes a decoded message is assumed to hold per element unit, on top of its encoded
 * size, when it is charged to a budget (`decodedSize`).
 */
export const DECODED_BYTES_PER_ELEMENT = 24;

/** Limits of a {@link Codec}. */
export interface CodecLimits {
  /** Largest message in bytes, both directions. */
  maxMessageBytes: number;
  /** Deepest container nesting accepted from the peer. */
  maxDepth: number;
  /** Most element units in a message from the peer; default {@link DEFAULT_MAX_ELEMENTS}. */
  maxElements?: number;
}

/**
 * Above this size msgpackr's encode buffer is dropped after a message: it would otherwise
 * stay allocated, and the next message would start at its tail, where growing copies the
 * unused rest of it (msgpackr's `makeRoom` copies up to the needed end, not what was
 * written).
 */
const ENCODE_BUFFER_KEEP_BYTES = 256 * 1024;
const ENCODE_BUFFER_START_BYTES = 8192;

/**
 * The one msgpackr instance of this thread. Every codec has the same configuration, and
 * msgpackr keeps its encode buffer and decode position in module state anyway, so an
 * instance per connection (about 1.3 KiB of closures each) would buy nothing.
 */
let sharedPackr: Packr | undefined;

function packr(): Packr {
  sharedPackr ??= new Packr({
    useRecords: false,
    mapsAsObjects: false,
    structuredClone: false,
    moreTypes: false,
    bundleStrings: false,
    // Binary values are copied once, when values are rebuilt (serialize.ts).
    copyBuffers: false,
    useBigIntExtension: true,
    int64AsType: 'bigint',
    encodeUndefinedAsNil: false,
    variableMapSize: true,
    useTimestamp32: false,
  });
  return sharedPackr;
}

/**
 * Decoders (and reference scan stacks) by limits, shared by the codecs of this thread that
 * have the same limits: a decode runs start to end without yielding, and its element count
 * is read right after it.
 */
const sharedDecoders = new Map<string, SharedDecoder>();

interface SharedDecoder {
  decoder: WireDecoder;
  scratch: ScanScratch | undefined;
}

function decoderFor(maxDepth: number, maxElements: number): SharedDecoder {
  const key = `${maxDepth}:${maxElements}`;
  let shared = sharedDecoders.get(key);
  if (shared === undefined) {
    shared = { decoder: new WireDecoder(maxDepth, maxElements), scratch: undefined };
    // Odd limits per connection must not make this grow without end.
    if (sharedDecoders.size < 16) sharedDecoders.set(key, shared);
  }
  return shared;
}

let referenceDecoding = false;

/**
 * Makes every codec of this thread decode with the reference decoder (the structural scan
 * `scanMessage`, then msgpackr), or again with the single-pass `WireDecoder`. For
 * differential tests and benchmarks; not part of the package's API.
 * @param enabled Whether to use the reference decoder.
 */
export function useReferenceDecoder(enabled: boolean): void {
  referenceDecoding = enabled;
}

/**
 * The reference decoder: `scanMessage` checks the message, then msgpackr decodes it.
 * @param bytes The message.
 * @param scratch Scan stacks with the limits; `scratch.elements` holds the message's
 *   element units afterwards.
 * @returns The value.
 * @throws {ProtocolError} As {@link WireDecoder.decode} does.
 */
export function referenceDecode(bytes: Uint8Array, scratch: ScanScratch): unknown {
  const reason = scanMessage(bytes, scratch);
  if (reason !== undefined)
    throw new ProtocolError(`malformed message: ${reason}`, {
      code: scratch.elements > scratch.maxElements ? 'ERR_LIMIT_EXCEEDED' : 'ERR_PROTOCOL',
    });
  try {
    return packr().unpack(bytes);
  } catch (error) {
    throw new ProtocolError('malformed message', { cause: error });
  }
}

/** Packs one message with the shared instance; drops its encode buffer when it grew large. */
function pack(message: unknown): Uint8Array {
  const instance = packr();
  const bytes = instance.pack(message) as Uint8Array;
  if (bytes.buffer.byteLength > ENCODE_BUFFER_KEEP_BYTES)
    instance.useBuffer(new Uint8Array(ENCODE_BUFFER_START_BYTES));
  return bytes;
}

/** Encodes and decodes the messages of one connection. */
export class Codec {
  readonly #limits: CodecLimits;
  readonly #shared: SharedDecoder;
  #decodedSize = 0;
  readonly #parts: Uint8Array[] = [];

  constructor(limits: CodecLimits) {
    this.#limits = limits;
    this.#shared = decoderFor(limits.maxDepth, limits.maxElements ?? DEFAULT_MAX_ELEMENTS);
  }

  /**
   * An estimate of the memory the last decoded message holds once decoded: its encoded
   * bytes plus {@link DECODED_BYTES_PER_ELEMENT} per element unit. What a request costs
   * the server's budget while it is served.
   */
  get decodedSize(): number {
    return this.#decodedSize;
  }

  /**
   * Encodes one message tree (already made of wire-safe values), every byte array inline.
   * @throws {MessageTooLargeError} When the encoding exceeds `maxMessageBytes`.
   */
  encode(message: unknown): Uint8Array {
    const bytes = pack(message);
    if (bytes.byteLength > this.#limits.maxMessageBytes)
      throw new MessageTooLargeError(bytes.byteLength, this.#limits.maxMessageBytes);
    return bytes;
  }

  /**
   * Encodes one message tree with its large byte arrays (`OutOfLineBytes` from `toWire`)
   * out of line (message-parts.ts), so that msgpackr packs only the small envelope.
   * @returns The message as {@link Codec.encode} makes it when it has no such array, else
   * its pieces in order: the head, then each part's bytes (the caller's arrays, not copies).
   * @throws {MessageTooLargeError} When the whole message exceeds `maxMessageBytes`.
   */
  encodeParts(message: unknown): Uint8Array | Uint8Array[] {
    const parts = this.#parts;
    parts.length = 0;
    const outer = startCollecting(parts);
    let bytes: Uint8Array;
    try {
      bytes = pack(message);
    } finally {
      stopCollecting(outer);
    }
    if (parts.length === 0) {
      if (bytes.byteLength > this.#limits.maxMessageBytes)
        throw new MessageTooLargeError(bytes.byteLength, this.#limits.maxMessageBytes);
      return bytes;
    }
    const pieces = layOutParts(bytes, parts, this.#limits.maxMessageBytes);
    parts.length = 0;
    return pieces;
  }

  /**
   * Decodes one message from the peer; maps come back as `Map`. A message with out-of-line
   * parts comes whole, or as its head with `parts` the bytes of its parts in buffers the
   * receiver owns, one per part or cut anywhere else (a part alone in its buffer reaches
   * the application without another copy, a byte stream's chunks as views).
   * @throws {ProtocolError} For anything malformed or over a limit.
   */
  decode(bytes: Uint8Array, parts?: readonly Uint8Array[]): unknown {
    if (bytes.byteLength > 0 && bytes[0] === PARTS_MARKER) return this.#decodeParts(bytes, parts);
    if (parts !== undefined) throw new ProtocolError('malformed message: parts without a head');
    return this.#decodeEnvelope(bytes);
  }

  #decodeParts(bytes: Uint8Array, delivered: readonly Uint8Array[] | undefined): unknown {
    const split = splitParts(bytes, delivered, this.#limits.maxMessageBytes);
    const message = this.#decodeEnvelope(split.envelope);
    // The parts are held while the message is served, as its envelope is.
    for (const part of split.parts) for (const piece of part) this.#decodedSize += piece.byteLength;
    placeParts(message, split.parts, split.owned);
    return message;
  }

  #decodeEnvelope(bytes: Uint8Array): unknown {
    if (bytes.byteLength > this.#limits.maxMessageBytes)
      throw new MessageTooLargeError(bytes.byteLength, this.#limits.maxMessageBytes);
    const shared = this.#shared;
    if (referenceDecoding) {
      const { maxDepth, maxElements } = shared.decoder;
      shared.scratch ??= new ScanScratch(maxDepth, maxElements);
      const message = referenceDecode(bytes, shared.scratch);
      this.#decodedSize = bytes.byteLength + DECODED_BYTES_PER_ELEMENT * shared.scratch.elements;
      return message;
    }
    const message = shared.decoder.decode(bytes);
    this.#decodedSize = bytes.byteLength + DECODED_BYTES_PER_ELEMENT * shared.decoder.elements;
    return message;
  }
}
