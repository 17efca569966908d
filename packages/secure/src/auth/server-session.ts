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
import { defaultCryptoProvider } from '../crypto/default-provider.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { HandshakeError, ServiceMismatchError } from '../errors.js';
import { type Identity, sharedIdentityX25519 } from '../identity.js';
import { signedServerHello, verifyClientHello } from './hello.js';
import { type AuthQueueLimits, MessageReader, resolveAuthQueueLimits } from './message-reader.js';
import type { AuthStream } from './types.js';
import { type ClientHello, decodeClientHello } from './wire.js';

/**
 * The Noise prologue of every keyway connection: `keyway/2\0auth/2`, the protocol and
 * the authentication exchange both sides run (signed hello payloads, then auth messages).
 */
export const KEYWAY_PROLOGUE: Uint8Array = keywayPrologue('auth/2');

/** One connection's authentication state on the server. */
export interface ServerSession {
  readonly channel: SecureChannel;
  readonly reader: MessageReader;
  /** What the client said about itself; its key, if any, verified (signature included). */
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
  /**
   * Crypto provider; the fastest available by default. With keyway's own providers,
   * channel messages of at most 1 KiB are sealed in JavaScript; any other provider is
   * called for every message.
   */
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
 * Forgets the session of `stream` once the connection is accepted: what only
 * authentication needed (the client's hello, the handshake hash, the limits to raise to)
 * then no longer lives as long as the connection. The channel itself goes on.
 */
export function forgetSession(stream: AuthStream): void {
  const session = sessions.get(stream);
  if (session === undefined) return;
  sessions.delete(stream);
  sessions.delete(session.channel);
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
 * @param service - the name of the service this server serves (`AuthContext.service`),
 *   signed into the server's hello so that a client can tell services sharing a host key
 *   apart
 * @throws HandshakeError when the handshake fails or the client's hello is malformed or
 *   its signature does not verify, ServiceMismatchError when the client asked for another
 *   service, RangeError (before any handshake) when `authQueueLimits` or
 *   `authenticatedLimits` is out of range
 */
export async function ensureSession(
  stream: AuthStream,
  settings: HandshakeSettings,
  service?: string | undefined,
): Promise<ServerSession> {
  const known = sessions.get(stream);
  if (known) return known;
  if (!isDuplex(stream)) {
    throw new HandshakeError('stream is a channel that keyway did not establish');
  }
  // Checked before the handshake, so a bad setting costs the client nothing.
  const queueLimits = resolveAuthQueueLimits(settings.authQueueLimits);
  const limitsAfter = authenticatedLimits(settings.authenticatedLimits);
  const provider = settings.provider ?? defaultCryptoProvider();
  let hello: ClientHello | undefined;
  const result = await performHandshake(stream, {
    role: 'responder',
    staticKeyPair: sharedIdentityX25519(settings.identity),
    prologue: KEYWAY_PROLOGUE,
    localPayload: signedServerHello(settings.identity, service, provider),
    verifyRemote: (remoteStatic, payload, payloadHash) => {
      const received = decodeClientHello(payload);
      // A client that names a key must hold it and have signed this session with it, so
      // that authorized_keys is consulted about the very bytes it proved.
      verifyClientHello(received, remoteStatic, payloadHash, provider);
      if (received.service !== undefined && received.service !== service) {
        throw new ServiceMismatchError(received.service, service);
      }
      hello = received;
    },
    provider,
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
