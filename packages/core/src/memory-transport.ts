/**
 * An in-memory transport pair: what one side sends, the other receives, asynchronously
 * and in order, as a socket would deliver it.
 */
import { ConnectionClosedError } from './errors.js';
import { deliverPieces, joinPieces } from './message-parts.js';
import type { Transport, TransportReceiver } from './transport.js';

class MemoryTransport implements Transport {
  peer: MemoryTransport | undefined;
  readonly remoteAddress: string;
  #receiver: TransportReceiver | undefined;
  #queue: Uint8Array[] = [];
  #outbox: (Uint8Array | Uint8Array[])[] = [];
  #closed = false;
  #closeError: Error | undefined;
  #closeDelivered = false;

  constructor(remoteAddress: string) {
    this.remoteAddress = remoteAddress;
  }

  send(data: Uint8Array): void {
    if (this.#closed) throw new ConnectionClosedError('transport is closed');
    this.#post(data);
  }

  /** Copies each piece (the caller keeps its buffers) and delivers them apart. */
  sendParts(pieces: readonly Uint8Array[]): void {
    if (this.#closed) throw new ConnectionClosedError('transport is closed');
    this.#post(pieces.map((piece) => piece.slice()));
  }

  // Messages sent in one turn leave together on a later microtask, in order, as a socket
  // delivers what was written meanwhile in one read; a send never re-enters the sender's
  // stack, and a burst of sends costs one microtask, not one each.
  #post(item: Uint8Array | Uint8Array[]): void {
    this.#outbox.push(item);
    if (this.#outbox.length === 1) queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    const items = this.#outbox;
    this.#outbox = [];
    const peer = this.peer;
    if (peer === undefined) return;
    for (const item of items) {
      if (item instanceof Uint8Array) peer.deliver(item);
      else peer.deliverPieces(item);
    }
  };

  start(receiver: TransportReceiver): void {
    if (this.#receiver) throw new Error('transport already started');
    this.#receiver = receiver;
    const queued = this.#queue;
    this.#queue = [];
    for (const data of queued) receiver.onMessage(data);
    if (this.#closed) this.#deliverClose();
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    const peer = this.peer;
    queueMicrotask(() => {
      this.#deliverClose();
      peer?.remoteClosed(
        error === undefined
          ? undefined
          : new ConnectionClosedError('peer failed', { cause: error }),
      );
    });
  }

  deliver(data: Uint8Array): void {
    if (this.#closed) return;
    if (this.#receiver) this.#receiver.onMessage(data);
    else this.#queue.push(data);
  }

  deliverPieces(pieces: Uint8Array[]): void {
    if (this.#closed) return;
    if (this.#receiver) deliverPieces(this.#receiver, pieces);
    else this.#queue.push(joinPieces(pieces));
  }

  remoteClosed(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#deliverClose();
  }

  #deliverClose(): void {
    if (this.#closeDelivered || !this.#receiver) return;
    this.#closeDelivered = true;
    this.#receiver.onClose(this.#closeError);
  }
}

/**
 * Creates two connected in-memory transports.
 * @returns `[a, b]`: what `a` sends `b` receives and the other way round.
 * @example
 * const [a, b] = memoryTransportPair();
 */
export function memoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport('memory:b');
  const b = new MemoryTransport('memory:a');
  a.peer = b;
  b.peer = a;
  return [a, b];
}
