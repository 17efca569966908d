/**
 * The last step of accepting a connection: run the server's authenticator chain on the
 * raw stream, then tell the client the verdict. Only after `OK` is sent does the channel
 * carry RPC; a refusal sends a bare `FAIL` (no reason) and closes the connection.
 */
import type { Duplex } from 'node:stream';
import { secureDebugLogger } from '../debug.js';
import { AuthenticationError } from '../errors.js';
import type { MessageTransport } from './message-reader.js';
import { forgetSession, sessionOf } from './server-session.js';
import type { AuthContext, Authenticator, Credentials } from './types.js';
import { AuthMessage, authMessage } from './wire.js';

/** An authenticated connection, ready for the RPC engine. */
export interface AcceptedConnection {
  /** The encrypted message transport, in the shape @keyway/core's `Transport` expects. */
  readonly transport: MessageTransport;
  /** What the authenticators proved about the peer. */
  readonly credentials: Credentials;
  /** The Noise handshake hash, unique to this connection. */
  readonly handshakeHash: Uint8Array;
}

/**
 * Authenticates a freshly accepted stream with `authenticator`.
 * @returns the transport to serve RPC over and the peer's credentials
 * @throws AuthenticationError when refused (the peer saw only `FAIL`), or the
 *   handshake's own error; in both cases the stream is closed
 */
export async function acceptConnection(
  stream: Duplex,
  authenticator: Authenticator,
  context: AuthContext,
): Promise<AcceptedConnection> {
  const debug = secureDebugLogger();
  const started = debug === undefined ? 0 : performance.now();
  if (debug !== undefined) {
    debug('handshake', { side: 'server', remoteAddress: context.remoteAddress });
    const log = context.log;
    // Each method's outcome, with its local reason, beside whatever log the server keeps.
    context = {
      ...context,
      log: (event) => {
        debug('auth', { ...event });
        log?.(event);
      },
    };
  }
  try {
    const result = await authenticator(stream, context);
    const session = sessionOf(result.stream);
    if (!session) {
      // A chain of only address checks would leave the connection in plain text; keyway
      // never serves RPC that way.
      throw new AuthenticationError(
        'the authenticator chain established no secure channel (add anonymousAuth, publicKeyAuth or passwordAuth)',
      );
    }
    // The client flooded us while the authenticators ran: the reader closed the channel.
    if (session.reader.limitError) throw session.reader.limitError;
    // Raise the limits before OK: the client may send full-size frames right after it.
    // They are whole limits (DEFAULT_CHANNEL_LIMITS under what the server set), not a
    // patch on the pre-authentication ones.
    session.channel.setLimits(session.authenticatedLimits);
    session.reader.send(authMessage(AuthMessage.OK));
    debug?.('authenticated', {
      side: 'server',
      remoteAddress: context.remoteAddress,
      methods: result.credentials.methods.join(','),
      user: result.credentials.user,
      fingerprint: result.credentials.publicKey?.fingerprint,
      ms: Math.round(performance.now() - started),
    });
    const accepted: AcceptedConnection = {
      transport: session.reader.handoff(),
      credentials: result.credentials,
      handshakeHash: session.handshakeHash,
    };
    forgetSession(stream);
    return accepted;
  } catch (error) {
    debug?.('refused', {
      side: 'server',
      remoteAddress: context.remoteAddress,
      error: error instanceof Error ? error.message : String(error),
      ms: Math.round(performance.now() - started),
    });
    const session = sessionOf(stream);
    if (session) {
      if (error instanceof AuthenticationError && !session.channel.closed) {
        session.reader.send(authMessage(AuthMessage.FAIL));
      }
      session.reader.close();
      // An authenticator that was reading sees the flood as a failed exchange; the flood
      // is the cause worth reporting.
      throw session.reader.limitError ?? error;
    }
    stream.destroy();
    throw error;
  }
}
