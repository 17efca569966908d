/**
 * The length check a ThreadPoolServer's main thread applies to a client's bytes before
 * the worker's verdict (docs/security.md, "Admission"). Everything a keyway client sends
 * — Noise handshake messages, then channel frames — is `u16be length ‖ body`, so the
 * main thread can refuse an oversize frame from its 2-byte header alone, without a key
 * and without waiting for a worker that may be busy. Sans-IO: fed chunks, says yes or no.
 */

/** Follows the frame boundaries of a byte stream and flags the first oversize length. */
export class FrameLengthGuard {
  readonly #maxFrameBytes: number;
  /** Body bytes of the current frame still to skip. */
  #skip = 0;
  /** The first header byte, when a header was split across chunks. */
  #high: number | undefined;

  /**
   * @param maxFrameBytes the largest frame body allowed (0..65535)
   * @throws {RangeError} when it is out of range
   */
  constructor(maxFrameBytes: number) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > 65535) {
      throw new RangeError(`maxFrameBytes must be an integer 0..65535, got ${maxFrameBytes}`);
    }
    this.#maxFrameBytes = maxFrameBytes;
  }

  /**
   * Follows `chunk`, the next bytes of the stream.
   * @returns the first frame length above the limit, or undefined when all are within it
   *   (after an oversize length the guard's state is meaningless: close the stream)
   */
  push(chunk: Uint8Array): number | undefined {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.#skip > 0) {
        const step = Math.min(this.#skip, end - at);
        this.#skip -= step;
        at += step;
        continue;
      }
      let length: number;
      if (this.#high !== undefined) {
        length = (this.#high << 8) | chunk[at]!;
        this.#high = undefined;
        at += 1;
      } else if (at + 1 < end) {
        length = (chunk[at]! << 8) | chunk[at + 1]!;
        at += 2;
      } else {
        this.#high = chunk[at]!;
        at += 1;
        continue;
      }
      if (length > this.#maxFrameBytes) return length;
      this.#skip = length;
    }
    return undefined;
  }
}
