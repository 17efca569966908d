/**
 * Error classes of the RPC engine (docs/design.md §3 "Errors"). Every error carries a stable
 * `code` that programs can switch on; messages are for people and may change.
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

/** Options of {@link ProtocolError}: a more specific stable code may be given. */
export interface ProtocolErrorOptions extends KeywayErrorOptions {
  /** A more specific `ERR_*` code; `ERR_PROTOCOL` when absent. */
  code?: string;
}

/** The peer broke the wire protocol or a limit; the connection is closed. */
export class ProtocolError extends KeywayError {
  constructor(message: string, options?: ProtocolErrorOptions) {
    super(options?.code ?? 'ERR_PROTOCOL', message, options);
  }
}

/** A framed or encoded message is larger than the configured limit (`ERR_MESSAGE_TOO_LARGE`). */
export class MessageTooLargeError extends ProtocolError {
  /** The announced or actual size in bytes. */
  readonly size: number;
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;

  constructor(size: number, limit: number, options?: KeywayErrorOptions) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`, {
      ...options,
      code: 'ERR_MESSAGE_TOO_LARGE',
    });
    this.size = size;
    this.limit = limit;
  }
}

/** A local limit (pending calls, live references) would be exceeded (`ERR_LIMIT_EXCEEDED`). */
export class LimitExceededError extends KeywayError {
  constructor(message: string, options?: KeywayErrorOptions) {
    super('ERR_LIMIT_EXCEEDED', message, options);
  }
}

/** Options of {@link RemoteError}. */
export interface RemoteErrorOptions extends KeywayErrorOptions {
  /** The `code` of the remote error, when it had a string one. */
  code?: string | undefined;
  /** The remote stack, only present when the owner enabled `includeRemoteStack`. */
  remoteStack?: string | undefined;
}

/**
 * The remote side threw an error whose class is not registered locally. No remote code or
 * class is ever instantiated: the name, message, code and cause are carried as data.
 */
export class RemoteError extends KeywayError {
  /** The `name` of the error on the remote side (`TypeError`, `MyError`, ...). */
  readonly remoteName: string;
  /** The remote stack trace, when the owner sends it; otherwise `undefined`. */
  readonly remoteStack: string | undefined;

  constructor(remoteName: string, message: string, options?: RemoteErrorOptions) {
    super(options?.code ?? 'ERR_REMOTE', message, options);
    this.remoteName = remoteName;
    this.remoteStack = options?.remoteStack;
  }
}
