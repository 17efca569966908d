/**
 * The floor for any encrypted channel built on node:crypto's ChaCha20-Poly1305: keyway's
 * frame layout (`u16be length ‖ AEAD(type ‖ body)`, 64-bit counter nonces) sealed and
 * opened with nothing around it — a fixed key instead of a handshake, no limits, no rekey
 * checks, no message layer, no error handling. The channel benchmark runs it beside
 * keyway's SecureChannel, so the cost of the channel's own code shows as the distance
 * between the two, and the cost of node:crypto itself as the distance to node:tls.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Socket } from 'node:net';

const KEY = Buffer.alloc(32, 0x5a);
const TAG_BYTES = 16;
const DATA = Buffer.of(0);

function nonceOf(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(counter >>> 0, 4);
  nonce.writeUInt32LE(Math.floor(counter / 2 ** 32), 8);
  return nonce;
}

/** Seals each body as one frame and writes it (header, type, body, tag) in one writev. */
export class FloorSender {
  #counter = 0;
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Sends one frame; `body` must fit one frame (at most 65518 bytes). */
  send(body: Uint8Array): void {
    const cipher = createCipheriv('chacha20-poly1305', KEY, nonceOf(this.#counter++), {
      authTagLength: TAG_BYTES,
    });
    const length = 1 + body.length + TAG_BYTES;
    const socket = this.#socket;
    socket.cork();
    socket.write(Buffer.of(length >>> 8, length & 0xff));
    socket.write(cipher.update(DATA));
    socket.write(cipher.update(body));
    cipher.final();
    socket.write(cipher.getAuthTag());
    process.nextTick(() => socket.uncork());
  }
}

/**
 * Opens the frames arriving on `socket` and reports each body's length. A frame that
 * lies in one received chunk is opened where it lies; one split across chunks is first
 * joined in a reused buffer, as keyway's FrameReader does.
 */
export function floorReceive(socket: Socket, onBody: (bytes: number) => void): void {
  const chunks: Buffer[] = [];
  let buffered = 0;
  let counter = 0;
  const scratch = Buffer.allocUnsafe(65535);
  const peek = (index: number): number => {
    for (const chunk of chunks) {
      if (index < chunk.length) return chunk[index]!;
      index -= chunk.length;
    }
    throw new RangeError('beyond buffered bytes');
  };
  const take = (n: number): Buffer => {
    const first = chunks[0]!;
    if (first.length >= n) {
      chunks[0] = first.subarray(n);
      if (chunks[0].length === 0) chunks.shift();
      return first.subarray(0, n);
    }
    let filled = 0;
    while (filled < n) {
      const chunk = chunks[0]!;
      const count = Math.min(chunk.length, n - filled);
      chunk.copy(scratch, filled, 0, count);
      filled += count;
      if (count === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(count);
    }
    return scratch.subarray(0, n);
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (buffered >= 2) {
      const length = (peek(0) << 8) | peek(1);
      if (buffered < 2 + length) return;
      take(2);
      const frame = take(length);
      buffered -= 2 + length;
      const decipher = createDecipheriv('chacha20-poly1305', KEY, nonceOf(counter++), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAuthTag(frame.subarray(length - TAG_BYTES));
      const plaintext = decipher.update(frame.subarray(0, length - TAG_BYTES));
      decipher.final();
      onBody(plaintext.length - 1);
    }
  });
}
