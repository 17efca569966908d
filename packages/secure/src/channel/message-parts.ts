/**
 * Reads the head of a message with out-of-line parts (docs/protocol.md §2 "Out-of-line
 * parts"), so that the channel can deliver each part in a buffer of its own. The layout
 * belongs to @keyway/core's codec; the channel only reads lengths, never the envelope:
 *
 *     0xc1 | u32 envelope bytes | u32 part count | u32 bytes of each part | envelope | parts
 *
 * A message that does not match exactly is delivered whole, and the codec judges it.
 */

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
  const out = sizes.map((n) => new Uint8Array(n));
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
