/**
 * A sans-IO reader of `u16be length ‖ body` frames, the framing of both keyway's Noise
 * handshake messages and its channel frames (docs/security.md "Frames"; Noise rev 34 §3 caps any
 * message at 65535 bytes). A frame that lies inside one received chunk is returned as a
 * view of that chunk, without a copy; only frames split across chunks are joined.
 */
import { ChannelError } from '../errors.js';

/** Bytes of the big-endian length prefix of every frame. */
export const FRAME_HEADER_BYTES = 2;

/** Splits a byte stream into length-prefixed frames, refusing oversize lengths. */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #maxFrameBytes: number;
  /** Where {@link FrameReader.nextTransient} joins frames split across chunks. */
  #scratch: Uint8Array | undefined;

  /** @param maxFrameBytes - the largest body length accepted (at most 65535). */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The largest body length accepted; a longer length prefix is an error. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  set maxFrameBytes(value: number) {
    this.#maxFrameBytes = value;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Appends received bytes. The reader keeps a reference, not a copy. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    // A plain view, so that frames have Uint8Array (copying) slice() semantics, not Buffer's.
    this.#chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#buffered += chunk.length;
  }

  /**
   * The next whole frame body, or `undefined` until more bytes arrive.
   * @throws {ChannelError} when a length prefix exceeds {@link FrameReader.maxFrameBytes}.
   */
  next(): Uint8Array | undefined {
    const length = this.#nextLength();
    return length === undefined ? undefined : this.#take(length, false);
  }

  /**
   * Like {@link FrameReader.next}, for a caller that is done with the frame before it
   * asks for the next one (the channel decrypts each frame at once): a frame split
   * across chunks is joined into one buffer the reader reuses, so bulk transfer
   * allocates nothing here. The frame is valid only until the next call.
   * @throws {ChannelError} when a length prefix exceeds {@link FrameReader.maxFrameBytes}.
   */
  nextTransient(): Uint8Array | undefined {
    const length = this.#nextLength();
    return length === undefined ? undefined : this.#take(length, true);
  }

  /**
   * Like {@link FrameReader.nextTransient}, without joining a frame split across chunks:
   * the frame as views of the chunks it lies in, in order (one view when it lies in one).
   * The views are valid only until the next call.
   * @throws {ChannelError} when a length prefix exceeds {@link FrameReader.maxFrameBytes}.
   */
  nextTransientPieces(): Uint8Array[] | undefined {
    const length = this.#nextLength();
    return length === undefined ? undefined : this.#pieces(length);
  }

  /**
   * Like {@link FrameReader.nextTransientPieces}, with a frame that lies in one chunk
   * (the usual case) returned as that one view rather than an array of one.
   * @throws {ChannelError} when a length prefix exceeds {@link FrameReader.maxFrameBytes}.
   */
  nextTransientFrame(): Uint8Array | Uint8Array[] | undefined {
    const length = this.#nextLength();
    if (length === undefined) return undefined;
    const first = this.#chunks[0];
    if (length === 0) return new Uint8Array(0);
    if (first !== undefined && first.length - this.#offset >= length) {
      const frame = first.subarray(this.#offset, this.#offset + length);
      this.#skip(length);
      return frame;
    }
    return this.#pieces(length);
  }

  /** The next `length` bytes as views of the chunks they lie in, consumed. */
  #pieces(length: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length - this.#offset, length - filled);
      out.push(chunk.subarray(this.#offset, this.#offset + count));
      filled += count;
      this.#skip(count);
    }
    return out;
  }

  /** The body length of the next frame once it is whole, its header consumed. */
  #nextLength(): number | undefined {
    if (this.#buffered < FRAME_HEADER_BYTES) return undefined;
    const length = (this.#byteAt(0) << 8) | this.#byteAt(1);
    if (length > this.#maxFrameBytes) {
      throw new ChannelError(
        `frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes}`,
      );
    }
    if (this.#buffered < FRAME_HEADER_BYTES + length) return undefined;
    this.#skip(FRAME_HEADER_BYTES);
    return length;
  }

  #byteAt(index: number): number {
    let i = this.#offset + index;
    for (const chunk of this.#chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError('index beyond buffered bytes');
  }

  #skip(n: number): void {
    this.#buffered -= n;
    let offset = this.#offset + n;
    while (offset > 0 && offset >= this.#chunks[0]!.length) {
      offset -= this.#chunks.shift()!.length;
      if (this.#chunks.length === 0) break;
    }
    this.#offset = offset;
  }

  #take(n: number, reuse: boolean): Uint8Array {
    const first = this.#chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first !== undefined && first.length - this.#offset >= n) {
      const frame = first.subarray(this.#offset, this.#offset + n);
      this.#skip(n);
      return frame;
    }
    const out = reuse ? this.#scratchOf(n) : freshBytes(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length - this.#offset, n - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + count), filled);
      filled += count;
      this.#skip(count);
    }
    return out;
  }

  /** The first `n` bytes of the reused join buffer, grown when too small. */
  #scratchOf(n: number): Uint8Array {
    if (this.#scratch === undefined || this.#scratch.length < n) {
      this.#scratch = new Uint8Array(Math.max(n, 0x1000));
    }
    return this.#scratch.subarray(0, n);
  }
}

/** Node's Buffer where there is one (never in a browser), looked up once. */
const NodeBuffer = (
  globalThis as {
    Buffer?: { allocUnsafe(n: number): Uint8Array; allocUnsafeSlow(n: number): Uint8Array };
  }
).Buffer;

/** `n` bytes every one of which the caller overwrites (so no zero-fill). */
function freshBytes(n: number): Uint8Array {
  // Node's pooled allocation skips the zero-fill; elsewhere (a browser) a plain array.
  if (NodeBuffer === undefined) return new Uint8Array(n);
  const bytes = NodeBuffer.allocUnsafe(n);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, n);
}

/**
 * `n` bytes to be written to the stream, every one of which the caller overwrites. On Node
 * a Buffer, which a Node stream takes as it is (it wraps any other Uint8Array in a new
 * Buffer first); elsewhere (a browser) a plain array.
 */
export function outgoingBytes(n: number): Uint8Array {
  return NodeBuffer === undefined ? new Uint8Array(n) : NodeBuffer.allocUnsafe(n);
}

/**
 * `n` bytes, not zero-filled where the platform allows, in an ArrayBuffer of their own
 * (never a slice of Node's pool): for buffers handed to the receiver whole. The caller
 * writes every byte before anyone reads them.
 */
export function ownBytes(n: number): Uint8Array {
  if (NodeBuffer === undefined) return new Uint8Array(n);
  const bytes = NodeBuffer.allocUnsafeSlow(n);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, n);
}

/**
 * Encodes the 2-byte big-endian length prefix of a frame.
 * @throws {RangeError} when `length` is not an integer in 0..65535.
 */
export function frameHeader(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`frame length must be 0..65535, got ${length}`);
  }
  return Uint8Array.of(length >>> 8, length & 0xff);
}
