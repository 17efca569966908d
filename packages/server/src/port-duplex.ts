/**
 * The bytes of a socket that lives on another thread, as a Duplex stream on this one.
 * Node 20 cannot hand a socket to a worker thread, so the main thread owns the socket
 * and the two ends exchange its bytes over a MessagePort, transferring the buffers.
 *
 * Port messages are either bytes (a Uint8Array) or a small control object: `{ t: 'eof' }`
 * from the main thread when the peer ended, and from the worker `{ t: 'verdict' }` (the
 * authenticators accepted the peer; OK follows), `{ t: 'authenticated' }`, `{ t: 'end' }`
 * and `{ t: 'ack', bytes }`.
 *
 * Flow control across threads is a credit window the main thread enforces: it stops
 * reading the socket while more than its window of relayed bytes is unacknowledged, and
 * the worker acknowledges bytes once its read buffer has taken them (at once, or when
 * its consumer drains the buffer). A worker too busy to run its event loop acknowledges
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

/** A Duplex whose writes go out on `port` and whose reads come in from it. */
export class PortDuplex extends Duplex {
  readonly #port: MessagePort;
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  #onControl: ((message: PortControl) => void) | undefined;
  /** Bytes taken into the read buffer past its high-water mark, not yet acknowledged. */
  #owed = 0;

  constructor(port: MessagePort, remoteAddress: string, remotePort?: number) {
    super();
    this.#port = port;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    port.on('message', (message: Uint8Array | PortControl) => {
      if (message instanceof Uint8Array) {
        const more = this.push(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
        // Past the high-water mark the bytes are owed until the consumer reads.
        if (more) this.#ack(message.byteLength);
        else this.#owed += message.byteLength;
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
    // The consumer wants more: give the main thread back the credit it waits for.
    const owed = this.#owed;
    if (owed === 0) return;
    this.#owed = 0;
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
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#port.postMessage(bytes, transferable(bytes));
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    // Many small frames become one message to the other thread.
    let total = 0;
    for (const { chunk } of chunks) total += chunk.byteLength;
    const joined = new Uint8Array(total);
    let at = 0;
    for (const { chunk } of chunks) {
      joined.set(chunk, at);
      at += chunk.byteLength;
    }
    this.#port.postMessage(joined, [joined.buffer]);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#port.postMessage({ t: 'end' } satisfies PortControl);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    try {
      this.#port.postMessage({ t: 'end' } satisfies PortControl);
    } catch {
      // The port is already closed.
    }
    this.#port.close();
    callback(error);
  }
}
