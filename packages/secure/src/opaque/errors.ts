/**
 * OPAQUE's own error for malformed input (RFC 9807 §6 "DeserializeError" and friends).
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
