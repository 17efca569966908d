/**
 * Errors of the client's `connect()` that are not already errors of the RPC engine or the
 * security layer: each tells the user what went wrong and what to try next.
 */
import { KeywayError, type KeywayErrorOptions } from '@keyway/core';

/** Nothing listens at the address, or the network refused the connection. */
export class ConnectionRefusedError extends KeywayError {
  /** `host:port` or the socket path that refused. */
  readonly address: string;

  constructor(address: string, options?: KeywayErrorOptions) {
    super(
      'ERR_CONNECTION_REFUSED',
      `connection to ${address} refused: is a keyway server listening there?`,
      options,
    );
    this.address = address;
  }
}

/** The server closed the connection before authentication finished. */
export class ConnectionResetError extends KeywayError {
  constructor(message: string, options?: KeywayErrorOptions) {
    super('ERR_CONNECTION_RESET', message, options);
  }
}

/** Stable codes of {@link ProxyProtocolError}. */
export type ProxyProtocolErrorCode =
  | 'ERR_PROXY_HEADER_MALFORMED'
  | 'ERR_PROXY_HEADER_TOO_LONG'
  | 'ERR_PROXY_HEADER_TRUNCATED'
  | 'ERR_PROXY_HEADER_MISSING'
  | 'ERR_PROXY_HEADER_UNTRUSTED';

/**
 * A connection was refused over its PROXY protocol header: malformed, too long, cut
 * short, missing from a trusted balancer, or sent by a peer that is not trusted to send one.
 */
export class ProxyProtocolError extends KeywayError {
  declare readonly code: ProxyProtocolErrorCode;

  constructor(code: ProxyProtocolErrorCode, message: string, options?: KeywayErrorOptions) {
    super(code, message, options);
  }
}
