/**
 * Reads the head of a message with out-of-line parts (docs/protocol.md §2 "Out-of-line
 * parts"), so that the channel can deliver each part in a buffer of its own. The layout
 * belongs to @keyway/core's codec; the channel only reads lengths, never the envelope:
 *
 *     0xc1 | u32 envelope bytes | u32 part count | u32 bytes of each part | envelope | parts
 *
 * A message that does not match exactly is delivered whole, and the codec judges it.
 * Either the first frame of a message holds its whole head, and the bytes go into their
 * buffers frame by frame ({@link PartsSink}), or the message is gathered and, once whole,
 * copied into them ({@link splitIntoParts}).
 */
import { ownBytes } from './frame-reader.js';

const MARKER = 0xc1;
const MAX_PARTS = 1024;
const FIXED_HEAD_BYTES = 9;

/**
 * Copies a message that arrived as `pieces` (`total` bytes in all) into one buffer for its
 * head and one per part, when its first piece holds a complete head that accounts for
 * exactly `total` bytes.
 * @returns `[head, ...parts]`, or `undefined` when the message is not one with parts.
 */
export function splitIntoParts(
  pieces: readonly Uint8Array[],
  total: number,
): Uint8Array[] | undefined {
  const first = pieces[0];
  if (first === undefined || first.length < FIXED_HEAD_BYTES || first[0] !== MARKER)
    return undefined;
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  const envelopeBytes = view.getUint32(1);
  const count = view.getUint32(5);
  if (count === 0 || count > MAX_PARTS) return undefined;
  const envelopeAt = FIXED_HEAD_BYTES + 4 * count;
  if (first.length < envelopeAt) return undefined;
  // Every length is checked against what actually arrived before anything is allocated.
  const sizes = [envelopeAt + envelopeBytes];
  let sum = sizes[0]!;
  for (let i = 0; i < count; i++) {
    const n = view.getUint32(FIXED_HEAD_BYTES + 4 * i);
    sizes.push(n);
    sum += n;
  }
  if (sum !== total) return undefined;
  const out = sizes.map(ownBytes);
  let index = 0;
  let at = 0;
  for (const piece of pieces) {
    let from = 0;
    while (from < piece.length) {
      const target = out[index]!;
      const n = Math.min(piece.length - from, target.length - at);
      target.set(piece.subarray(from, from + n), at);
      from += n;
      at += n;
      if (at === target.length) {
        index++;
        at = 0;
      }
    }
  }
  return out;
}

/** Reads the head at the start of `first`: the sizes of the head and of each part. */
function readSizes(first: Uint8Array): number[] | undefined {
  if (first.length < FIXED_HEAD_BYTES || first[0] !== MARKER) return undefined;
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  const envelopeBytes = view.getUint32(1);
  const count = view.getUint32(5);
  if (count === 0 || count > MAX_PARTS) return undefined;
  const envelopeAt = FIXED_HEAD_BYTES + 4 * count;
  if (first.length < envelopeAt) return undefined;
  const sizes = [envelopeAt + envelopeBytes];
  for (let i = 0; i < count; i++) sizes.push(view.getUint32(FIXED_HEAD_BYTES + 4 * i));
  return sizes;
}

/**
 * Parts of at most this many bytes (a byte stream's chunks: reads ask for at most 1 MiB)
 * are delivered as the frames they arrived in, uncopied: a receiver that needs a part in
 * one buffer joins its frames then, which costs no more than copying it here. A larger
 * part is copied here frame by frame into a buffer of its own, so that it is never held
 * twice (as frames, then joined).
 */
export const VIEW_PART_MAX_BYTES = 1024 * 1024;

/**
 * One incoming message with parts, filled frame by frame as its frames are opened: its
 * head, then its parts' bytes, either as views of the opened frames (every part at most
 * {@link VIEW_PART_MAX_BYTES}) or copied into one buffer per part. Made only from a head
 * whose lengths add up to at most the message limit, so nothing is ever larger than what
 * the limit already allows.
 */
export class PartsSink {
  /** Bytes of the head, then of each part. */
  readonly #sizes: readonly number[];
  /** Views mode: the parts' bytes as they arrived; else one buffer per part, filled. */
  readonly #parts: Uint8Array[];
  readonly #views: boolean;
  #head: Uint8Array | undefined;
  /** Copy mode: the buffer being filled (0 the head) and bytes in it so far. */
  #index = 0;
  #at = 0;
  #left: number;

  private constructor(sizes: readonly number[], total: number, views: boolean) {
    this.#sizes = sizes;
    this.#left = total;
    this.#views = views;
    // Not zero-filled: every byte is written before the message is delivered (`complete`).
    this.#parts = views ? [] : sizes.slice(1).map(ownBytes);
  }

  /**
   * A sink for the message whose first frame body is `first`.
   * @param viewPartMaxBytes Largest part delivered as views (tests lower it).
   * @returns `undefined` when `first` does not start with a whole head, or the head
   * announces more than `maxMessageBytes` (the message is then gathered as any other).
   */
  static open(
    first: Uint8Array,
    maxMessageBytes: number,
    viewPartMaxBytes = VIEW_PART_MAX_BYTES,
  ): PartsSink | undefined {
    const sizes = readSizes(first);
    if (sizes === undefined) return undefined;
    let total = 0;
    let largest = 0;
    for (let i = 1; i < sizes.length; i++) largest = Math.max(largest, sizes[i]!);
    for (const n of sizes) total += n;
    if (total > maxMessageBytes) return undefined;
    return new PartsSink(sizes, total, largest <= viewPartMaxBytes);
  }

  /** True once every announced byte has arrived. */
  get complete(): boolean {
    return this.#left === 0;
  }

  /** The head (once complete). */
  get head(): Uint8Array {
    return this.#head!;
  }

  /**
   * The parts' bytes (once complete): one buffer per part, each of its own, or views of
   * the frames they arrived in, cut where the frames were.
   */
  get parts(): Uint8Array[] {
    return this.#parts;
  }

  /**
   * Takes the next bytes of the message: as views when the parts are delivered so (the
   * caller hands over `piece`, freshly opened, and never reuses it), else copied.
   * @returns false when they run past what the head announced.
   */
  write(piece: Uint8Array): boolean {
    if (piece.length > this.#left) return false;
    this.#left -= piece.length;
    let from = 0;
    const headBytes = this.#sizes[0]!;
    if (this.#index === 0) {
      // The head: a view when it lies whole in this piece (the usual case), else gathered.
      if (this.#at === 0 && piece.length >= headBytes) {
        this.#head = piece.subarray(0, headBytes);
        from = headBytes;
      } else {
        this.#head ??= new Uint8Array(headBytes);
        from = Math.min(piece.length, headBytes - this.#at);
        this.#head.set(piece.subarray(0, from), this.#at);
        this.#at += from;
        if (this.#at < headBytes) return true;
      }
      this.#index = 1;
      this.#at = 0;
    }
    if (from === piece.length) return true;
    if (this.#views) {
      this.#parts.push(from === 0 ? piece : piece.subarray(from));
      return true;
    }
    while (from < piece.length) {
      const target = this.#parts[this.#index - 1]!;
      const n = Math.min(piece.length - from, target.length - this.#at);
      target.set(piece.subarray(from, from + n), this.#at);
      from += n;
      this.#at += n;
      if (this.#at === target.length) {
        this.#index++;
        this.#at = 0;
      }
    }
    return true;
  }
}
