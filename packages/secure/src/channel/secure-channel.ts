/**
 * The secure channel (docs/security.md "Handshake and channel"): after a Noise handshake,
 * every byte on the stream is a frame `u16be length ‖ ChaChaPoly(type ‖ body)` sealed
 * with the transport CipherState of its direction and an implicit 64-bit counter nonce
 * (Noise rev 34 §5.1, §11.3 Rekey). It satisfies @keyway/core's `Transport` shape
 * structurally, without importing it.
 *
 * Frame sizes: each side cuts what it sends into frames of at most its own
 * `limits.maxFrameBytes`, and every DATA_CONTINUED frame it sends carries
 * `maxFrameBytes - 17` ≥ {@link MIN_CONTINUED_BODY_BYTES} message bytes. What it accepts
 * is not tied to what the peer chose: before authentication a received frame may be at
 * most the pre-authentication `maxFrameBytes` (16 KiB by default), and once `setLimits()`
 * has raised the limits any frame up to Noise's 65535 bytes. So peers with different
 * frame limits talk without negotiation.
 *
 * Close rules: a bad tag (which is also what a replayed, reordered or truncated frame
 * produces), an oversize length, an unknown frame type, a DATA_CONTINUED frame shorter
 * than {@link MIN_CONTINUED_BODY_BYTES}, an oversize message or EOF without a CLOSE frame
 * ends the connection with a typed error; nothing after it is parsed.
 */
import type { Duplex } from 'node:stream';
import { AEAD_KEY_BYTES, AEAD_TAG_BYTES } from '../crypto/provider.js';
import { ChannelError, DecryptError } from '../errors.js';
import type { CipherState } from '../noise/cipher-state.js';
import {
  type ChannelLimits,
  type ChannelOptions,
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  MIN_CONTINUED_BODY_BYTES,
  MIN_FRAME_BYTES,
  NOISE_MAX_FRAME_BYTES,
  type RekeyPolicy,
  resolveLimits,
  resolveRekeyPolicy,
} from './channel-options.js';
import {
  FRAME_HEADER_BYTES,
  type FrameReader,
  frameHeader,
  outgoingBytes,
} from './frame-reader.js';
import { PartsSink, splitIntoParts } from './message-parts.js';

/** The first plaintext byte of every frame. */
export const FrameType = Object.freeze({
  /** The last (or only) frame of a message. */
  DATA: 0,
  /** A frame of a message whose remaining bytes follow in later frames. */
  DATA_CONTINUED: 1,
  /** Keep-alive; carries nothing and needs no answer. */
  PING: 2,
  /** The sender switched its key with Noise `Rekey()` after this frame. */
  REKEY: 3,
  /** The sender is closing; a one-byte body `1` says it closed because of an error. */
  CLOSE: 4,
  /** Several whole messages, each `u16be length ‖ bytes`, sent in one tick. */
  BATCH: 5,
});

/** A batch array longer than this is dropped after its flush rather than kept. */
const BATCH_SLOTS_KEPT = 64;

/**
 * An emptied batch array, for the next channel that batches. A channel holds one only
 * between its first send of a tick and that tick's flush, so one array serves every
 * channel of the thread in turn, and an idle channel holds none.
 */
let spareBatch: Uint8Array[] | undefined;

/** Largest message that may travel inside a BATCH frame. */
const BATCH_ITEM_MAX_BYTES = 4096;
/**
 * Largest frame plaintext (type and body) sealed from one joined buffer and written as one
 * buffer: a frame this small costs more in native calls (one `update` per piece) and
 * stream bookkeeping (a corked `writev` of four chunks) than in copying its bytes.
 */
const JOINED_FRAME_MAX_BYTES = 16 * 1024;

/**
 * Where small frames are laid out (type ‖ body) for sealing. One buffer shared by every
 * channel of this thread: sealing consumes it synchronously (the cipher's output is fresh),
 * so no channel holds it between calls, and an idle connection costs nothing for it.
 */
let sealScratch = new Uint8Array(0);

function scratchOf(size: number): Uint8Array {
  if (sealScratch.length < size) sealScratch = new Uint8Array(Math.max(size, 4096));
  return sealScratch;
}

/** Where the handshake hash starts in a channel's store, after the two keys. */
const STORE_HASH_AT = 2 * AEAD_KEY_BYTES;

const TYPE_BYTES = [0, 1, 2, 3, 4, 5].map((t) => Uint8Array.of(t));
const EMPTY = new Uint8Array(0);
const CLOSE_WITH_ERROR = Uint8Array.of(1);

/**
 * Where the stream's listeners find the channel reading it (one channel per stream). The
 * stream calls its listeners with itself as `this`, as Node's EventEmitter does.
 */
const CHANNEL = Symbol('keyway.secureChannel');
type ChannelStream = Duplex & { [CHANNEL]?: SecureChannel };

/** What a channel delivers to; the same shape as core's `TransportReceiver`. */
export interface ChannelReceiver {
  /** One whole message, in order. The receiver owns `data`. */
  onMessage(data: Uint8Array): void;
  /**
   * Optional: one whole message with out-of-line parts (docs/protocol.md §2), delivered as
   * its head and the bytes of its parts: the frames they were decrypted in when no part
   * exceeds 1 MiB, else one buffer of its own per part. The receiver owns them all, and
   * that memory holds nothing but this message.
   */
  onMessageParts?(head: Uint8Array, parts: Uint8Array[]): void;
  /** The channel closed; `error` is set when it failed rather than closed cleanly. */
  onClose(error?: Error): void;
  /**
   * A PING or REKEY frame arrived (after the channel acted on it). Optional: a receiver
   * that bounds what an unauthenticated peer may send counts these too, since they carry
   * no message yet cost a decryption each.
   */
  onControlFrame?(type: 'ping' | 'rekey'): void;
}

/** Internal construction data, passed by the handshake driver. */
export interface SecureChannelInit {
  readonly stream: Duplex;
  readonly send: CipherState;
  readonly receive: CipherState;
  readonly handshakeHash: Uint8Array;
  readonly remoteStatic: Uint8Array;
  /** Bytes already read from the stream after the handshake, not yet parsed. */
  readonly reader: FrameReader;
  /** True when the stream already ended while the handshake was reading. */
  readonly ended?: boolean;
  readonly options?: ChannelOptions | undefined;
}

/**
 * An encrypted, authenticated message channel over a byte stream. Made by
 * `performHandshake`; usable wherever @keyway/core wants a `Transport`.
 */
export class SecureChannel {
  readonly #stream: Duplex;
  readonly #send: CipherState;
  readonly #receive: CipherState;
  /**
   * The keys of both cipher states, then the handshake hash, then the peer's static key,
   * in one buffer: one object where four arrays would each cost an array and its buffer
   * (~0.2 KiB apiece) for as long as the connection lives.
   */
  readonly #store: Uint8Array;
  readonly #hashBytes: number;
  readonly #reader: FrameReader;
  readonly #rekey: RekeyPolicy;
  readonly #remoteAddress: string | undefined;
  readonly #closeGraceMs: number;
  readonly #batching: boolean;
  readonly #maxBuffered: number;
  /** Messages waiting for the end of the tick: the first `#batchCount` slots. */
  #batch: Uint8Array[] | undefined;
  #batchCount = 0;
  #batchBytes = 0;
  /** The rest of a received BATCH whose receiver stopped delivery part-way through. */
  #held: Uint8Array | undefined;
  #limits: ChannelLimits;
  #receiver: ChannelReceiver | undefined;
  #closed = false;
  #closeError: Error | undefined;
  #closeDelivered = false;
  /** The pieces of a message split across frames, until its last frame. */
  #partial: Uint8Array[] | undefined;
  #partialBytes = 0;
  /** Where the message being received goes when it has out-of-line parts. */
  #sink: PartsSink | undefined;
  #corked = false;
  /** A flush of the batch is queued for the end of this tick. */
  #flushQueued = false;
  #sentBytes = 0;
  #sentFrames = 0;
  #keySince = Date.now();
  #ended = false;

  /** @internal Use `performHandshake` to obtain a channel. */
  constructor(init: SecureChannelInit) {
    this.#stream = init.stream;
    this.#send = init.send;
    this.#receive = init.receive;
    this.#hashBytes = init.handshakeHash.length;
    this.#reader = init.reader;
    try {
      this.#limits = resolveLimits(DEFAULT_PREAUTH_CHANNEL_LIMITS, init.options?.limits);
      this.#rekey = resolveRekeyPolicy(init.options?.rekey);
      this.#closeGraceMs = init.options?.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
      this.#maxBuffered = init.options?.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
      if (!Number.isSafeInteger(this.#maxBuffered) || this.#maxBuffered < 1)
        throw new RangeError('maxBufferedBytes must be a positive integer');
      if (!(this.#closeGraceMs >= 0))
        throw new RangeError('closeGraceMs must be a non-negative number');
    } catch (error) {
      // No channel: its keys must not outlive the failure.
      init.send.destroy();
      init.receive.destroy();
      throw error;
    }
    const store = new Uint8Array(STORE_HASH_AT + this.#hashBytes + init.remoteStatic.length);
    init.send.moveKeyTo(store, 0);
    init.receive.moveKeyTo(store, AEAD_KEY_BYTES);
    store.set(init.handshakeHash, STORE_HASH_AT);
    store.set(init.remoteStatic, STORE_HASH_AT + this.#hashBytes);
    this.#store = store;
    // Before authentication the received-frame cap is our own (pre-auth) frame limit.
    this.#reader.maxFrameBytes = this.#limits.maxFrameBytes;
    this.#remoteAddress = init.options?.remoteAddress ?? addressOf(init.stream);
    this.#ended = init.ended === true;
    this.#batching = init.options?.batch ?? true;
    // Nothing is parsed before start(): the stream stays paused, so an unread peer can
    // only fill the socket buffers, not our memory.
    this.#stream.pause();
    (this.#stream as ChannelStream)[CHANNEL] = this;
    this.#stream.on('data', SecureChannel.#onData);
    this.#stream.on('end', SecureChannel.#onEnd);
    this.#stream.on('error', SecureChannel.#onError);
    this.#stream.on('close', SecureChannel.#onStreamClose);
  }

  /** Where the peer is (`ip:port` for TCP), for logs and credentials. */
  get remoteAddress(): string | undefined {
    return this.#remoteAddress;
  }

  /** The Noise handshake hash: a unique, secret-derived id of this session (channel binding). */
  get handshakeHash(): Uint8Array {
    return this.#store.slice(STORE_HASH_AT, STORE_HASH_AT + this.#hashBytes);
  }

  /** The peer's static X25519 public key, as proven in the handshake. */
  get remoteStatic(): Uint8Array {
    return this.#store.slice(STORE_HASH_AT + this.#hashBytes);
  }

  /** The limits currently enforced. */
  get limits(): ChannelLimits {
    return this.#limits;
  }

  /** True once the channel is closed, by either side or by an error. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes written to the stream and not yet handed to the OS (sender-side backpressure). */
  get writableLength(): number {
    return this.#stream.writableLength;
  }

  /** True when the stream's write buffer is full; wait with {@link SecureChannel.drained}. */
  get writableNeedDrain(): boolean {
    return this.#stream.writableNeedDrain;
  }

  /** Resolves once the stream's write buffer has drained (at once when it is not full). */
  drained(): Promise<void> {
    if (!this.#stream.writableNeedDrain || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done);
        this.#stream.off('close', done);
        resolve();
      };
      this.#stream.on('drain', done);
      this.#stream.on('close', done);
    });
  }

  /**
   * Changes the limits; called once the peer is authenticated, to raise them. From the
   * first call on, the channel accepts received frames of any size up to Noise's 65535
   * bytes, whatever `maxFrameBytes` says: the peer frames what it sends to its own
   * limit, which need not equal ours. `maxFrameBytes` then only sets the size of the
   * frames we send, and `maxMessageBytes` the largest message we accept (and send).
   * Both sides should call it; nothing is negotiated.
   * @param limits - fields to change; with no argument, {@link DEFAULT_CHANNEL_LIMITS}.
   * @throws {RangeError} when a limit is out of range.
   */
  setLimits(limits: Partial<ChannelLimits> = DEFAULT_CHANNEL_LIMITS): void {
    this.#limits = resolveLimits(this.#limits, limits);
    this.#reader.maxFrameBytes = NOISE_MAX_FRAME_BYTES;
  }

  /**
   * Sends one message, split across frames when larger than one frame.
   * @param data - the message; the channel may keep a reference until it is written.
   * @throws {ChannelError} when the channel is closed.
   * @throws {RangeError} when `data` exceeds `limits.maxMessageBytes`.
   */
  send(data: Uint8Array): void {
    if (this.#closed) throw new ChannelError('channel is closed');
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    this.#checkSend(data.length);
    const room = this.#limits.maxFrameBytes - AEAD_TAG_BYTES - 1;
    if (this.#batching && data.length <= BATCH_ITEM_MAX_BYTES && 2 + data.length <= room) {
      // Small messages wait for the end of the tick and leave together, as one frame
      // written as one buffer (no cork: a lone frame needs no writev); order is kept
      // because anything else flushes the batch before it is written.
      if (this.#batchBytes + 2 + data.length > room) {
        this.#flushBatch();
        // A stream that writes at once may have run code that closed this channel.
        if (this.#closed) throw new ChannelError('channel is closed');
      }
      let batch = this.#batch;
      if (batch === undefined) {
        batch = spareBatch ?? [];
        spareBatch = undefined;
        this.#batch = batch;
      }
      batch[this.#batchCount++] = data;
      this.#batchBytes += 2 + data.length;
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        nextTick(SecureChannel.#onTick, this);
      }
      return;
    }
    this.#cork();
    this.#flushBatch();
    this.#writeMessage([data], data.length);
  }

  /**
   * Sends one message given as pieces in order (the message is their concatenation),
   * sealing each frame straight from the pieces: nothing is joined, and nothing of the
   * pieces is kept once this returns (the cipher's output is what waits to be written).
   * @param pieces - the message's pieces; they remain the caller's.
   * @throws {ChannelError} when the channel is closed.
   * @throws {RangeError} when the message exceeds `limits.maxMessageBytes`.
   */
  sendParts(pieces: readonly Uint8Array[]): void {
    let total = 0;
    for (const piece of pieces) total += piece.length;
    if (total <= BATCH_ITEM_MAX_BYTES || pieces.length === 1) {
      this.send(pieces.length === 1 ? pieces[0]! : concat(pieces, total));
      return;
    }
    this.#checkSend(total);
    this.#cork();
    this.#flushBatch();
    this.#writeMessage(pieces, total);
  }

  /** Refuses to send on a closed channel, a message too large, or to a peer not reading. */
  #checkSend(length: number): void {
    if (this.#closed) throw new ChannelError('channel is closed');
    if (length > this.#limits.maxMessageBytes) {
      throw new RangeError(
        `message of ${length} bytes exceeds maxMessageBytes ${this.#limits.maxMessageBytes}`,
      );
    }
    if (this.#stream.writableLength > this.#maxBuffered) {
      const error = new ChannelError(
        `the peer is not reading: ${this.#stream.writableLength} bytes wait to be sent (maxBufferedBytes ${this.#maxBuffered})`,
      );
      this.#fail(error);
      throw error;
    }
  }

  /** Cuts a message into DATA_CONTINUED frames and a last DATA frame. */
  #writeMessage(pieces: readonly Uint8Array[], total: number): void {
    const room = this.#limits.maxFrameBytes - AEAD_TAG_BYTES - 1;
    let piece = 0;
    let at = 0;
    let left = total;
    do {
      const size = Math.min(room, left);
      const body: Uint8Array[] = [];
      let need = size;
      while (need > 0) {
        const from = pieces[piece]!;
        const n = Math.min(from.length - at, need);
        if (n > 0) body.push(from.subarray(at, at + n));
        at += n;
        need -= n;
        if (at === from.length) {
          piece++;
          at = 0;
        }
      }
      left -= size;
      this.#writeFrame(left === 0 ? FrameType.DATA : FrameType.DATA_CONTINUED, body, size);
    } while (left > 0);
  }

  /** Sends a keep-alive frame. */
  ping(): void {
    if (this.#closed) throw new ChannelError('channel is closed');
    this.#cork();
    this.#flushBatch();
    this.#writeFrame(FrameType.PING, EMPTY);
  }

  /** Writes the messages waiting in the batch: one DATA frame, or one BATCH frame. */
  #flushBatch(): void {
    // The slots are emptied before anything is written, since a write may re-enter (a
    // failing stream closes the channel); the emptied array goes back for the next batch,
    // of any channel, unless it grew large.
    if (this.#batchCount === 0) return;
    // A REKEY frame goes out before the batch is laid out, not between the layout and the
    // sealing: its write may run code (a stream that writes at once) that makes another
    // channel of this thread lay out its own batch in the same scratch, or this one send
    // more. Whatever that code sent has left by now, or joined this batch, in order.
    this.#rekeyIfDue();
    const count = this.#batchCount;
    const batch = this.#batch;
    if (count === 0 || batch === undefined) return;
    // The bytes counted at send() are only a bound (a message's length can change before the
    // tick: a resizable or detached buffer); the frame is sealed for what is laid out.
    const bytes = this.#batchBytes;
    this.#batch = undefined;
    this.#batchCount = 0;
    this.#batchBytes = 0;
    if (count === 1) {
      const message = batch[0]!;
      batch[0] = EMPTY;
      spareBatch = batch;
      this.#writeFrame(FrameType.DATA, message, message.length, true);
      return;
    }
    // Laid out once, after the type byte, where #seal reads small frames from.
    const frame = scratchOf(1 + bytes);
    let at = 1;
    for (let i = 0; i < count; i++) {
      const message = batch[i]!;
      if (at + 1 + message.length > bytes) {
        // It grew since send(), past what the frame may hold: nothing of the batch leaves.
        for (let j = i; j < count; j++) batch[j] = EMPTY;
        frame.fill(0, 1, at);
        const error = new ChannelError('a message waiting to be sent grew after send()');
        this.#fail(error);
        throw error;
      }
      frame[at] = message.length >>> 8;
      frame[at + 1] = message.length & 0xff;
      // A buffer detached since send() reads as empty (and cannot be copied from).
      if (message.length > 0) frame.set(message, at + 2);
      at += 2 + message.length;
      batch[i] = EMPTY;
    }
    if (batch.length <= BATCH_SLOTS_KEPT) spareBatch = batch;
    this.#writeFrame(FrameType.BATCH, frame.subarray(1, at), at - 1, true);
  }

  // Static, with the channel as argument: no closure per channel.
  static #onTick(channel: SecureChannel): void {
    channel.#flushQueued = false;
    if (channel.#closed) return;
    // Nobody is there to catch: a failure to send closes the channel instead.
    try {
      channel.#flushBatch();
    } catch (error) {
      channel.#fail(error instanceof Error ? error : new ChannelError('sending failed'));
    }
  }

  /**
   * Starts delivery. Messages that arrived earlier are delivered first, then a close that
   * already happened.
   * @throws {ChannelError} when delivery is already started (see {@link SecureChannel.stop}).
   */
  start(receiver: ChannelReceiver): void {
    if (this.#receiver) throw new ChannelError('channel already started');
    if (this.#closeDelivered) throw new ChannelError('channel is closed');
    this.#receiver = receiver;
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#deliverBatch(held);
    if (this.#receiver === receiver) this.#pump();
    // The receiver may have stopped delivery from inside onMessage.
    if (this.#receiver !== receiver) return;
    if (this.#closed) {
      this.#deliverClose();
      return;
    }
    if (this.#ended) {
      this.#fail(new ChannelError('connection ended without CLOSE'));
      return;
    }
    this.#stream.resume();
  }

  /**
   * Stops delivery and detaches the receiver, so that another one can `start()` later:
   * an authenticator runs its exchange over the channel, stops, and hands the channel to
   * the RPC engine. Frames arriving meanwhile stay unread (the stream is paused) and are
   * delivered, in order, to the next receiver. Safe to call from inside `onMessage`.
   */
  stop(): void {
    if (this.#receiver === undefined) return;
    this.#receiver = undefined;
    if (!this.#closed) this.#stream.pause();
  }

  /**
   * Closes the channel: sends CLOSE, ends the stream and tells the receiver. Idempotent.
   * @param error - why, when this is not a clean close; the peer only learns that it
   * was an error, never the text.
   */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    try {
      this.#cork();
      // Messages sent before close() still leave, ahead of the CLOSE frame.
      this.#flushBatch();
      this.#writeFrame(FrameType.CLOSE, error === undefined ? EMPTY : CLOSE_WITH_ERROR);
      this.#endGracefully();
    } catch {
      this.#stream.destroy();
    }
    this.#wipe();
    queueMicrotask(() => this.#deliverClose());
  }

  /** Ends our half; destroys the stream if the peer has not ended its half in time. */
  #endGracefully(): void {
    this.#stream.end();
    // A peer that never ends its half would otherwise hold the socket open forever.
    const stream = this.#stream;
    const timer = setTimeout(() => stream.destroy(), this.#closeGraceMs);
    // On Node the timer must not keep the process alive; browsers' timers have no unref.
    (timer as { unref?: () => void }).unref?.();
    // Once the stream is gone the timer must not keep it (and this channel) reachable.
    stream.once('close', () => clearTimeout(timer));
  }

  #cork(): void {
    if (this.#corked) return;
    // Every frame written in this tick leaves in one writev.
    this.#corked = true;
    this.#stream.cork();
    nextTick(SecureChannel.#onCorkedTick, this);
  }

  static #onCorkedTick(channel: SecureChannel): void {
    channel.#corked = false;
    if (!channel.#closed) channel.#flushBatch();
    channel.#stream.uncork();
  }

  /**
   * @param rekeyChecked - the caller ran {@link SecureChannel.#rekeyIfDue} just before
   *   (a batch, whose layout no write may come between with its sealing).
   */
  #writeFrame(
    type: number,
    body: Uint8Array | readonly Uint8Array[],
    length = bodyLength(body),
    rekeyChecked = false,
  ): void {
    if (type !== FrameType.CLOSE && !rekeyChecked) this.#rekeyIfDue();
    this.#seal(type, body, length);
    this.#sentBytes += length;
    this.#sentFrames++;
  }

  /**
   * Sends REKEY and moves to the next key when the policy says so. The key moves before
   * the frame is written: a write may run code that sends on this channel, and what it
   * sends must be sealed under the next key, as the peer reads it after REKEY.
   */
  #rekeyIfDue(): void {
    if (
      this.#sentBytes < this.#rekey.afterBytes &&
      this.#sentFrames < this.#rekey.afterFrames &&
      Date.now() - this.#keySince < this.#rekey.afterMs
    )
      return;
    const size = 1 + AEAD_TAG_BYTES;
    const frame = outgoingBytes(FRAME_HEADER_BYTES + size);
    frame[0] = size >>> 8;
    frame[1] = size & 0xff;
    frame[FRAME_HEADER_BYTES] = FrameType.REKEY;
    this.#send.encryptInPlaceWithAd(EMPTY, frame, FRAME_HEADER_BYTES, 1);
    this.#send.rekey();
    this.#sentBytes = 0;
    this.#sentFrames = 0;
    this.#keySince = Date.now();
    this.#stream.write(frame);
  }

  #seal(type: number, body: Uint8Array | readonly Uint8Array[], length = bodyLength(body)): void {
    // A BATCH body is laid out in the scratch already, after room for the type byte.
    const laidOut =
      body instanceof Uint8Array &&
      body.buffer === sealScratch.buffer &&
      body.byteOffset === sealScratch.byteOffset + 1;
    if (length < JOINED_FRAME_MAX_BYTES || laidOut) {
      this.#sealJoined(type, body, length, laidOut);
      return;
    }
    const parts =
      body instanceof Uint8Array ? [TYPE_BYTES[type]!, body] : [TYPE_BYTES[type]!, ...body];
    const sealed = this.#send.encryptPartsWithAd(EMPTY, parts);
    // Header, ciphertext pieces and tag leave in one writev, not one write each.
    this.#cork();
    this.#stream.write(frameHeader(1 + length + AEAD_TAG_BYTES));
    for (const chunk of sealed) this.#stream.write(chunk);
  }

  /**
   * Seals a frame from one buffer, type byte then body. A small frame is laid out and
   * sealed in place in the buffer that is written, header and tag included (one `write`,
   * which reaches the socket at once when not corked); a larger one is written as its
   * pieces under the cork, uncopied.
   */
  #sealJoined(
    type: number,
    body: Uint8Array | readonly Uint8Array[],
    length: number,
    laidOut: boolean,
  ): void {
    const size = 1 + length + AEAD_TAG_BYTES;
    if (length < JOINED_FRAME_MAX_BYTES) {
      const frame = outgoingBytes(FRAME_HEADER_BYTES + size);
      frame[0] = size >>> 8;
      frame[1] = size & 0xff;
      frame[FRAME_HEADER_BYTES] = type;
      if (body instanceof Uint8Array) frame.set(body, FRAME_HEADER_BYTES + 1);
      else {
        let at = FRAME_HEADER_BYTES + 1;
        for (const piece of body) {
          frame.set(piece, at);
          at += piece.length;
        }
      }
      try {
        this.#send.encryptInPlaceWithAd(EMPTY, frame, FRAME_HEADER_BYTES, 1 + length);
      } catch (error) {
        // The plaintext lies in pooled memory other Buffers share: it must not stay there.
        frame.fill(0);
        throw error;
      }
      this.#stream.write(frame);
      return;
    }
    const plain = scratchOf(1 + length);
    plain[0] = type;
    if (!laidOut) {
      if (body instanceof Uint8Array) plain.set(body, 1);
      else {
        let at = 1;
        for (const piece of body) {
          plain.set(piece, at);
          at += piece.length;
        }
      }
    }
    const sealed = this.#send.encryptPartsWithAd(EMPTY, [plain.subarray(0, 1 + length)]);
    this.#cork();
    this.#stream.write(frameHeader(size));
    for (const chunk of sealed) this.#stream.write(chunk);
  }

  // The stream's listeners are shared by every channel: the stream is `this`, and its
  // channel is found under CHANNEL. Four closures per connection would cost more.
  static #onData(this: ChannelStream, chunk: Uint8Array): void {
    // biome-ignore lint/complexity/noThisInStatic: the emitter calls its listeners with itself as `this`
    const channel = this[CHANNEL]!;
    if (channel.#closed) return;
    channel.#reader.push(chunk);
    if (channel.#receiver) channel.#pump();
    else channel.#stream.pause();
  }

  static #onEnd(this: ChannelStream): void {
    // biome-ignore lint/complexity/noThisInStatic: the emitter calls its listeners with itself as `this`
    const channel = this[CHANNEL]!;
    channel.#ended = true;
    if (channel.#closed || !channel.#receiver) return;
    channel.#pump();
    if (!channel.#closed && channel.#receiver) {
      channel.#fail(new ChannelError('connection ended without CLOSE'));
    }
  }

  static #onError(this: ChannelStream, cause: Error): void {
    // biome-ignore lint/complexity/noThisInStatic: the emitter calls its listeners with itself as `this`
    const channel = this[CHANNEL]!;
    if (channel.#closed) return;
    channel.#fail(new ChannelError('connection failed', { cause }));
  }

  static #onStreamClose(this: ChannelStream): void {
    // biome-ignore lint/complexity/noThisInStatic: the emitter calls its listeners with itself as `this`
    const channel = this[CHANNEL]!;
    if (channel.#closed) return;
    // A reset or destroy with no 'end': the peer never said CLOSE.
    channel.#ended = true;
    if (channel.#receiver) {
      channel.#pump();
      if (!channel.#closed && channel.#receiver) {
        channel.#fail(new ChannelError('connection ended without CLOSE'));
      }
    }
  }

  /** Parses and delivers every whole frame buffered, until closed. */
  #pump(): void {
    while (!this.#closed && this.#receiver !== undefined) {
      let frame: Uint8Array | Uint8Array[] | undefined;
      try {
        // A frame split across socket reads is opened piece by piece, not joined first.
        frame = this.#reader.nextTransientFrame();
      } catch (error) {
        this.#fail(error as Error);
        return;
      }
      if (frame === undefined) return;
      if (frame instanceof Uint8Array) {
        // The usual case: the frame lies in one chunk, and is opened into one buffer.
        if (frame.length < MIN_FRAME_BYTES) {
          this.#fail(tooShort(frame.length));
          return;
        }
        let opened: Uint8Array;
        try {
          opened = this.#receive.decryptWithAd(EMPTY, frame);
        } catch (cause) {
          this.#fail(authFailure(cause));
          return;
        }
        this.#handle(opened[0]!, opened.subarray(1));
        continue;
      }
      // Pieces are held until their message is whole; a frame dribbled in many small
      // reads is joined so that each frame costs at most two.
      if (frame.length > 2) frame = [concat(frame, bodyLength(frame))];
      const length = frame.length === 1 ? frame[0]!.length : bodyLength(frame);
      if (length < MIN_FRAME_BYTES) {
        this.#fail(tooShort(length));
        return;
      }
      let plaintext: Uint8Array[];
      try {
        plaintext =
          frame.length === 1
            ? [this.#receive.decryptWithAd(EMPTY, frame[0]!)]
            : this.#receive.decryptPartsWithAd(EMPTY, frame);
      } catch (cause) {
        this.#fail(authFailure(cause));
        return;
      }
      const first = plaintext[0]!;
      if (plaintext.length === 1) {
        this.#handle(first[0]!, first.subarray(1));
        continue;
      }
      const body = [first.subarray(1), ...plaintext.slice(1)];
      const type = first[0]!;
      if (type === FrameType.DATA || type === FrameType.DATA_CONTINUED) this.#handle(type, body);
      else this.#handle(type, concat(body, bodyLength(body)));
    }
  }

  /** Acts on one frame; only DATA and DATA_CONTINUED bodies come as pieces. */
  #handle(type: number, body: Uint8Array | Uint8Array[]): void {
    switch (type) {
      case FrameType.DATA: {
        if (this.#partial === undefined && this.#sink === undefined && body instanceof Uint8Array) {
          this.#receiver!.onMessage(body);
          return;
        }
        if (!this.#addPartial(body)) return;
        const receiver = this.#receiver!;
        const sink = this.#sink;
        if (sink !== undefined) {
          this.#sink = undefined;
          this.#partialBytes = 0;
          if (!sink.complete) {
            this.#fail(new ChannelError('message ends before the parts its head announced'));
            return;
          }
          receiver.onMessageParts!(sink.head, sink.parts);
          return;
        }
        const pieces = this.#partial ?? [];
        const total = this.#partialBytes;
        this.#partial = undefined;
        this.#partialBytes = 0;
        // A message with out-of-line parts goes straight into one buffer per part.
        const split =
          receiver.onMessageParts === undefined ? undefined : splitIntoParts(pieces, total);
        if (split !== undefined) receiver.onMessageParts!(split[0]!, split.slice(1));
        else receiver.onMessage(concat(pieces, total));
        return;
      }
      case FrameType.DATA_CONTINUED:
        // A keyway sender fills every continuation frame (maxFrameBytes is at least
        // MIN_FRAME_LIMIT), so a short one is hostile: each piece held costs memory
        // beyond its bytes, which maxMessageBytes alone would not count. With this rule
        // maxMessageBytes also bounds the pieces: at most maxMessageBytes / 1007 + 1 frames,
        // each held as at most two pieces (a frame split across socket reads).
        if (bodyLength(body) < MIN_CONTINUED_BODY_BYTES) {
          this.#fail(
            new ChannelError(
              `DATA_CONTINUED frame carries ${bodyLength(body)} bytes; a continuation carries at least ${MIN_CONTINUED_BODY_BYTES}`,
            ),
          );
          return;
        }
        this.#addPartial(body);
        return;
      case FrameType.BATCH:
        this.#deliverBatch(body as Uint8Array);
        return;
      case FrameType.PING:
        this.#receiver!.onControlFrame?.('ping');
        return;
      case FrameType.REKEY:
        this.#receive.rekey();
        this.#receiver!.onControlFrame?.('rekey');
        return;
      case FrameType.CLOSE:
        this.#closed = true;
        this.#closeError =
          bodyLength(body) > 0
            ? new ChannelError('peer closed the channel because of an error')
            : undefined;
        this.#endGracefully();
        this.#wipe();
        this.#deliverClose();
        return;
      default:
        this.#fail(new ChannelError(`unknown frame type ${type}`));
    }
  }

  /** Delivers each message of a BATCH frame, as views into the decrypted body. */
  #deliverBatch(body: Uint8Array): void {
    if (this.#partial !== undefined || this.#sink !== undefined) {
      this.#fail(new ChannelError('BATCH frame inside a message split across frames'));
      return;
    }
    let at = 0;
    while (at < body.length) {
      if (at + 2 > body.length) {
        this.#fail(new ChannelError('BATCH frame ends inside a length'));
        return;
      }
      const length = (body[at]! << 8) | body[at + 1]!;
      const end = at + 2 + length;
      if (end > body.length) {
        this.#fail(new ChannelError('BATCH frame ends inside a message'));
        return;
      }
      this.#receiver!.onMessage(body.subarray(at + 2, end));
      at = end;
      // The receiver may close the channel or stop delivery from inside onMessage; the
      // rest of the batch then waits for the next receiver.
      if (this.#closed) return;
      if (this.#receiver === undefined) {
        if (at < body.length) this.#held = body.subarray(at);
        return;
      }
    }
  }

  #addPartial(body: Uint8Array | Uint8Array[]): boolean {
    this.#partialBytes += bodyLength(body);
    if (this.#partialBytes > this.#limits.maxMessageBytes) {
      this.#fail(
        new ChannelError(`message exceeds maxMessageBytes ${this.#limits.maxMessageBytes}`),
      );
      return false;
    }
    // The first frame of a message with parts holds its head: from there on each frame's
    // bytes go to the sink, which keeps them as they were opened or copies them into the
    // parts' buffers.
    if (
      this.#sink === undefined &&
      this.#partial === undefined &&
      this.#receiver?.onMessageParts !== undefined
    ) {
      const first = body instanceof Uint8Array ? body : body[0];
      if (first !== undefined) this.#sink = PartsSink.open(first, this.#limits.maxMessageBytes);
    }
    const sink = this.#sink;
    if (sink !== undefined) {
      const fits = body instanceof Uint8Array ? sink.write(body) : body.every((p) => sink.write(p));
      if (!fits) {
        this.#fail(new ChannelError('message runs past the parts its head announced'));
        return false;
      }
      return true;
    }
    this.#partial ??= [];
    const partial = this.#partial;
    if (body instanceof Uint8Array) partial.push(body);
    else for (const piece of body) if (piece.length > 0) partial.push(piece);
    return true;
  }

  #fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#stream.destroy();
    this.#wipe();
    this.#deliverClose();
  }

  #wipe(): void {
    this.#send.destroy();
    this.#receive.destroy();
    this.#partial = undefined;
    this.#sink = undefined;
    this.#batch = undefined;
    this.#batchCount = 0;
    this.#held = undefined;
  }

  #deliverClose(): void {
    if (this.#closeDelivered || !this.#receiver) return;
    this.#closeDelivered = true;
    this.#receiver.onClose(this.#closeError);
  }
}

// Not noble's concatBytes(...parts): a message may arrive in tens of thousands of pieces,
// too many to spread into one call's arguments.
function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function bodyLength(body: Uint8Array | readonly Uint8Array[]): number {
  if (body instanceof Uint8Array) return body.length;
  let n = 0;
  for (const piece of body) n += piece.length;
  return n;
}

function addressOf(stream: Duplex): string | undefined {
  const socket = stream as Duplex & { remoteAddress?: unknown; remotePort?: unknown };
  if (typeof socket.remoteAddress !== 'string') return undefined;
  const host = socket.remoteAddress.includes(':')
    ? `[${socket.remoteAddress}]`
    : socket.remoteAddress;
  return typeof socket.remotePort === 'number' ? `${host}:${socket.remotePort}` : host;
}

type TickCallback = (channel: SecureChannel) => void;

/**
 * Node's `process.nextTick` (runs before promise callbacks, so every frame written in this
 * turn joins the batch); a microtask where there is no `process` (a browser). The channel
 * rides as the callback's argument, so that no closure is made for it.
 */
const nextTick: (callback: TickCallback, channel: SecureChannel) => void =
  (
    globalThis as {
      process?: { nextTick?: (callback: TickCallback, channel: SecureChannel) => void };
    }
  ).process?.nextTick ?? ((callback, channel) => queueMicrotask(() => callback(channel)));

/** A frame that failed to open, as the error the channel closes with. */
function authFailure(cause: unknown): DecryptError {
  return cause instanceof DecryptError
    ? cause
    : new DecryptError('frame failed authentication', { cause });
}

/** A frame too short to hold its type and tag. */
function tooShort(length: number): ChannelError {
  return new ChannelError(`frame of ${length} bytes is shorter than a type and a tag`);
}
