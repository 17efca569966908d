/**
 * Limits and rekey policy of the secure channel (docs/security.md "Rekey", "Limits before
 * and after authentication"), with frozen documented defaults. Limits before
 * authentication are tighter than after.
 */

/** Noise's largest transport message (rev 34 §3), so the largest frame of any peer. */
export const NOISE_MAX_FRAME_BYTES = 65535;

/** Limits the channel keeps to when it sends and enforces on what it receives. */
export interface ChannelLimits {
  /**
   * Largest frame, tag included ({@link MIN_FRAME_LIMIT}..65535), that this side sends:
   * a message is cut into frames of at most this size, every one but the last carrying
   * exactly `maxFrameBytes - 17` message bytes. It is also the cap on received frames before authentication, so that an
   * unauthenticated peer cannot make us buffer large frames; once
   * `SecureChannel.setLimits()` has been called (the peer is authenticated) any frame
   * up to Noise's 65535 bytes is accepted, so that peers with different settings
   * interoperate without negotiating.
   */
  readonly maxFrameBytes: number;
  /**
   * Largest message accepted after reassembly of its frames; a larger message is also
   * refused on send.
   */
  readonly maxMessageBytes: number;
}

/** Limits while the peer is not yet authenticated: 16 KiB frames, 64 KiB messages. */
export const DEFAULT_PREAUTH_CHANNEL_LIMITS: ChannelLimits = Object.freeze({
  maxFrameBytes: 16 * 1024,
  maxMessageBytes: 64 * 1024,
});

/** Limits once the peer is authenticated: full 65535-byte frames, 64 MiB messages. */
export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = Object.freeze({
  maxFrameBytes: 65535,
  maxMessageBytes: 64 * 1024 * 1024,
});

/** When a direction's key is replaced with Noise `Rekey()`: whichever comes first. */
export interface RekeyPolicy {
  /** Plaintext bytes sent under one key. Default 1 GiB. */
  readonly afterBytes: number;
  /** Frames sent under one key. Default 2^24. */
  readonly afterFrames: number;
  /** Milliseconds one key may be used. Default one hour. */
  readonly afterMs: number;
}

/** 1 GiB, 2^24 frames or one hour. */
export const DEFAULT_REKEY_POLICY: RekeyPolicy = Object.freeze({
  afterBytes: 2 ** 30,
  afterFrames: 2 ** 24,
  afterMs: 60 * 60 * 1000,
});

/** Options of a secure channel. */
export interface ChannelOptions {
  /** Limits to start with; {@link DEFAULT_PREAUTH_CHANNEL_LIMITS} when omitted. */
  limits?: Partial<ChannelLimits>;
  /** When to rekey; fields default to {@link DEFAULT_REKEY_POLICY}. */
  rekey?: Partial<RekeyPolicy>;
  /** Where the peer is, for logs; taken from a `net.Socket` when omitted. */
  remoteAddress?: string;
  /**
   * After `close()`, how long to wait for the peer to end its half of the stream before
   * destroying it. Default {@link DEFAULT_CLOSE_GRACE_MS}.
   */
  closeGraceMs?: number;
  /**
   * Pack small messages sent in the same tick into one BATCH frame (one AEAD operation
   * and one header for many pipelined calls). Default true; the peer always accepts both.
   */
  batch?: boolean;
  /**
   * Most bytes allowed to wait in the stream's write buffer; a peer that stops reading
   * past this is cut off with `ChannelError` instead of growing our memory without bound.
   * Default {@link DEFAULT_MAX_BUFFERED_BYTES}.
   */
  maxBufferedBytes?: number;
}

/** 128 MiB waiting to be sent before a peer that does not read is cut off. */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;

/** Five seconds for a peer to end its half after our CLOSE. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

/** Smallest well-formed frame: one type byte plus the 16-byte tag. */
export const MIN_FRAME_BYTES = 17;

/**
 * Smallest allowed `maxFrameBytes`. A sender cuts messages into frames of its
 * `maxFrameBytes`, so every DATA_CONTINUED frame of a keyway peer carries at least
 * {@link MIN_CONTINUED_BODY_BYTES} message bytes, and a receiver refuses shorter ones:
 * a peer cannot make the receiver hold many tiny pieces of one message.
 */
export const MIN_FRAME_LIMIT = 1024;

/** Fewest message bytes in a DATA_CONTINUED frame: {@link MIN_FRAME_LIMIT} less type and tag. */
export const MIN_CONTINUED_BODY_BYTES = MIN_FRAME_LIMIT - MIN_FRAME_BYTES;

/**
 * Merges and validates limits.
 * @throws {RangeError} when a limit is out of range.
 */
export function resolveLimits(
  base: ChannelLimits,
  patch: Partial<ChannelLimits> = {},
): ChannelLimits {
  const limits = { ...base, ...patch };
  const { maxFrameBytes, maxMessageBytes } = limits;
  if (
    !Number.isInteger(maxFrameBytes) ||
    maxFrameBytes < MIN_FRAME_LIMIT ||
    maxFrameBytes > NOISE_MAX_FRAME_BYTES
  ) {
    throw new RangeError(
      `maxFrameBytes must be an integer in ${MIN_FRAME_LIMIT}..${NOISE_MAX_FRAME_BYTES}`,
    );
  }
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
    throw new RangeError('maxMessageBytes must be a positive integer');
  }
  // Limits equal to a resolved set already made (the defaults, the base, a frozen patch)
  // are that set: every connection with the same limits shares one object.
  for (const known of [base, patch, DEFAULT_CHANNEL_LIMITS, DEFAULT_PREAUTH_CHANNEL_LIMITS]) {
    if (
      Object.isFrozen(known) &&
      Object.keys(known).length === 2 &&
      known.maxFrameBytes === maxFrameBytes &&
      known.maxMessageBytes === maxMessageBytes
    )
      return known as ChannelLimits;
  }
  return Object.freeze(limits);
}

/**
 * Merges and validates a rekey policy.
 * @throws {RangeError} when a threshold is not a positive number.
 */
export function resolveRekeyPolicy(patch: Partial<RekeyPolicy> = {}): RekeyPolicy {
  // No field given: every channel without a policy of its own shares the frozen default.
  if (Object.keys(patch).length === 0) return DEFAULT_REKEY_POLICY;
  const policy = { ...DEFAULT_REKEY_POLICY, ...patch };
  for (const [name, value] of Object.entries(policy)) {
    if (typeof value !== 'number' || !(value > 0)) {
      throw new RangeError(`rekey.${name} must be a positive number`);
    }
  }
  return Object.freeze(policy);
}
