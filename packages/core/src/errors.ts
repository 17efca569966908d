/**
 * Error classes of the RPC engine. Every error carries a stable `code` that programs can
 * switch on; messages are for people and may change.
 */

/** Options accepted by every keyway error constructor. */
export interface KeywayErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/** Base class of every error keyway throws. `code` is stable across releases. */
export class KeywayError extends Error {
  /** Stable machine-readable code, `ERR_*`. */
  readonly code: string;

  constructor(code: string, message: string, options?: KeywayErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** The connection closed (cleanly or not) before the operation could finish. */
export class ConnectionClosedError extends KeywayError {
  constructor(message = 'connection closed', options?: KeywayErrorOptions) {
    super('ERR_CONNECTION_CLOSED', message, options);
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends KeywayError {
  constructor(message = 'operation timed out', options?: KeywayErrorOptions) {
    super('ERR_TIMEOUT', message, options);
  }
}

/** The peer asked for something the exposure rules do not allow. */
export class AccessDeniedError extends KeywayError {
  constructor(message = 'access denied', options?: KeywayErrorOptions) {
    super('ERR_ACCESS_DENIED', message, options);
  }
}

/** The peer broke the wire protocol or a limit; the connection is closed. */
export class ProtocolError extends KeywayError {
  constructor(message: string, options?: KeywayErrorOptions) {
    super('ERR_PROTOCOL', message, options);
  }
}
