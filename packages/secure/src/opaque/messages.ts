/**
 * OPAQUE-3DH protocol messages and their fixed-size wire encodings (RFC 9807 §5.1 for
 * registration, §6.1 and §6.4 for login), for the ristretto255-SHA512 suite. Every message
 * has exactly one size; a decoder rejects any other length, and any group element that is
 * not a canonical, non-identity ristretto255 encoding, with an `OpaqueFormatError`.
 */
import { OpaqueFormatError } from './errors.js';
import { checkElement, concat, Ne, Nh, Nm, Nn, Noe, Npk } from './suite.js';

/** Envelope (RFC 9807 §4.1.1): the nonce and the tag that binds the client's credentials. */
export interface Envelope {
  /** `envelope_nonce`, Nn bytes. */
  readonly nonce: Uint8Array;
  /** `auth_tag`, Nm bytes. */
  readonly authTag: Uint8Array;
}

/** RegistrationRequest (RFC 9807 §5.1): the client's blinded password. */
export interface RegistrationRequest {
  /** `blinded_message`, Noe bytes. */
  readonly blindedMessage: Uint8Array;
}

/** RegistrationResponse (RFC 9807 §5.1): the OPRF evaluation and the server's AKE public key. */
export interface RegistrationResponse {
  /** `evaluated_message`, Noe bytes. */
  readonly evaluatedMessage: Uint8Array;
  /** `server_public_key`, Npk bytes. */
  readonly serverPublicKey: Uint8Array;
}

/** RegistrationRecord (RFC 9807 §5.1): what the server stores for a user. No password inside. */
export interface RegistrationRecord {
  /** `client_public_key`, Npk bytes. */
  readonly clientPublicKey: Uint8Array;
  /** `masking_key`, Nh bytes. */
  readonly maskingKey: Uint8Array;
  /** `envelope`, Ne bytes. */
  readonly envelope: Envelope;
}

/** KE1 (RFC 9807 §6.1): CredentialRequest ‖ AuthRequest, sent by the client. */
export interface KE1 {
  /** `credential_request.blinded_message`, Noe bytes. */
  readonly blindedMessage: Uint8Array;
  /** `auth_request.client_nonce`, Nn bytes. */
  readonly clientNonce: Uint8Array;
  /** `auth_request.client_public_keyshare`, Npk bytes. */
  readonly clientPublicKeyshare: Uint8Array;
}

/** CredentialResponse (RFC 9807 §6.1): the OPRF evaluation and the masked envelope. */
export interface CredentialResponse {
  /** `evaluated_message`, Noe bytes. */
  readonly evaluatedMessage: Uint8Array;
  /** `masking_nonce`, Nn bytes. */
  readonly maskingNonce: Uint8Array;
  /** `masked_response`, Npk + Nn + Nm bytes. */
  readonly maskedResponse: Uint8Array;
}

/** KE2 (RFC 9807 §6.1): CredentialResponse ‖ AuthResponse, sent by the server. */
export interface KE2 {
  /** The credential response. */
  readonly credentialResponse: CredentialResponse;
  /** `auth_response.server_nonce`, Nn bytes. */
  readonly serverNonce: Uint8Array;
  /** `auth_response.server_public_keyshare`, Npk bytes. */
  readonly serverPublicKeyshare: Uint8Array;
  /** `auth_response.server_mac`, Nm bytes. */
  readonly serverMac: Uint8Array;
}

/** KE3 (RFC 9807 §6.1): the client's key confirmation. */
export interface KE3 {
  /** `client_mac`, Nm bytes. */
  readonly clientMac: Uint8Array;
}

/** Masked response length: server_public_key ‖ envelope. */
export const MASKED_RESPONSE_SIZE = Npk + Ne;

/** Exact encoded size of each message, in bytes. */
export const OPAQUE_MESSAGE_SIZES = Object.freeze({
  registrationRequest: Noe,
  registrationResponse: Noe + Npk,
  registrationRecord: Npk + Nh + Ne,
  ke1: Noe + Nn + Npk,
  credentialResponse: Noe + Nn + MASKED_RESPONSE_SIZE,
  ke2: Noe + Nn + MASKED_RESPONSE_SIZE + Nn + Npk + Nm,
  ke3: Nm,
});

/** Splits a byte string into fields of fixed sizes after checking its total length. */
function split(bytes: Uint8Array, sizes: readonly number[], what: string): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`${what} must be a Uint8Array`);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  if (bytes.length !== total) {
    throw new OpaqueFormatError(`${what} must be ${total} bytes, got ${bytes.length}`);
  }
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const size of sizes) {
    out.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return out;
}

/** Checks that a field has its exact size before encoding. */
function sized(field: Uint8Array, size: number, name: string): Uint8Array {
  if (!(field instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (field.length !== size) {
    throw new RangeError(`${name} must be ${size} bytes, got ${field.length}`);
  }
  return field;
}

/** Encodes a RegistrationRequest (Noe bytes). */
export function serializeRegistrationRequest(m: RegistrationRequest): Uint8Array {
  return sized(m.blindedMessage, Noe, 'blindedMessage').slice();
}

/** Decodes a RegistrationRequest. @throws OpaqueFormatError on a wrong size or bad element. */
export function deserializeRegistrationRequest(bytes: Uint8Array): RegistrationRequest {
  const [blindedMessage] = split(bytes, [Noe], 'RegistrationRequest');
  return { blindedMessage: checkElement(blindedMessage!, 'blinded_message') };
}

/** Encodes a RegistrationResponse (Noe + Npk bytes). */
export function serializeRegistrationResponse(m: RegistrationResponse): Uint8Array {
  return concat(
    sized(m.evaluatedMessage, Noe, 'evaluatedMessage'),
    sized(m.serverPublicKey, Npk, 'serverPublicKey'),
  );
}

/** Decodes a RegistrationResponse. @throws OpaqueFormatError on a wrong size or bad element. */
export function deserializeRegistrationResponse(bytes: Uint8Array): RegistrationResponse {
  const [e, pk] = split(bytes, [Noe, Npk], 'RegistrationResponse');
  return {
    evaluatedMessage: checkElement(e!, 'evaluated_message'),
    serverPublicKey: checkElement(pk!, 'server_public_key'),
  };
}

/** Encodes an Envelope (Ne bytes). */
export function serializeEnvelope(e: Envelope): Uint8Array {
  return concat(sized(e.nonce, Nn, 'envelope.nonce'), sized(e.authTag, Nm, 'envelope.authTag'));
}

/** Encodes a RegistrationRecord (Npk + Nh + Ne bytes). */
export function serializeRegistrationRecord(r: RegistrationRecord): Uint8Array {
  return concat(
    sized(r.clientPublicKey, Npk, 'clientPublicKey'),
    sized(r.maskingKey, Nh, 'maskingKey'),
    serializeEnvelope(r.envelope),
  );
}

/** Decodes a RegistrationRecord. @throws OpaqueFormatError on a wrong size or bad element. */
export function deserializeRegistrationRecord(bytes: Uint8Array): RegistrationRecord {
  const [pk, mk, nonce, tag] = split(bytes, [Npk, Nh, Nn, Nm], 'RegistrationRecord');
  return {
    clientPublicKey: checkElement(pk!, 'client_public_key'),
    maskingKey: mk!,
    envelope: { nonce: nonce!, authTag: tag! },
  };
}

/** Encodes KE1 (Noe + Nn + Npk bytes). */
export function serializeKE1(m: KE1): Uint8Array {
  return concat(
    sized(m.blindedMessage, Noe, 'blindedMessage'),
    sized(m.clientNonce, Nn, 'clientNonce'),
    sized(m.clientPublicKeyshare, Npk, 'clientPublicKeyshare'),
  );
}

/** Decodes KE1. @throws OpaqueFormatError on a wrong size or bad element. */
export function deserializeKE1(bytes: Uint8Array): KE1 {
  const [b, n, pk] = split(bytes, [Noe, Nn, Npk], 'KE1');
  return {
    blindedMessage: checkElement(b!, 'blinded_message'),
    clientNonce: n!,
    clientPublicKeyshare: checkElement(pk!, 'client_public_keyshare'),
  };
}

/** Encodes a CredentialResponse (Noe + Nn + Npk + Ne bytes). */
export function serializeCredentialResponse(m: CredentialResponse): Uint8Array {
  return concat(
    sized(m.evaluatedMessage, Noe, 'evaluatedMessage'),
    sized(m.maskingNonce, Nn, 'maskingNonce'),
    sized(m.maskedResponse, MASKED_RESPONSE_SIZE, 'maskedResponse'),
  );
}

/** Encodes KE2 (320 bytes for this suite). */
export function serializeKE2(m: KE2): Uint8Array {
  return concat(
    serializeCredentialResponse(m.credentialResponse),
    sized(m.serverNonce, Nn, 'serverNonce'),
    sized(m.serverPublicKeyshare, Npk, 'serverPublicKeyshare'),
    sized(m.serverMac, Nm, 'serverMac'),
  );
}

/** Decodes KE2. @throws OpaqueFormatError on a wrong size or bad element. */
export function deserializeKE2(bytes: Uint8Array): KE2 {
  const [e, mn, mr, sn, spk, smac] = split(
    bytes,
    [Noe, Nn, MASKED_RESPONSE_SIZE, Nn, Npk, Nm],
    'KE2',
  );
  return {
    credentialResponse: {
      evaluatedMessage: checkElement(e!, 'evaluated_message'),
      maskingNonce: mn!,
      maskedResponse: mr!,
    },
    serverNonce: sn!,
    serverPublicKeyshare: checkElement(spk!, 'server_public_keyshare'),
    serverMac: smac!,
  };
}

/** Encodes KE3 (Nm bytes). */
export function serializeKE3(m: KE3): Uint8Array {
  return sized(m.clientMac, Nm, 'clientMac').slice();
}

/** Decodes KE3. @throws OpaqueFormatError on a wrong size. */
export function deserializeKE3(bytes: Uint8Array): KE3 {
  const [clientMac] = split(bytes, [Nm], 'KE3');
  return { clientMac: clientMac! };
}
