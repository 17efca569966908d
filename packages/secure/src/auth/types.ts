/**
 * The authenticator contract. An authenticator takes the stream a server accepted (a raw
 * socket, or the secure channel an earlier authenticator established) and either throws
 * `AuthenticationError` or returns the stream to go on with and what it proved about the
 * peer. This is RPyC's authenticator shape, `authenticator(sock) -> (sock2, credentials)`,
 * so authenticators written by users compose with the built-in ones.
 */
import type { Duplex } from 'node:stream';
import type { SecureChannel } from '../channel/secure-channel.js';
import type { LoginGate } from '../opaque/login-limiter.js';

/** What an authenticator is handed and hands on: a raw byte stream or a secure channel. */
export type AuthStream = Duplex | SecureChannel;

/** The authentication methods keyway knows by name. */
export type AuthMethod = 'ip' | 'anonymous' | 'publickey' | 'password' | (string & {});

/** What the server learned about a peer; reaches the service as `conn.credentials`. */
export interface Credentials {
  /** The user name, when a method established one (password login, or the key's user). */
  readonly user?: string | undefined;
  /** The client's key, when public-key authentication succeeded. */
  readonly publicKey?:
    | {
        readonly fingerprint: string;
        readonly comment: string;
      }
    | undefined;
  /** Services this peer may use; absent when not restricted. */
  readonly services?: readonly string[] | undefined;
  /**
   * `true` when the login is restricted, as OpenSSH's `restrict` option restricts one: the
   * peer gets the service's ordinary methods and none of its optional, dangerous
   * capabilities. `publicKeyAuth` sets it from the matching authorized_keys line's
   * `restrict`; {@link compose} keeps it `true` when any method that succeeded set it.
   * `ClassicService` refuses a restricted login; other services may read it to withhold
   * their own powerful features. Absent or `false`: not restricted.
   */
  readonly restricted?: boolean | undefined;
  /** The peer's address (`ip` for TCP, a path or label otherwise). */
  readonly remoteAddress: string;
  /** Methods that succeeded, in order. */
  readonly methods: readonly AuthMethod[];
}

/** A line for the server's own log. Reasons never reach the peer. */
export interface AuthLogEvent {
  readonly method: AuthMethod;
  readonly outcome: 'success' | 'failure';
  readonly remoteAddress: string;
  /** Why it failed (`unknown key`, `expired key`, ...), or what succeeded. */
  readonly reason: string;
  readonly user?: string | undefined;
  readonly fingerprint?: string | undefined;
}

/** Everything an authenticator may know about the connection besides the stream. */
export interface AuthContext {
  /** The peer's address: an IP for TCP, a path or label otherwise. */
  readonly remoteAddress: string;
  /** The peer's port, for TCP. */
  readonly remotePort?: number | undefined;
  /** The name of the service the server exposes, for per-key service restrictions. */
  readonly service?: string | undefined;
  /** Receives one event per method tried. Defaults to nothing. */
  readonly log?: ((event: AuthLogEvent) => void) | undefined;
  /**
   * The server's shared password back-off, when it serves from several threads (each
   * thread's `passwordAuth` would otherwise count alone). When set, `passwordAuth` admits
   * attempts through it instead of its own `limiter`.
   */
  readonly loginGate?: LoginGate | undefined;
}

/** What an authenticator returns when it lets the peer in. */
export interface AuthResult {
  readonly stream: AuthStream;
  readonly credentials: Credentials;
}

/**
 * A server-side authenticator: `(stream, context) => Promise<{ stream, credentials }>`.
 * It throws `AuthenticationError` to refuse.
 */
export type Authenticator = (stream: AuthStream, context: AuthContext) => Promise<AuthResult>;
