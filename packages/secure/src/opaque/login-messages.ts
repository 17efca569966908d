/**
 * The three messages `passwordAuth` exchanges inside the Noise channel to run OPAQUE-3DH
 * (docs/security.md "Authentication"), and the transcript context that binds the login to
 * that channel. Each message is one channel message; fixed layouts, a tag byte first,
 * every length checked:
 *
 *     LoginStart     client → server   0x01 ‖ u8 len ‖ user (1..255 B UTF-8) ‖ KE1 (96 B)
 *     LoginResponse  server → client   0x02 ‖ u8 len ‖ KSF parameters (ASCII) ‖ KE2 (320 B)
 *     LoginFinish    client → server   0x03 ‖ KE3 (64 B)
 *
 * The KSF parameters travel with KE2 because the client needs them to stretch the OPRF
 * output; for an unknown user the server sends parameters drawn like a real user's
 * (`PasswordFile.fakeKsfParams`), so the reply does not tell which names exist.
 */
import { OpaqueFormatError } from './errors.js';
import { formatKsfParams, type KsfParams, parseKsfParams } from './ksf.js';
import {
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  type KE1,
  type KE2,
  type KE3,
  OPAQUE_MESSAGE_SIZES,
  serializeKE1,
  serializeKE2,
  serializeKE3,
} from './messages.js';
import { concat, utf8 } from './suite.js';

/** Message tags. */
export const LOGIN_MESSAGE_TYPES = Object.freeze({ start: 1, response: 2, finish: 3 });

/** Label that starts keyway's OPAQUE context. */
export const OPAQUE_CONTEXT_LABEL = 'keyway/1';

const MAX_KSF_TEXT = 64;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The OPAQUE `context` for a login inside a Noise session: `"keyway/1" ‖ handshake hash`.
 * A relay that terminates two Noise sessions sees two different handshake hashes, so the
 * MACs computed on either side of it never match.
 * @param handshakeHash - the Noise handshake hash `h` after the handshake (32 bytes).
 */
export function opaqueContext(handshakeHash: Uint8Array): Uint8Array {
  if (!(handshakeHash instanceof Uint8Array)) throw new TypeError('handshakeHash must be bytes');
  if (handshakeHash.length === 0 || handshakeHash.length > 64) {
    throw new RangeError('handshakeHash must be 1..64 bytes');
  }
  return concat(utf8(OPAQUE_CONTEXT_LABEL), handshakeHash);
}

/** First message: who is logging in, and KE1. */
export interface LoginStart {
  readonly user: string;
  readonly ke1: KE1;
}

/** Second message: the record's KSF parameters and KE2. */
export interface LoginResponse {
  readonly ksf: KsfParams;
  readonly ke2: KE2;
}

/** Third message: KE3. */
export interface LoginFinish {
  readonly ke3: KE3;
}

function expectTag(bytes: Uint8Array, tag: number, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (bytes.length === 0 || bytes[0] !== tag) {
    throw new OpaqueFormatError(`${what}: wrong message type`);
  }
}

/** Encodes {@link LoginStart}. @throws RangeError for a user name outside 1..255 bytes. */
export function encodeLoginStart(m: LoginStart): Uint8Array {
  const user = utf8(m.user);
  if (user.length === 0 || user.length > 255) throw new RangeError('user must be 1..255 bytes');
  return concat(Uint8Array.of(LOGIN_MESSAGE_TYPES.start, user.length), user, serializeKE1(m.ke1));
}

/** Decodes {@link LoginStart}. @throws OpaqueFormatError on any malformed input. */
export function decodeLoginStart(bytes: Uint8Array): LoginStart {
  expectTag(bytes, LOGIN_MESSAGE_TYPES.start, 'LoginStart');
  const n = bytes[1] ?? 0;
  if (n === 0 || bytes.length !== 2 + n + OPAQUE_MESSAGE_SIZES.ke1) {
    throw new OpaqueFormatError('LoginStart: wrong length');
  }
  let user: string;
  try {
    user = decoder.decode(bytes.subarray(2, 2 + n));
  } catch (cause) {
    throw new OpaqueFormatError('LoginStart: user is not UTF-8', { cause });
  }
  return { user, ke1: deserializeKE1(bytes.subarray(2 + n)) };
}

/** Encodes {@link LoginResponse}. */
export function encodeLoginResponse(m: LoginResponse): Uint8Array {
  const ksf = utf8(formatKsfParams(m.ksf));
  if (ksf.length > MAX_KSF_TEXT) throw new RangeError('KSF parameter text too long');
  return concat(Uint8Array.of(LOGIN_MESSAGE_TYPES.response, ksf.length), ksf, serializeKE2(m.ke2));
}

/**
 * Decodes {@link LoginResponse}; the KSF parameters are checked against `KSF_LIMITS`, so
 * a hostile server cannot make the client allocate or compute without bound, and the
 * Identity KSF is refused unless `allowIdentityKsf` (tests only).
 * @throws OpaqueFormatError on any malformed input.
 */
export function decodeLoginResponse(
  bytes: Uint8Array,
  options: { allowIdentityKsf?: boolean } = {},
): LoginResponse {
  expectTag(bytes, LOGIN_MESSAGE_TYPES.response, 'LoginResponse');
  const n = bytes[1] ?? 0;
  if (n === 0 || n > MAX_KSF_TEXT || bytes.length !== 2 + n + OPAQUE_MESSAGE_SIZES.ke2) {
    throw new OpaqueFormatError('LoginResponse: wrong length');
  }
  let text: string;
  try {
    text = decoder.decode(bytes.subarray(2, 2 + n));
  } catch (cause) {
    throw new OpaqueFormatError('LoginResponse: KSF text is not UTF-8', { cause });
  }
  const ksf = parseKsfParams(text);
  // Identity is for test vectors; a server asking a real client to skip stretching is refused.
  if (ksf.algorithm === 'identity' && options.allowIdentityKsf !== true) {
    throw new OpaqueFormatError('LoginResponse: identity KSF refused');
  }
  return { ksf, ke2: deserializeKE2(bytes.subarray(2 + n)) };
}

/** Encodes {@link LoginFinish}. */
export function encodeLoginFinish(m: LoginFinish): Uint8Array {
  return concat(Uint8Array.of(LOGIN_MESSAGE_TYPES.finish), serializeKE3(m.ke3));
}

/** Decodes {@link LoginFinish}. @throws OpaqueFormatError on any malformed input. */
export function decodeLoginFinish(bytes: Uint8Array): LoginFinish {
  expectTag(bytes, LOGIN_MESSAGE_TYPES.finish, 'LoginFinish');
  return { ke3: deserializeKE3(bytes.subarray(1)) };
}
