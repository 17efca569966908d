/**
 * The thin async driver of keyway's handshake: runs the sans-IO Noise
 * `XX_25519_ChaChaPoly_SHA256` state machine (rev 34 §7.5) over a Node Duplex, with
 * length-prefixed messages, a deadline and bounded sizes, and turns the result into a
 * {@link SecureChannel}. The initiator checks the responder's static key and payload
 * after message 2, before it sends message 3, so a client never reveals its identity to
 * a server it has not verified.
 */
import type { Duplex } from 'node:stream';
import { defaultCryptoProvider } from '../crypto/default-provider.js';
import type { CryptoProvider, X25519KeyPair } from '../crypto/provider.js';
import { HandshakeError, NotKeywayError } from '../errors.js';
import { HandshakeState } from '../noise/handshake-state.js';
import type { ChannelOptions } from './channel-options.js';
import { FrameReader, frameHeader } from './frame-reader.js';
import { SecureChannel } from './secure-channel.js';

/**
 * Every keyway prologue starts with these bytes: the protocol and its version. Version 2
 * added the identity signatures over the handshake hash (docs/security.md, "One key, one
 * identity"); a version-1 peer derives another `h` and fails at message 2.
 */
export const KEYWAY_PROLOGUE_PREFIX: Uint8Array = new TextEncoder().encode('keyway/2\0');

/** Default handshake deadline: 10 seconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Default bound on one handshake message (payload included): 8 KiB. */
export const DEFAULT_MAX_HANDSHAKE_MESSAGE_BYTES = 8 * 1024;

/**
 * The prologue of a keyway handshake: `keyway/2\0` then the mode (the authentication
 * method both sides agreed on), so a handshake for one mode cannot be replayed as another.
 * @param mode - e.g. `publickey`, `anonymous`, `password`.
 * @returns the prologue bytes for {@link HandshakeOptions.prologue}.
 */
export function keywayPrologue(mode: string): Uint8Array {
  const m = new TextEncoder().encode(mode);
  const out = new Uint8Array(KEYWAY_PROLOGUE_PREFIX.length + m.length);
  out.set(KEYWAY_PROLOGUE_PREFIX);
  out.set(m, KEYWAY_PROLOGUE_PREFIX.length);
  return out;
}

/** Options of {@link performHandshake}. */
export interface HandshakeOptions {
  /** Initiator (client, sends first) or responder (server). */
  role: 'initiator' | 'responder';
  /** Our static X25519 key pair. */
  staticKeyPair: X25519KeyPair;
  /** Must start with `keyway/2\0`; build it with {@link keywayPrologue}. */
  prologue: Uint8Array;
  /**
   * Sent encrypted in the message that carries our static key (message 2 for the
   * responder, 3 for the initiator). A function gets the handshake hash the payload is
   * sent under (`HandshakeState.payloadHash`), for a payload that signs it.
   */
  localPayload?: Uint8Array | ((payloadHash: Uint8Array) => Uint8Array);
  /**
   * Called as soon as the peer's static key and payload arrive, with the handshake hash
   * the payload came under (what a signature in it must cover); throwing (or rejecting)
   * aborts the handshake, destroys the stream and rejects with that error.
   */
  verifyRemote: (
    remoteStatic: Uint8Array,
    remotePayload: Uint8Array,
    payloadHash: Uint8Array,
  ) => void | Promise<void>;
  /**
   * The crypto provider; `node:crypto` by default. With `nodeCryptoProvider` or
   * `nobleCryptoProvider`, channel messages of at most 1 KiB are sealed and opened by a
   * built-in JavaScript ChaCha20-Poly1305; any other provider is called for every message.
   */
  provider?: CryptoProvider;
  /** Deadline for the whole handshake, `verifyRemote` included. Default 10 s. */
  timeoutMs?: number;
  /** Largest handshake message accepted. Default 8 KiB. */
  maxHandshakeMessageBytes?: number;
  /** Options of the resulting channel. */
  channel?: ChannelOptions;
}

/** What a successful handshake gives. */
export interface HandshakeOutcome {
  /** The encrypted channel, not yet started. */
  channel: SecureChannel;
  /** The Noise handshake hash (channel binding). */
  handshakeHash: Uint8Array;
  /** The peer's static X25519 public key. */
  remoteStatic: Uint8Array;
  /** The payload the peer sent with its static key. */
  remotePayload: Uint8Array;
}

/**
 * Runs a Noise XX handshake over `stream` and returns the secure channel.
 * @throws {HandshakeError} on a malformed, forged, oversize or late message, or when the
 * stream ends; the error `verifyRemote` threw when the peer was refused. The stream is
 * destroyed in every failure.
 * @example
 * const { channel } = await performHandshake(socket, {
 *   role: 'initiator', staticKeyPair, prologue: keywayPrologue('publickey'),
 *   verifyRemote: (key) => { if (!known(key)) throw new HostKeyError('unknown host key'); },
 * });
 */
export async function performHandshake(
  stream: Duplex,
  options: HandshakeOptions,
): Promise<HandshakeOutcome> {
  const {
    role,
    staticKeyPair,
    prologue,
    verifyRemote,
    localPayload = new Uint8Array(0),
    timeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS,
    maxHandshakeMessageBytes = DEFAULT_MAX_HANDSHAKE_MESSAGE_BYTES,
  } = options;
  if (role !== 'initiator' && role !== 'responder')
    throw new TypeError("role must be 'initiator' or 'responder'");
  if (typeof verifyRemote !== 'function') throw new TypeError('verifyRemote must be a function');
  if (!(prologue instanceof Uint8Array) || !startsWith(prologue, KEYWAY_PROLOGUE_PREFIX)) {
    throw new TypeError('prologue must start with keyway/2\\0 (see keywayPrologue)');
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new RangeError('timeoutMs must be positive');
  if (
    !Number.isInteger(maxHandshakeMessageBytes) ||
    maxHandshakeMessageBytes < 64 ||
    maxHandshakeMessageBytes > 65535
  ) {
    throw new RangeError('maxHandshakeMessageBytes must be an integer in 64..65535');
  }
  const provider = options.provider ?? defaultCryptoProvider();
  const state = new HandshakeState({
    pattern: 'XX',
    initiator: role === 'initiator',
    prologue,
    s: staticKeyPair,
    provider,
  });
  // Nagle's algorithm would hold message 3, or the first frame after it, for a delayed
  // ACK (~40 ms). The channel batches its own writes with cork(), so it is not needed.
  const socket = stream as Duplex & { setNoDelay?: (noDelay: boolean) => unknown };
  if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
  const io = new HandshakeIo(stream, maxHandshakeMessageBytes, timeoutMs);
  try {
    let remotePayload: Uint8Array;
    if (role === 'initiator') {
      io.write(state.writeMessage());
      remotePayload = state.readMessage(await io.read());
      await io.race(verifyRemote(state.remoteStatic!, remotePayload, state.payloadHash!));
      io.write(state.writeMessage(localPayload));
    } else {
      const first = state.readMessage(await io.read());
      if (first.length !== 0) throw new HandshakeError('unexpected payload in handshake message 1');
      io.write(state.writeMessage(localPayload));
      remotePayload = state.readMessage(await io.read());
      await io.race(verifyRemote(state.remoteStatic!, remotePayload, state.payloadHash!));
    }
    const { send, receive, handshakeHash } = state.result();
    const remoteStatic = state.remoteStatic!;
    const ended = io.finish();
    const channel = new SecureChannel({
      stream,
      send,
      receive,
      handshakeHash,
      remoteStatic,
      reader: io.reader,
      ended,
      options: options.channel,
    });
    return { channel, handshakeHash, remoteStatic, remotePayload };
  } catch (error) {
    state.destroy();
    io.abort(error as Error);
    throw io.failure ?? error;
  }
}

/** The I/O half of the driver: reads length-prefixed messages with a deadline. */
class HandshakeIo {
  readonly reader: FrameReader;
  failure: Error | undefined;
  /** The peer's first bytes, kept until its first message is read, to name a stranger. */
  #head: Uint8Array | undefined = new Uint8Array(0);
  readonly #stream: Duplex;
  readonly #timer: NodeJS.Timeout;
  #ended = false;
  #wake: (() => void) | undefined;
  #onAbort: (() => void) | undefined;

  constructor(stream: Duplex, maxMessageBytes: number, timeoutMs: number) {
    this.#stream = stream;
    this.reader = new FrameReader(maxMessageBytes);
    this.#timer = setTimeout(() => {
      this.abort(new HandshakeError(`handshake did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
    if (stream.destroyed) this.abort(new HandshakeError('stream is already closed'));
  }

  write(message: Uint8Array): void {
    this.#check();
    this.#stream.cork();
    this.#stream.write(frameHeader(message.length));
    this.#stream.write(message);
    this.#stream.uncork();
  }

  async read(): Promise<Uint8Array> {
    for (;;) {
      this.#check();
      let message: Uint8Array | undefined;
      try {
        message = this.reader.next();
      } catch (cause) {
        // Text read as a length prefix is far beyond any handshake message: a stranger.
        if (this.#head !== undefined) throw strangerError(this.#head, { cause });
        throw new HandshakeError('handshake message too large', { cause });
      }
      if (message !== undefined) {
        this.#head = undefined;
        return message;
      }
      if (this.#ended) throw new HandshakeError('connection closed during the handshake');
      this.#stream.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Waits for `work` unless the handshake fails first (deadline, EOF, socket error). */
  async race(work: void | PromiseLike<void>): Promise<void> {
    this.#check();
    if (work === undefined || typeof (work as PromiseLike<void>)?.then !== 'function') return;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#onAbort = () => reject(this.failure);
        (work as PromiseLike<void>).then(resolve, reject);
      });
    } finally {
      this.#onAbort = undefined;
    }
    this.#check();
  }

  /** Hands the stream over: stops listening and says whether it already ended. */
  finish(): boolean {
    clearTimeout(this.#timer);
    this.#detach();
    return this.#ended;
  }

  abort(error: Error): void {
    clearTimeout(this.#timer);
    this.failure ??= error;
    this.#detach();
    // Keep an error listener: a late socket error must not become an uncaught exception.
    this.#stream.on('error', noop);
    this.#stream.destroy();
    this.#wakeUp();
    this.#onAbort?.();
  }

  #check(): void {
    if (this.failure) throw this.failure;
  }

  #detach(): void {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onEnd);
    this.#stream.off('error', this.#onError);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  readonly #onData = (chunk: Uint8Array): void => {
    if (this.#head !== undefined && this.#head.length < HEAD_BYTES) {
      const head = new Uint8Array(Math.min(HEAD_BYTES, this.#head.length + chunk.length));
      head.set(this.#head);
      head.set(chunk.subarray(0, head.length - this.#head.length), this.#head.length);
      this.#head = head;
      // An SSH server speaks first and an HTTP server answers our message 1 with an error
      // page: either way the peer is not keyway, and waiting for the deadline tells nobody.
      if (foreignProtocol(head) !== undefined) {
        this.abort(strangerError(head));
        return;
      }
    }
    this.reader.push(chunk);
    // Read no further than one whole message ahead; read() resumes when it needs more.
    if (this.reader.buffered > this.reader.maxFrameBytes + 2) this.#stream.pause();
    this.#wakeUp();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wakeUp();
  };

  readonly #onError = (cause: Error): void => {
    this.abort(new HandshakeError('connection failed during the handshake', { cause }));
  };
}

function noop(): void {}

/** Bytes of the peer's first data kept to recognise another protocol. */
const HEAD_BYTES = 64;

const FOREIGN_PREFIXES: readonly (readonly ['ssh' | 'http', Uint8Array])[] = [
  ['ssh', new TextEncoder().encode('SSH-')],
  ['http', new TextEncoder().encode('HTTP/')],
];

/**
 * `'ssh'` or `'http'` when `head` starts as those protocols' first reply does. A keyway
 * message starts with its u16 length: `SS` or `HT` would announce 18-21 KB, which no
 * handshake message needs (the default bound is 8 KiB), and the bytes after it are a
 * random ephemeral key, so a real peer matches these 4-5 bytes by chance only.
 */
function foreignProtocol(head: Uint8Array): 'ssh' | 'http' | undefined {
  for (const [name, prefix] of FOREIGN_PREFIXES) {
    if (startsWith(head, prefix)) return name;
  }
  return undefined;
}

function strangerError(head: Uint8Array, options?: { cause?: unknown }): NotKeywayError {
  let text = '';
  for (const byte of head) {
    if (byte === 0x0d || byte === 0x0a) break;
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  }
  return new NotKeywayError(foreignProtocol(head), text, options);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
