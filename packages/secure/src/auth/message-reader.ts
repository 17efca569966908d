/**
 * Reads the authentication messages that precede RPC on a secure channel, then hands the
 * channel on (docs/security.md, "Authentication"). A channel delivers to one receiver
 * installed once; this reader is that receiver. While authenticating it queues messages
 * for `next()`, a few at most ({@link DEFAULT_AUTH_QUEUE_LIMITS}): a peer that is not yet
 * authenticated must not make the server hold more than that. PING and REKEY frames
 * count as messages that never leave the queue: they carry nothing, but each costs a
 * decryption, so a flood of them before the verdict closes the channel too. After `handoff()` it
 * forwards every message to the RPC engine's receiver, with nothing lost in between.
 */
import { ChannelError, UsageError } from '../errors.js';

/** The receiving half of a message transport (the shape @keyway/core's Transport uses). */
export interface MessageReceiver {
  onMessage(data: Uint8Array): void;
  /** A message as its head and out-of-line parts (docs/protocol.md §2); optional. */
  onMessageParts?(head: Uint8Array, parts: Uint8Array[]): void;
  onClose(error?: Error): void;
  /** A PING or REKEY frame arrived; optional. */
  onControlFrame?(type: 'ping' | 'rekey'): void;
}

/** The message transport shape the RPC engine runs over. */
export interface MessageTransport {
  send(data: Uint8Array): void;
  /** Sends one message given as pieces in order, without joining them; optional. */
  sendParts?(pieces: readonly Uint8Array[]): void;
  start(receiver: MessageReceiver): void;
  /**
   * Optional: stops delivery, so that another receiver can `start()` (the secure channel
   * can). A reader over such a transport steps out of the way once handed off.
   */
  stop?(): void;
  close(error?: Error): void;
  readonly remoteAddress?: string | undefined;
}

/**
 * Bounds on the messages a peer may have waiting, unread, while authentication runs (an
 * authenticator may take seconds, e.g. a directory lookup). Past either bound the
 * connection is closed with `ChannelError`.
 */
export interface AuthQueueLimits {
  /** Most messages waiting unread before the verdict, PING and REKEY frames included. */
  readonly maxMessages: number;
  /** Most message bytes waiting unread before the verdict. */
  readonly maxBytes: number;
}

/**
 * 16 messages and 64 KiB (the default pre-authentication message limit): a password
 * login, the longest exchange, has at most one client message in flight, so an honest
 * peer never comes near either.
 */
export const DEFAULT_AUTH_QUEUE_LIMITS: AuthQueueLimits = Object.freeze({
  maxMessages: 16,
  maxBytes: 64 * 1024,
});

/**
 * Merges `patch` onto {@link DEFAULT_AUTH_QUEUE_LIMITS} and validates the result.
 * @throws {RangeError} when a bound is not a positive integer
 */
export function resolveAuthQueueLimits(patch: Partial<AuthQueueLimits> = {}): AuthQueueLimits {
  // Every connection of a server without its own bounds shares the frozen defaults.
  if (
    patch === DEFAULT_AUTH_QUEUE_LIMITS ||
    (patch.maxMessages === undefined && patch.maxBytes === undefined)
  )
    return DEFAULT_AUTH_QUEUE_LIMITS;
  const limits = { ...DEFAULT_AUTH_QUEUE_LIMITS };
  if (patch.maxMessages !== undefined) limits.maxMessages = patch.maxMessages;
  if (patch.maxBytes !== undefined) limits.maxBytes = patch.maxBytes;
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`authQueueLimits.${name} must be a positive integer`);
    }
  }
  return Object.freeze(limits);
}

/** Options of a {@link MessageReader}. */
export interface MessageReaderOptions {
  /** Bounds of the queue before the verdict; {@link DEFAULT_AUTH_QUEUE_LIMITS} by default. */
  limits?: Partial<AuthQueueLimits> | undefined;
  /**
   * Says whether a received message ends authentication, lifting the bounds for every
   * message after it. The client passes its test for OK: the server may send RPC right
   * behind OK, in the same read, before the client gets to call `handoff()`.
   */
  endsAuthentication?: ((message: Uint8Array) => boolean) | undefined;
}

// Set in MessageReader's static block: how `HandedOff` reaches the reader's private state.
let startDownstream: (reader: MessageReader, receiver: MessageReceiver) => void;

/** Reads the first few messages of a transport, then passes the transport on. */
export class MessageReader implements MessageReceiver {
  readonly #transport: MessageTransport;
  readonly #limits: AuthQueueLimits;
  readonly #endsAuthentication: ((message: Uint8Array) => boolean) | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** PING and REKEY frames received while bounded: they count against `maxMessages`. */
  #controlFrames = 0;
  #bounded = true;
  #waiter: { resolve(data: Uint8Array): void; reject(error: Error): void } | undefined;
  #closed: { error: Error | undefined } | undefined;
  #limitError: ChannelError | undefined;
  #downstream: MessageReceiver | undefined;
  #handedOff = false;

  /** @throws {RangeError} when `options.limits` holds a bound that is not a positive integer */
  constructor(transport: MessageTransport, options: MessageReaderOptions = {}) {
    this.#limits = resolveAuthQueueLimits(options.limits);
    this.#endsAuthentication = options.endsAuthentication;
    this.#transport = transport;
    transport.start(this);
  }

  /** The error the reader closed the transport with when the peer overran its bounds. */
  get limitError(): ChannelError | undefined {
    return this.#limitError;
  }

  onMessage(data: Uint8Array): void {
    if (this.#downstream) {
      this.#downstream.onMessage(data);
      return;
    }
    // Nothing more is kept from a peer that overran the bounds.
    if (this.#limitError) return;
    const bounded = this.#bounded;
    if (bounded && this.#endsAuthentication?.(data)) this.#bounded = false;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(data);
      return;
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (bounded) this.#checkBounds();
  }

  /**
   * A message with out-of-line parts: passed on apart once handed off to a receiver that
   * takes parts, else joined (authentication messages never have parts).
   */
  onMessageParts(head: Uint8Array, parts: Uint8Array[]): void {
    const downstream = this.#downstream;
    if (downstream?.onMessageParts !== undefined) {
      downstream.onMessageParts(head, parts);
      return;
    }
    this.onMessage(joinPieces([head, ...parts]));
  }

  /** Counts a PING or REKEY frame against the bounds while authentication runs. */
  onControlFrame(type: 'ping' | 'rekey'): void {
    if (this.#downstream) {
      this.#downstream.onControlFrame?.(type);
      return;
    }
    if (this.#limitError || !this.#bounded) return;
    this.#controlFrames++;
    this.#checkBounds();
  }

  #checkBounds(): void {
    const { maxMessages, maxBytes } = this.#limits;
    if (this.#queue.length + this.#controlFrames > maxMessages || this.#queuedBytes > maxBytes) {
      this.#overrun(
        new ChannelError(
          `peer sent more than ${maxMessages} messages or ${maxBytes} bytes before authentication finished`,
        ),
      );
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

  /**
   * The next message. Rejects when the channel closes first.
   * @throws {UsageError} (as a rejection) when another `next()` is still pending
   */
  next(): Promise<Uint8Array> {
    const queued = this.#queue.shift();
    if (queued) {
      this.#queuedBytes -= queued.length;
      return Promise.resolve(queued);
    }
    if (this.#closed) {
      return Promise.reject(
        this.#closed.error ?? new ChannelError('channel closed during authentication'),
      );
    }
    if (this.#waiter) return Promise.reject(new UsageError('next() is already pending'));
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
   * still queued) to whoever starts it. From here on the queue is not bounded: a client
   * may pipeline calls right after OK, before the RPC engine starts the transport.
   * Callable once.
   * @throws {UsageError} when called twice, or when the returned transport is started twice
   */
  handoff(): MessageTransport {
    if (this.#handedOff) throw new UsageError('handoff() was already called');
    this.#handedOff = true;
    this.#bounded = false;
    // An object with shared methods, not one closure per method: it lives as long as the
    // connection does.
    return new HandedOff(this, this.#transport);
  }

  static {
    startDownstream = (reader, receiver) => reader.#startDownstream(receiver);
  }

  #startDownstream(receiver: MessageReceiver): void {
    if (this.#downstream) throw new UsageError('transport already started');
    const transport = this.#transport;
    // A transport that can stop and start again then delivers to `receiver` itself: this
    // reader is let go instead of forwarding every message for the connection's life.
    const direct = this.#closed === undefined && transport.stop !== undefined;
    if (direct) transport.stop?.();
    const queued = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const data of queued) receiver.onMessage(data);
    this.#downstream = receiver;
    if (this.#closed) receiver.onClose(this.#closed.error);
    else if (direct) transport.start(receiver);
  }

  /** Drops the queue, closes the transport with `error` and fails every reader. */
  #overrun(error: ChannelError): void {
    this.#limitError = error;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#closed = { error };
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
    this.#transport.close(error);
  }
}

/** The transport `handoff()` returns: the reader's transport, started through the reader. */
class HandedOff implements MessageTransport {
  /** Until started: then the reader is no longer needed here. */
  #reader: MessageReader | undefined;
  readonly #transport: MessageTransport;

  constructor(reader: MessageReader, transport: MessageTransport) {
    this.#reader = reader;
    this.#transport = transport;
  }

  get remoteAddress(): string | undefined {
    return this.#transport.remoteAddress;
  }

  send(data: Uint8Array): void {
    this.#transport.send(data);
  }

  sendParts(pieces: readonly Uint8Array[]): void {
    const transport = this.#transport;
    if (transport.sendParts === undefined) transport.send(joinPieces(pieces));
    else transport.sendParts(pieces);
  }

  close(error?: Error): void {
    this.#transport.close(error);
  }

  start(receiver: MessageReceiver): void {
    const reader = this.#reader;
    if (reader === undefined) throw new UsageError('transport already started');
    startDownstream(reader, receiver);
    this.#reader = undefined;
  }
}

function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
