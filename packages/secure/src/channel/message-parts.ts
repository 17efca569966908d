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
 * The buffers of one incoming message with parts, filled frame by frame as its frames are
 * opened. Made only from a head whose lengths add up to at most the message limit, so no
 * buffer is ever larger than what the limit already allows.
 */
export class PartsSink {
  /** The head, then one buffer per part. */
  readonly buffers: Uint8Array[];
  #index = 0;
  #at = 0;
  #left: number;

  private constructor(sizes: readonly number[], total: number) {
    // Not zero-filled: every byte is written before the message is delivered (`complete`).
    this.buffers = sizes.map(ownBytes);
    this.#left = total;
  }

  /**
   * A sink for the message whose first frame body (or its first piece) is `first`.
   * @returns `undefined` when `first` does not start with a whole head, or the head
   * announces more than `maxMessageBytes` (the message is then gathered as any other).
   */
  static open(first: Uint8Array, maxMessageBytes: number): PartsSink | undefined {
    const sizes = readSizes(first);
    if (sizes === undefined) return undefined;
    let total = 0;
    for (const n of sizes) total += n;
    if (total > maxMessageBytes) return undefined;
    return new PartsSink(sizes, total);
  }

  /** True once every announced byte has arrived. */
  get complete(): boolean {
    return this.#left === 0;
  }

  /**
   * Copies the next bytes of the message into place.
   * @returns false when they run past what the head announced.
   */
  write(piece: Uint8Array): boolean {
    if (piece.length > this.#left) return false;
    this.#left -= piece.length;
    let from = 0;
    while (from < piece.length) {
      const target = this.buffers[this.#index]!;
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
