/**
 * Error classes of the security layer. Each carries a stable `code`. Messages shown to a
 * peer about authentication are uniform whatever the reason (no oracle); the precise
 * reason lives in `reason`, for local logs only.
 */

/** Options accepted by every security-layer error constructor. */
export interface SecureErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/** Base class of every error the security layer throws. `code` is stable across releases. */
export class SecureError extends Error {
  /** Stable machine-readable code, `ERR_*`. */
  readonly code: string;

  constructor(code: string, message: string, options?: SecureErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** The Noise handshake failed: bad message, wrong pattern, deadline passed. */
export class HandshakeError extends SecureError {
  /** @param code - a more specific `ERR_*` code, for subclasses. */
  constructor(message: string, options?: SecureErrorOptions, code = 'ERR_HANDSHAKE') {
    super(code, message, options);
  }
}

/**
 * The peer speaks another protocol: its first bytes are an SSH banner (`SSH-…`) or an HTTP
 * response (`HTTP/…`), or a first message far larger than any keyway handshake message
 * (text, usually). Raised at once, instead of waiting for the handshake deadline, so that
 * a client dialled at the wrong port learns why.
 */
export class NotKeywayError extends HandshakeError {
  /** `'ssh'`, `'http'`, or undefined when the bytes are just not a keyway handshake. */
  readonly protocol: 'ssh' | 'http' | undefined;
  /** The start of what the peer sent, printable ASCII only, at most 64 characters. */
  readonly banner: string;

  constructor(protocol: 'ssh' | 'http' | undefined, banner: string, options?: SecureErrorOptions) {
    const what =
      protocol === 'ssh'
        ? 'it sent an SSH banner'
        : protocol === 'http'
          ? 'it answered in HTTP'
          : 'what it sent is not a keyway handshake';
    super(`the peer does not speak keyway: ${what} ("${banner}")`, options, 'ERR_NOT_KEYWAY');
    this.protocol = protocol;
    this.banner = banner;
  }
}

/** A frame failed to decrypt or authenticate (bad tag, replay, reorder, truncation). */
export class DecryptError extends SecureError {
  constructor(message = 'frame failed authentication', options?: SecureErrorOptions) {
    super('ERR_DECRYPT', message, options);
  }
}

/** A channel-level rule was broken: oversize frame, unknown frame type, EOF without CLOSE. */
export class ChannelError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_CHANNEL', message, options);
  }
}

/** The peer was not allowed in. The message is uniform; `reason` is for local logs. */
export class AuthenticationError extends SecureError {
  /** Why authentication failed; never sent to the peer. */
  readonly reason: string;

  constructor(reason: string, options?: SecureErrorOptions) {
    super('ERR_AUTHENTICATION', 'authentication failed', options);
    this.reason = reason;
  }
}

/** A key, key file or key database line could not be parsed or decrypted. */
export class KeyFormatError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_KEY_FORMAT', message, options);
  }
}

/** A key file is readable, or a key database writable, by group or others. */
export class FilePermissionError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_FILE_PERMISSIONS', message, options);
  }
}

/** The server's host key is not the one `known_hosts` expects (unknown, changed or revoked). */
export class HostKeyError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_HOST_KEY', message, options);
  }
}

/**
 * The server serves another service than the one the client named (the client's
 * `expectedService`), as its signed hello says: a redirect to another service that shares
 * the host key. Raised by the client before it reveals its identity, and by a server whose
 * client asked for a service it does not serve.
 */
export class ServiceMismatchError extends SecureError {
  /** The service the client expected. */
  readonly expected: string;
  /** The service the server serves; undefined when it names none. */
  readonly actual: string | undefined;

  constructor(expected: string, actual: string | undefined, options?: SecureErrorOptions) {
    super(
      'ERR_SERVICE_MISMATCH',
      actual === undefined
        ? `expected service "${expected}", but the server names no service`
        : `expected service "${expected}", but the server serves "${actual}"`,
      options,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * keyway's API was used in a way it does not allow: a one-shot method called twice, a
 * second read started while one is pending. A bug in the calling code, never the peer's
 * doing, so it is never sent to the peer.
 */
export class UsageError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_USAGE', message, options);
  }
}
