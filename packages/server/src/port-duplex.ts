/**
 * The bytes of a socket that lives on another thread, as a Duplex stream on this one.
 * Node 20 cannot hand a socket to a worker thread, so the main thread owns the socket
 * and the two ends exchange its bytes over a MessagePort, transferring the buffers.
 *
 * Port messages are bytes (a Uint8Array; from the worker, an array of them: every frame
 * written in one turn of its event loop, moved without a copy when each owns its buffer,
 * which the main thread writes corked, as one batch) or a small control object: `{ t: 'eof' }`
 * from the main thread when the peer ended, and from the worker `{ t: 'verdict' }` (the
 * authenticators accepted the peer; OK follows), `{ t: 'authenticated' }`, `{ t: 'end' }`
 * and `{ t: 'ack', bytes }`.
 *
 * Flow control across threads is a credit window the main thread enforces: it stops
 * reading the socket while more than its window of relayed bytes is unacknowledged, and
 * the worker acknowledges bytes once its read buffer has taken them (at once, or when
 * its consumer drains the buffer), in batches of at least `ackBytes` so that small messages
 * do not each cost a message back. A worker too busy to run its event loop acknowledges
 * nothing, so a client cannot make the main thread buffer more than the window for it.
 *
 * `server.stats()` is a request and reply: `{ t: 'stats-request', id }` from the main
 * thread, `{ t: 'stats-reply', id, stats }` from the worker (`null` before the RPC
 * session is open).
 */
import { Duplex } from 'node:stream';
import type { MessagePort, Transferable } from 'node:worker_threads';
import type { ConnectionStats } from '@keyway/core';
import type { AuthLogEvent, Credentials } from '@keyway/secure';

/** Control messages exchanged beside the bytes. */
export type PortControl =
  | { readonly t: 'eof' }
  | { readonly t: 'verdict' }
  | { readonly t: 'authenticated'; readonly credentials?: Credentials }
  | { readonly t: 'log'; readonly event: AuthLogEvent }
  | { readonly t: 'end' }
  | { readonly t: 'ack'; readonly bytes: number }
  | { readonly t: 'close'; readonly graceMs: number }
  | { readonly t: 'stats-request'; readonly id: number }
  | { readonly t: 'stats-reply'; readonly id: number; readonly stats: ConnectionStats | null };

/** The transfer list that moves `bytes` without a copy, when it owns its whole buffer. */
export function transferable(bytes: Uint8Array): Transferable[] {
  const buffer = bytes.buffer;
  // A Buffer from Node's shared pool shares its ArrayBuffer with others: copy it instead.
  if (
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
  ) {
    return [buffer];
  }
  return [];
}

/**
 * The transfer list of a batch of chunks: the buffers owned wholly by one chunk each (a
 * buffer shared by two chunks, or with others, is copied by the port instead).
 */
export function transferableAll(chunks: readonly Uint8Array[]): Transferable[] {
  const list: Transferable[] = [];
  const seen = new Set<ArrayBufferLike>();
  for (const chunk of chunks) {
    const [buffer] = transferable(chunk);
    if (buffer === undefined || seen.has(chunk.buffer)) continue;
    seen.add(chunk.buffer);
    list.push(buffer);
  }
  return list;
}

/** Acknowledge the main thread's bytes once this many are taken (or at a full buffer). */
export const DEFAULT_ACK_BYTES = 16 * 1024;

/** A Duplex whose writes go out on `port` and whose reads come in from it. */
export class PortDuplex extends Duplex {
  readonly #port: MessagePort;
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  readonly #ackBytes: number;
  #onControl: ((message: PortControl) => void) | undefined;
  /** Bytes taken into the read buffer past its high-water mark, not yet acknowledged. */
  #owed = 0;
  /** Bytes taken below the high-water mark, not yet acknowledged (fewer than `ackBytes`). */
  #taken = 0;
  /** Chunks written this turn, sent together at its end. */
  #outgoing: Uint8Array[] = [];

  /**
   * @param ackBytes acknowledge in batches of this many bytes; keep it at most half the
   *   main thread's credit window, so that the window never closes on bytes the worker
   *   has taken but not acknowledged. Default {@link DEFAULT_ACK_BYTES}.
   */
  constructor(
    port: MessagePort,
    remoteAddress: string,
    remotePort?: number,
    ackBytes = DEFAULT_ACK_BYTES,
  ) {
    super();
    this.#port = port;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.#ackBytes = ackBytes;
    port.on('message', (message: Uint8Array | PortControl) => {
      if (message instanceof Uint8Array) {
        const more = this.push(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
        // Past the high-water mark the bytes are owed until the consumer reads.
        if (!more) this.#owed += message.byteLength;
        else {
          this.#taken += message.byteLength;
          if (this.#taken >= this.#ackBytes) {
            const taken = this.#taken;
            this.#taken = 0;
            this.#ack(taken);
          }
        }
      } else if (message.t === 'eof') {
        this.push(null);
      } else {
        this.#onControl?.(message);
      }
    });
    port.on('close', () => this.destroy());
  }

  /** Receives control messages other than `eof`. */
  onControl(handler: (message: PortControl) => void): void {
    this.#onControl = handler;
  }

  /** Sends a control message to the other thread. */
  control(message: PortControl): void {
    this.#port.postMessage(message);
  }

  override _read(): void {
    // The consumer wants more: give the main thread back the credit it waits for. Bytes
    // taken below the mark wait for a full batch: fewer than half the window, they can
    // never keep it shut on their own.
    if (this.#owed === 0) return;
    const owed = this.#owed + this.#taken;
    this.#owed = 0;
    this.#taken = 0;
    this.#ack(owed);
  }

  #ack(bytes: number): void {
    if (bytes === 0) return;
    try {
      this.#port.postMessage({ t: 'ack', bytes } satisfies PortControl);
    } catch {
      // The port is already closed.
    }
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#queue(chunk);
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.#queue(chunk);
    callback();
  }

  /**
   * Queues `chunk` for the end of this turn: the frames one turn writes (a batch of
   * replies) cross to the main thread as one message, and are neither joined nor copied.
   */
  #queue(chunk: Buffer): void {
    if (this.#outgoing.length === 0) queueMicrotask(() => this.#flush());
    this.#outgoing.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  #flush(): void {
    const chunks = this.#outgoing;
    if (chunks.length === 0) return;
    this.#outgoing = [];
    try {
      if (chunks.length === 1) {
        const [bytes] = chunks as [Uint8Array];
        this.#port.postMessage(bytes, transferable(bytes));
      } else this.#port.postMessage(chunks, transferableAll(chunks));
    } catch {
      // The port is already closed: the connection is gone.
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#flush();
    this.#port.postMessage({ t: 'end' } satisfies PortControl);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#flush();
    try {
      this.#port.postMessage({ t: 'end' } satisfies PortControl);
    } catch {
      // The port is already closed.
    }
    this.#port.close();
    callback(error);
  }
}
