/**
 * The server side of one connection's authentication: the Noise handshake (run once,
 * by whichever authenticator first needs it), what the client said about itself, and the
 * reader of the messages that precede RPC. Authenticators find it by the stream they are
 * handed, so that `compose` and `anyOf` chains share one handshake.
 */
import type { Duplex } from 'node:stream';
import {
  type ChannelLimits,
  type ChannelOptions,
  DEFAULT_CHANNEL_LIMITS,
  resolveLimits,
} from '../channel/channel-options.js';
import { keywayPrologue, performHandshake } from '../channel/perform-handshake.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { HandshakeError, KeyFormatError } from '../errors.js';
import { ed25519PublicToX25519, type Identity, identityX25519 } from '../identity.js';
import { bytesEqual } from '../openssh/wire.js';
import { type AuthQueueLimits, MessageReader, resolveAuthQueueLimits } from './message-reader.js';
import type { AuthStream } from './types.js';
import { type ClientHello, decodeClientHello, encodeServerHello } from './wire.js';

/**
 * The Noise prologue of every keyway connection: `keyway/1\0auth/1`, the protocol and
 * the authentication exchange both sides run (hello payloads, then auth messages).
 */
export const KEYWAY_PROLOGUE: Uint8Array = keywayPrologue('auth/1');

/** One connection's authentication state on the server. */
export interface ServerSession {
  readonly channel: SecureChannel;
  readonly reader: MessageReader;
  readonly hello: ClientHello;
  readonly handshakeHash: Uint8Array;
  readonly hostIdentity: Identity;
  /** The limits to raise the channel to once the client is accepted, resolved. */
  readonly authenticatedLimits: ChannelLimits;
}

/** Options for the handshake an authenticator runs when handed a raw stream. */
export interface HandshakeSettings {
  /** The server's host key. */
  identity: Identity;
  /** Crypto provider; the fastest available by default. */
  provider?: CryptoProvider | undefined;
  /** Handshake deadline in ms (default 10 s). */
  handshakeTimeoutMs?: number | undefined;
  /** Channel options (limits before authentication, rekey policy). */
  channel?: ChannelOptions | undefined;
  /**
   * Channel limits once the client is authenticated; fields left out take their
   * `DEFAULT_CHANNEL_LIMITS` value (not the pre-authentication one).
   */
  authenticatedLimits?: Partial<ChannelLimits> | undefined;
  /**
   * How much the client may send, unread, before the verdict (while the authenticators
   * run); past it the connection is closed with `ChannelError`. Fields default to
   * `DEFAULT_AUTH_QUEUE_LIMITS` (16 messages, 64 KiB).
   */
  authQueueLimits?: Partial<AuthQueueLimits> | undefined;
}

const sessions = new WeakMap<object, ServerSession>();

/** The session a stream belongs to, if a handshake already ran on it. */
export function sessionOf(stream: AuthStream): ServerSession | undefined {
  return sessions.get(stream);
}

/**
 * The channel to continue on: the stream itself once upgraded, or the channel that an
 * earlier authenticator established over this raw stream.
 */
export function currentStream(stream: AuthStream): AuthStream {
  return sessions.get(stream)?.channel ?? stream;
}

/**
 * Returns the session for `stream`, running the Noise XX handshake as responder when the
 * stream is still a raw byte stream.
 * @throws HandshakeError when the handshake fails or the client's hello is malformed,
 *   RangeError (before any handshake) when `authQueueLimits` or `authenticatedLimits` is
 *   out of range
 */
export async function ensureSession(
  stream: AuthStream,
  settings: HandshakeSettings,
): Promise<ServerSession> {
  const known = sessions.get(stream);
  if (known) return known;
  if (!isDuplex(stream)) {
    throw new HandshakeError('stream is a channel that keyway did not establish');
  }
  // Checked before the handshake, so a bad setting costs the client nothing.
  const queueLimits = resolveAuthQueueLimits(settings.authQueueLimits);
  const limitsAfter = authenticatedLimits(settings.authenticatedLimits);
  let hello: ClientHello | undefined;
  const result = await performHandshake(stream, {
    role: 'responder',
    staticKeyPair: identityX25519(settings.identity),
    prologue: KEYWAY_PROLOGUE,
    localPayload: encodeServerHello({ hostKey: settings.identity.publicKey }),
    verifyRemote: (remoteStatic, payload) => {
      hello = decodeClientHello(payload);
      // A client that names a key must hold it: the key's X25519 form is the static key
      // the handshake just proved.
      if (
        hello.publicKey &&
        !bytesEqual(helloKeyToX25519(hello.publicKey, 'client'), remoteStatic)
      ) {
        throw new HandshakeError('client key does not match its handshake key');
      }
    },
    ...(settings.provider && { provider: settings.provider }),
    ...(settings.handshakeTimeoutMs !== undefined && { timeoutMs: settings.handshakeTimeoutMs }),
    ...(settings.channel && { channel: settings.channel }),
  });
  if (!hello) throw new HandshakeError('handshake finished without a client hello');
  const session: ServerSession = {
    channel: result.channel,
    reader: new MessageReader(result.channel, { limits: queueLimits }),
    hello,
    handshakeHash: result.handshakeHash,
    hostIdentity: settings.identity,
    authenticatedLimits: limitsAfter,
  };
  sessions.set(stream, session);
  sessions.set(result.channel, session);
  return session;
}

/**
 * The X25519 form of an Ed25519 key a peer sent in its hello.
 * @throws HandshakeError (the KeyFormatError as `cause`) when the key is not a valid point:
 *   a malformed hello fails the handshake like any other malformed hello
 */
export function helloKeyToX25519(publicKey: Uint8Array, who: 'client' | 'server'): Uint8Array {
  try {
    return ed25519PublicToX25519(publicKey);
  } catch (cause) {
    if (!(cause instanceof KeyFormatError)) throw cause;
    throw new HandshakeError(`${who} hello holds an invalid Ed25519 key`, { cause });
  }
}

/**
 * Checks the limits in `settings`, so that an authenticator refuses bad settings when it
 * is built instead of failing every connection later.
 * @throws {RangeError} when `authQueueLimits` or `authenticatedLimits` is out of range
 */
export function checkHandshakeSettings(settings: HandshakeSettings): void {
  resolveAuthQueueLimits(settings.authQueueLimits);
  authenticatedLimits(settings.authenticatedLimits);
}

/**
 * The limits after authentication: `partial` over {@link DEFAULT_CHANNEL_LIMITS}, as
 * documented, never over the tighter pre-authentication limits the channel starts with.
 * @throws {RangeError} when a limit is out of range
 */
export function authenticatedLimits(partial: Partial<ChannelLimits> | undefined): ChannelLimits {
  const patch: { maxFrameBytes?: number; maxMessageBytes?: number } = {};
  if (partial?.maxFrameBytes !== undefined) patch.maxFrameBytes = partial.maxFrameBytes;
  if (partial?.maxMessageBytes !== undefined) patch.maxMessageBytes = partial.maxMessageBytes;
  return resolveLimits(DEFAULT_CHANNEL_LIMITS, patch);
}

function isDuplex(stream: AuthStream): stream is Duplex {
  return (
    typeof (stream as Duplex).pipe === 'function' && typeof (stream as Duplex).write === 'function'
  );
}
