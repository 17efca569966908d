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
