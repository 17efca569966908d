/**
 * A MessagePort as a message transport (docs/design.md §1, §5: the worker pool pumps bytes over
 * MessagePorts). Buffers are transferred, not cloned; a view into a larger buffer is
 * copied first so that transferring never detaches memory the sender still uses. The
 * pieces of a message with out-of-line parts are copied and transferred as one array.
 */
import type { MessagePort } from 'node:worker_threads';
import { ConnectionClosedError, ProtocolError } from './errors.js';
import { deliverPieces, joinPieces } from './message-parts.js';
import type { Transport, TransportReceiver } from './transport.js';

// A close travels as this string so that it can never be confused with a byte message.
const CLOSE = 'keyway:close';
const FAIL = 'keyway:fail';

class MessagePortTransport implements Transport {
  readonly remoteAddress: string | undefined;
  readonly #port: MessagePort;
  #receiver: TransportReceiver | undefined;
  #closed = false;
  #closeError: Error | undefined;
  #closeDelivered = false;
  #early: Uint8Array[] = [];

  constructor(port: MessagePort, remoteAddress: string | undefined) {
    this.#port = port;
    this.remoteAddress = remoteAddress;
    port.on('message', (data: unknown) => this.#onMessage(data));
    port.on('close', () => this.#finish(undefined));
  }

  send(data: Uint8Array): void {
    if (this.#closed) throw new ConnectionClosedError('transport is closed');
    const whole =
      data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    this.#port.postMessage(whole, [whole.buffer as ArrayBuffer]);
  }

  /** Copies the pieces (the caller keeps its buffers) and transfers the copies. */
  sendParts(pieces: readonly Uint8Array[]): void {
    if (this.#closed) throw new ConnectionClosedError('transport is closed');
    const copies = pieces.map((piece) => piece.slice());
    this.#port.postMessage(
      copies,
      copies.map((copy) => copy.buffer),
    );
  }

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
    try {
      this.#port.postMessage(error === undefined ? CLOSE : FAIL);
    } catch {
      // The port may already be gone; closing it below is what matters.
    }
    this.#finish(error);
    this.#port.close();
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    if (data instanceof Uint8Array) {
      if (this.#receiver) this.#receiver.onMessage(data);
      else this.#early.push(data);
    } else if (Array.isArray(data) && data.every((piece) => piece instanceof Uint8Array)) {
      const pieces = data as Uint8Array[];
      if (this.#receiver) deliverPieces(this.#receiver, pieces);
      else this.#early.push(joinPieces(pieces));
    } else if (data === CLOSE) {
      this.#finish(undefined);
      this.#port.close();
    } else if (data === FAIL) {
      this.#finish(new ConnectionClosedError('peer failed'));
      this.#port.close();
    } else {
      const error = new ProtocolError('MessagePort delivered something other than bytes');
      this.close(error);
    }
  }

  #finish(error: Error | undefined): void {
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
 * Wraps a `MessagePort` (from `node:worker_threads`) as a message transport.
 * @param port One end of a `MessageChannel`; the transport owns it from now on.
 * @param remoteAddress A label for logs and credentials.
 * @returns A {@link Transport}.
 * @example
 * const { port1, port2 } = new MessageChannel();
 * const [a, b] = [messagePortTransport(port1), messagePortTransport(port2)];
 */
export function messagePortTransport(port: MessagePort, remoteAddress?: string): Transport {
  return new MessagePortTransport(port, remoteAddress);
}
