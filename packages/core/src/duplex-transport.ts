/**
 * Length-prefixed framing over any Node Duplex stream (docs/design.md §1: `core` speaks to a
 * message `Transport`; a TCP socket or any byte stream becomes one here). Each message
 * is `u32be length ‖ bytes`. Reassembly is bounded by `maxMessageBytes`: an announced
 * length above it closes the transport with {@link MessageTooLargeError} before any body
 * byte is buffered. A message with out-of-line parts (docs/protocol.md §2) is framed the
 * same way; on arrival it is copied from the socket reads straight into one buffer per part.
 */
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, LimitExceededError, MessageTooLargeError } from './errors.js';
import { type PartsLayout, partsBuffers, readPartsLayout } from './message-parts.js';
import type { Transport, TransportReceiver } from './transport.js';

/** Options of {@link duplexTransport}. */
export interface DuplexTransportOptions {
  /** Largest message accepted or sent, in bytes. Default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
  /** Overrides the `remoteAddress` reported (default: `ip:port` of a socket, if any). */
  remoteAddress?: string;
  /**
   * Most bytes allowed to wait in the stream's write buffer; above it the peer is not
   * reading and the transport closes. Default {@link DEFAULT_MAX_BUFFERED_BYTES}.
   */
  maxBufferedBytes?: number;
}

/** Default bound on bytes waiting to be written to a peer that does not read: 64 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * Default largest framed message: 16 MiB of payload plus 64 KiB for the envelope of its
 * call (16,842,752 bytes), the same as the connection's default.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 64 * 1024;

const HEADER_BYTES = 4;

class DuplexTransport implements Transport {
  readonly remoteAddress: string | undefined;
  readonly #stream: Duplex;
  readonly #max: number;
  readonly #maxBuffered: number;
  #receiver: TransportReceiver | undefined;
  #early: Uint8Array[] = [];
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;
  #closed = false;
  #closeError: Error | undefined;
  #closeDelivered = false;
  #corked = false;

  constructor(stream: Duplex, options: DuplexTransportOptions) {
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1 || max > 0xffffffff)
      throw new RangeError('maxMessageBytes must be an integer between 1 and 2^32-1');
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    if (!Number.isSafeInteger(maxBuffered) || maxBuffered < 1)
      throw new RangeError('maxBufferedBytes must be a positive integer');
    this.#stream = stream;
    this.#max = max;
    this.#maxBuffered = maxBuffered;
    const socketLike = stream as Duplex & { remoteAddress?: string; remotePort?: number };
    this.remoteAddress =
      options.remoteAddress ??
      (socketLike.remoteAddress === undefined
        ? undefined
        : `${socketLike.remoteAddress}:${socketLike.remotePort ?? 0}`);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (error: Error) =>
      this.#finish(new ConnectionClosedError('stream failed', { cause: error })),
    );
    stream.on('close', () => this.#finish(undefined));
    stream.on('end', () => {
      // The peer half-closed: a message transport has no use for half a connection.
      this.#finish(undefined);
    });
  }

  send(data: Uint8Array): void {
    this.#sendFrame([data], data.byteLength);
  }

  /**
   * Sends the pieces of one message, copied into one frame. The socket writes later, and
   * a service may change a buffer it has already returned: writing the caller's buffers
   * as they are would race with that, so this one copy stays on plain streams.
   */
  sendParts(pieces: readonly Uint8Array[]): void {
    let total = 0;
    for (const piece of pieces) total += piece.byteLength;
    this.#sendFrame(pieces, total);
  }

  #sendFrame(pieces: readonly Uint8Array[], length: number): void {
    if (this.#closed) throw new ConnectionClosedError('transport is closed');
    if (length > this.#max) throw new MessageTooLargeError(length, this.#max);
    if (this.#stream.writableLength > this.#maxBuffered) {
      const error = new LimitExceededError(
        `more than ${this.#maxBuffered} bytes wait for a peer that does not read`,
      );
      this.close(error);
      throw error;
    }
    const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
    frame.writeUInt32BE(length, 0);
    let at = HEADER_BYTES;
    for (const piece of pieces) {
      frame.set(piece, at);
      at += piece.byteLength;
    }
    // Frames written in one turn of the event loop leave in one writev system call.
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(this.#uncork);
    }
    this.#stream.write(frame);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#stream.uncork();
  };

  start(receiver: TransportReceiver): void {
    if (this.#receiver) throw new Error('transport already started');
    this.#receiver = receiver;
    const early = this.#early;
    this.#early = [];
    for (const message of early) receiver.onMessage(message);
    if (this.#closed) this.#deliverClose();
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#finish(error);
    if (error === undefined) {
      this.#stream.end();
      return;
    }
    // Frames of this turn wait in the cork; the last one is often the ABORT telling the
    // peer why, which destroy() alone would discard.
    if (this.#corked) this.#uncork();
    this.#stream.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    while (!this.#closed) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER_BYTES) return;
        const length = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (length > this.#max) {
          const error = new MessageTooLargeError(length, this.#max);
          this.#finish(error);
          this.#stream.destroy();
          return;
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) return;
      const layout = this.#partsLayout(this.#need);
      if (layout !== undefined) {
        const buffers = partsBuffers(layout);
        for (const buffer of buffers) this.#takeInto(buffer);
        this.#need = -1;
        this.#receiver!.onMessageParts!(buffers[0]!, buffers.slice(1));
        continue;
      }
      const message = this.#take(this.#need);
      this.#need = -1;
      this.#deliver(message);
    }
  }

  /** Removes exactly `n` bytes from the front of the buffered chunks, copying only when split. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.byteLength === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.byteLength > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const want = n - filled;
      if (chunk.byteLength <= want) {
        out.set(chunk, filled);
        filled += chunk.byteLength;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        this.#chunks[0] = chunk.subarray(want);
        filled = n;
      }
    }
    return out;
  }

  /**
   * The layout of the buffered message of `n` bytes when it has out-of-line parts, its head
   * lies in the first chunk, and the receiver takes parts apart; else `undefined` (the
   * message is delivered whole, and the codec judges it).
   */
  #partsLayout(n: number): PartsLayout | undefined {
    if (this.#receiver?.onMessageParts === undefined || n === 0) return undefined;
    const first = this.#chunks[0]!;
    const layout = readPartsLayout(first.subarray(0, Math.min(n, first.byteLength)), this.#max);
    return layout !== undefined && !('reason' in layout) && layout.totalBytes === n
      ? layout
      : undefined;
  }

  /** Fills `out` from the front of the buffered chunks. */
  #takeInto(out: Uint8Array): void {
    const n = out.byteLength;
    this.#buffered -= n;
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const want = n - filled;
      if (chunk.byteLength <= want) {
        out.set(chunk, filled);
        filled += chunk.byteLength;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        this.#chunks[0] = chunk.subarray(want);
        filled = n;
      }
    }
  }

  #deliver(message: Uint8Array): void {
    if (this.#receiver) this.#receiver.onMessage(message);
    else this.#early.push(message);
  }

  #finish(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#chunks = [];
    this.#deliverClose();
  }

  #deliverClose(): void {
    if (this.#closeDelivered || !this.#receiver) return;
    this.#closeDelivered = true;
    this.#receiver.onClose(this.#closeError);
  }
}

/**
 * Turns a Node Duplex (a `net.Socket`, a pipe, a TLS socket...) into a message transport
 * with `u32be` length prefixes.
 * @param stream The byte stream; the transport owns it from now on and ends it on close.
 * @param options Limits and labels.
 * @returns A {@link Transport}.
 * @throws {RangeError} When `maxMessageBytes` is not an integer in 1..2^32-1.
 * @example
 * const transport = duplexTransport(net.connect(port, '127.0.0.1'));
 */
export function duplexTransport(stream: Duplex, options: DuplexTransportOptions = {}): Transport {
  return new DuplexTransport(stream, options);
}
