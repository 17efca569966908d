/**
 * Reads the authentication messages that precede RPC on a secure channel, then hands the
 * channel on. A channel delivers to one receiver installed once; this reader is that
 * receiver. While authenticating it queues messages for `next()`; after `handoff()` it
 * forwards every message to the RPC engine's receiver, with nothing lost in between.
 */
import { ChannelError } from '../errors.js';

/** The receiving half of a message transport (the shape @keyway/core's Transport uses). */
export interface MessageReceiver {
  onMessage(data: Uint8Array): void;
  onClose(error?: Error): void;
}

/** The message transport shape the RPC engine runs over. */
export interface MessageTransport {
  send(data: Uint8Array): void;
  start(receiver: MessageReceiver): void;
  close(error?: Error): void;
  readonly remoteAddress?: string | undefined;
}

/** Reads the first few messages of a transport, then passes the transport on. */
export class MessageReader implements MessageReceiver {
  readonly #transport: MessageTransport;
  #queue: Uint8Array[] = [];
  #waiter: { resolve(data: Uint8Array): void; reject(error: Error): void } | undefined;
  #closed: { error: Error | undefined } | undefined;
  #downstream: MessageReceiver | undefined;
  #handedOff = false;

  constructor(transport: MessageTransport) {
    this.#transport = transport;
    transport.start(this);
  }

  onMessage(data: Uint8Array): void {
    if (this.#downstream) {
      this.#downstream.onMessage(data);
      return;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(data);
    } else {
      this.#queue.push(data);
    }
  }

  onClose(error?: Error): void {
    if (this.#closed) return;
    this.#closed = { error };
    if (this.#downstream) {
      this.#downstream.onClose(error);
      return;
    }
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error ?? new ChannelError('channel closed during authentication'));
  }

  /** The next message. Rejects when the channel closes first. */
  next(): Promise<Uint8Array> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) {
      return Promise.reject(
        this.#closed.error ?? new ChannelError('channel closed during authentication'),
      );
    }
    if (this.#waiter) return Promise.reject(new Error('next() is already pending'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Sends one message on the underlying transport. */
  send(data: Uint8Array): void {
    this.#transport.send(data);
  }

  /** Closes the underlying transport. */
  close(error?: Error): void {
    this.#transport.close(error);
  }

  /**
   * Ends authentication: returns a transport that delivers every later message (and any
   * still queued) to whoever starts it. Callable once.
   */
  handoff(): MessageTransport {
    if (this.#handedOff) throw new Error('handoff() was already called');
    this.#handedOff = true;
    const transport = this.#transport;
    return {
      send: (data) => transport.send(data),
      close: (error) => transport.close(error),
      remoteAddress: transport.remoteAddress,
      start: (receiver) => {
        if (this.#downstream) throw new Error('transport already started');
        const queued = this.#queue;
        this.#queue = [];
        for (const data of queued) receiver.onMessage(data);
        this.#downstream = receiver;
        if (this.#closed) receiver.onClose(this.#closed.error);
      },
    };
  }
}
