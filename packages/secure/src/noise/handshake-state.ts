/**
 * Noise HandshakeState (rev 34 §5.3): a sans-IO state machine that reads and writes
 * handshake messages by interpreting a pattern table (see `patterns.ts`). It does no I/O
 * and keeps no timers; `perform-handshake.ts` drives it over a stream.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { defaultCryptoProvider } from '../crypto/default-provider.js';
import {
  AEAD_TAG_BYTES,
  type CryptoProvider,
  checkLength,
  X25519_KEY_BYTES,
  type X25519KeyPair,
} from '../crypto/provider.js';
import { HandshakeError } from '../errors.js';
import type { CipherState } from './cipher-state.js';
import { type NoiseHashFunction, sha256NoiseHash } from './hash.js';
import { HANDSHAKE_PATTERNS, type HandshakePattern, type MessageToken } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

/** Noise's limit on any message, handshake or transport (rev 34 §3). */
export const NOISE_MAX_MESSAGE_BYTES = 65535;

/** Options of {@link HandshakeState} (the arguments of Noise's `Initialize()`). */
export interface HandshakeStateOptions {
  /** A pattern of {@link HANDSHAKE_PATTERNS} by name, or a pattern table. */
  pattern: string | HandshakePattern;
  /** True for the initiator, false for the responder. */
  initiator: boolean;
  /** Data both sides must agree on, mixed into the handshake hash. Default empty. */
  prologue?: Uint8Array;
  /** The local static key pair, when the pattern uses one. */
  s?: X25519KeyPair;
  /** A fixed local ephemeral key pair. Only for test vectors; normally generated. */
  e?: X25519KeyPair;
  /** The remote static public key, when the pattern has it as a pre-message. */
  rs?: Uint8Array;
  /** The remote ephemeral public key, when the pattern has it as a pre-message. */
  re?: Uint8Array;
  /**
   * The crypto provider; {@link defaultCryptoProvider} when omitted. Only keyway's own
   * providers let small messages skip it (see `CipherState`); any other is called for
   * every message.
   */
  provider?: CryptoProvider;
  /** The suite's hash function; SHA-256 from `provider` when omitted. */
  hash?: NoiseHashFunction;
}

/** What a finished handshake leaves: the transport cipher states and the handshake hash. */
export interface HandshakeResult {
  /** Encrypts what this side sends. */
  readonly send: CipherState;
  /** Decrypts what this side receives. Absent for the initiator of a one-way pattern. */
  readonly receive: CipherState;
  /** `h` at the end of the handshake: a unique id of this session, for channel binding. */
  readonly handshakeHash: Uint8Array;
}

/** Noise HandshakeState: `WriteMessage` / `ReadMessage` until complete, then `Split`. */
export class HandshakeState {
  readonly #provider: CryptoProvider;
  readonly #pattern: HandshakePattern;
  readonly #initiator: boolean;
  readonly #ss: SymmetricState;
  readonly #protocolName: string;
  #s: X25519KeyPair | undefined;
  #e: X25519KeyPair | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #index = 0;
  #payloadHash: Uint8Array | undefined;
  #failed = false;
  #result: HandshakeResult | undefined;

  /**
   * `Initialize(handshake_pattern, initiator, prologue, s, e, rs, re)`.
   * @throws {TypeError} when the pattern is unknown or a key it needs is missing.
   * @throws {RangeError} when a key is not 32 bytes.
   */
  constructor(options: HandshakeStateOptions) {
    const pattern =
      typeof options.pattern === 'string' ? HANDSHAKE_PATTERNS[options.pattern] : options.pattern;
    if (pattern === undefined) throw new TypeError(`unknown handshake pattern: ${options.pattern}`);
    this.#provider = options.provider ?? defaultCryptoProvider();
    const hash = options.hash ?? sha256NoiseHash(this.#provider);
    this.#pattern = pattern;
    this.#initiator = options.initiator;
    if (options.s) checkKeyPair(options.s, 's');
    if (options.e) checkKeyPair(options.e, 'e');
    if (options.rs) checkLength(options.rs, X25519_KEY_BYTES, 'rs');
    if (options.re) checkLength(options.re, X25519_KEY_BYTES, 're');
    this.#s = options.s;
    // Copied so that wiping the ephemeral at the end never touches the caller's bytes.
    this.#e = options.e && {
      secretKey: new Uint8Array(options.e.secretKey),
      publicKey: new Uint8Array(options.e.publicKey),
    };
    this.#rs = options.rs && new Uint8Array(options.rs);
    this.#re = options.re && new Uint8Array(options.re);
    this.#protocolName = `Noise_${pattern.name}_25519_ChaChaPoly_${hash.name}`;
    this.#ss = new SymmetricState(this.#provider, hash, this.#protocolName);
    this.#ss.mixHash(options.prologue ?? new Uint8Array(0));
    // The initiator's pre-message keys are hashed first (§5.3 Initialize).
    for (const [tokens, ofInitiator] of [
      [pattern.initiatorPreMessage, true],
      [pattern.responderPreMessage, false],
    ] as const) {
      for (const token of tokens) {
        const local = ofInitiator === this.#initiator;
        let key: Uint8Array | undefined;
        if (token === 's') key = local ? this.#s?.publicKey : this.#rs;
        else key = local ? this.#e?.publicKey : this.#re;
        if (key === undefined) {
          throw new TypeError(
            `pattern ${pattern.name} needs the ${local ? 'local' : 'remote'} ${token} key before the handshake`,
          );
        }
        this.#ss.mixHash(key);
      }
    }
    const needsS = pattern.messages.some(
      (m, i) => (i % 2 === 0) === this.#initiator && m.includes('s'),
    );
    if (needsS && this.#s === undefined) {
      throw new TypeError(`pattern ${pattern.name} needs a local static key pair (s)`);
    }
  }

  /** The full protocol name, e.g. `Noise_XX_25519_ChaChaPoly_SHA256`. */
  get protocolName(): string {
    return this.#protocolName;
  }

  /** True once every handshake message has been written or read. */
  get isComplete(): boolean {
    return this.#index >= this.#pattern.messages.length;
  }

  /** True when the next step is {@link HandshakeState.writeMessage}. */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.#index % 2 === 0) === this.#initiator;
  }

  /** The peer's static public key once it has been received or pre-shared. */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs && new Uint8Array(this.#rs);
  }

  /** `GetHandshakeHash()`: the current `h`. */
  getHandshakeHash(): Uint8Array {
    const finished = this.#result?.handshakeHash;
    return finished ? new Uint8Array(finished) : this.#ss.getHandshakeHash();
  }

  /**
   * `h` as it stood when the payload of the last message written or read was encrypted
   * or decrypted: the associated data of that payload's AEAD, which commits to the
   * prologue and every key sent so far. A signature over it binds the signer's payload to
   * this one session. Undefined before the first message.
   */
  get payloadHash(): Uint8Array | undefined {
    return this.#payloadHash && new Uint8Array(this.#payloadHash);
  }

  /**
   * `WriteMessage(payload, message_buffer)`.
   * @param payload - sent encrypted once a DH result is mixed in, in clear before. A
   *   function is called with {@link HandshakeState.payloadHash} of this message, once
   *   the message's tokens are processed, and returns the payload: a payload may carry a
   *   signature over the hash it is sent under.
   * @returns the handshake message.
   * @throws {HandshakeError} when it is not this side's turn or the message would exceed 65535 bytes.
   */
  writeMessage(
    payload: Uint8Array | ((payloadHash: Uint8Array) => Uint8Array) = new Uint8Array(0),
  ): Uint8Array {
    this.#checkTurn(true);
    try {
      const parts: Uint8Array[] = [];
      for (const token of this.#pattern.messages[this.#index]!) {
        if (token === 'e') {
          this.#e ??= this.#provider.generateKeyPair();
          parts.push(this.#e.publicKey);
          this.#ss.mixHash(this.#e.publicKey);
        } else if (token === 's') {
          parts.push(this.#ss.encryptAndHash(this.#s!.publicKey));
        } else {
          this.#mixDh(token);
        }
      }
      this.#payloadHash = this.#ss.getHandshakeHash();
      const bytes =
        typeof payload === 'function' ? payload(new Uint8Array(this.#payloadHash)) : payload;
      parts.push(this.#ss.encryptAndHash(bytes));
      const message = concatBytes(...parts);
      if (message.length > NOISE_MAX_MESSAGE_BYTES) {
        throw new HandshakeError(`handshake message of ${message.length} bytes exceeds 65535`);
      }
      this.#advance();
      return message;
    } catch (cause) {
      throw this.#fail(cause);
    }
  }

  /**
   * `ReadMessage(message, payload_buffer)`.
   * @returns the decrypted payload.
   * @throws {HandshakeError} on a short, oversize or forged message, or out of turn; the
   * state is unusable afterwards.
   */
  readMessage(message: Uint8Array): Uint8Array {
    this.#checkTurn(false);
    try {
      if (message.length > NOISE_MAX_MESSAGE_BYTES) {
        throw new HandshakeError(`handshake message of ${message.length} bytes exceeds 65535`);
      }
      let offset = 0;
      const take = (n: number, what: string): Uint8Array => {
        if (offset + n > message.length)
          throw new HandshakeError(`handshake message too short for ${what}`);
        const bytes = message.subarray(offset, offset + n);
        offset += n;
        return bytes;
      };
      for (const token of this.#pattern.messages[this.#index]!) {
        if (token === 'e') {
          this.#re = new Uint8Array(take(X25519_KEY_BYTES, 'e'));
          this.#ss.mixHash(this.#re);
        } else if (token === 's') {
          const length = X25519_KEY_BYTES + (this.#ss.hasKey() ? AEAD_TAG_BYTES : 0);
          this.#rs = new Uint8Array(this.#ss.decryptAndHash(take(length, 's')));
        } else {
          this.#mixDh(token);
        }
      }
      this.#payloadHash = this.#ss.getHandshakeHash();
      const payload = this.#ss.decryptAndHash(message.subarray(offset));
      this.#advance();
      return payload;
    } catch (cause) {
      throw this.#fail(cause);
    }
  }

  /**
   * The transport cipher states, once the handshake is complete (`Split()`).
   * @throws {HandshakeError} before the handshake is complete.
   */
  result(): HandshakeResult {
    if (this.#result === undefined) throw new HandshakeError('handshake is not complete');
    return this.#result;
  }

  /** Wipes the keys this state holds. */
  destroy(): void {
    this.#ss.destroy();
    this.#e?.secretKey.fill(0);
    this.#e = undefined;
  }

  #checkTurn(writing: boolean): void {
    if (this.#failed) throw new HandshakeError('handshake already failed');
    if (this.isComplete) throw new HandshakeError('handshake is already complete');
    if (this.isMyTurn !== writing) {
      throw new HandshakeError(
        writing ? "it is the peer's turn to send" : 'it is our turn to send',
      );
    }
  }

  #mixDh(token: Exclude<MessageToken, 'e' | 's'>): void {
    // For `es` the initiator holds e and the responder s; `se` is the mirror (§7.1).
    const localStatic =
      token === 'ss' ||
      (token === 'es' ? !this.#initiator : token === 'se' ? this.#initiator : false);
    const remoteStatic =
      token === 'ss' ||
      (token === 'es' ? this.#initiator : token === 'se' ? !this.#initiator : false);
    const local = localStatic ? this.#s : this.#e;
    const remote = remoteStatic ? this.#rs : this.#re;
    if (local === undefined || remote === undefined) {
      throw new HandshakeError(`missing key for ${token}`);
    }
    const shared = this.#provider.dh(local.secretKey, remote);
    this.#ss.mixKey(shared);
    shared.fill(0);
  }

  #advance(): void {
    this.#index++;
    if (!this.isComplete) return;
    const handshakeHash = this.#ss.getHandshakeHash();
    const [c1, c2] = this.#ss.split();
    this.#result = Object.freeze({
      send: this.#initiator ? c1 : c2,
      receive: this.#initiator ? c2 : c1,
      handshakeHash,
    });
    this.#e?.secretKey.fill(0);
    this.#e = undefined;
  }

  #fail(cause: unknown): HandshakeError {
    this.#failed = true;
    this.destroy();
    if (cause instanceof HandshakeError) return cause;
    return new HandshakeError('handshake message failed authentication', { cause });
  }
}

function checkKeyPair(pair: X25519KeyPair, name: string): void {
  checkLength(pair.secretKey, X25519_KEY_BYTES, `${name}.secretKey`);
  checkLength(pair.publicKey, X25519_KEY_BYTES, `${name}.publicKey`);
}
