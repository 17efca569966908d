/**
 * OPAQUE's own errors: malformed input (RFC 9807 §6 "DeserializeError" and friends), and
 * stretching parameters a client will not run.
 * Authentication failures (envelope recovery, server MAC, client MAC) are
 * `AuthenticationError`s from `../errors.js`, whose peer-facing text is uniform.
 */
import { SecureError, type SecureErrorOptions } from '../errors.js';

/** An OPAQUE message, record or parameter string had the wrong size or an invalid element. */
export class OpaqueFormatError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_OPAQUE_FORMAT', message, options);
  }
}

/**
 * A server asked the client to stretch the password with parameters outside the client's
 * bounds: too cheap to protect the password (below the floor) or too costly to run
 * (above the ceiling).
 */
export class KsfBoundsError extends SecureError {
  constructor(message: string, options?: SecureErrorOptions) {
    super('ERR_KSF_BOUNDS', message, options);
  }
}
