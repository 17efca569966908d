/**
 * Client credential storage and recovery (RFC 9807 §4: CleartextCredentials §4.1,
 * Store §4.1.2, Recover §4.1.3) and the credential masking of §6.3.2 on the client side.
 * The envelope holds no secret: the client's AKE key is re-derived from the randomized
 * password, and `auth_tag` binds it to the server's key and both identities.
 */
import { AuthenticationError } from '../errors.js';
import type { Envelope } from './messages.js';
import { MASKED_RESPONSE_SIZE } from './messages.js';
import {
  concat,
  ctEqual,
  deriveDiffieHellmanKeyPair,
  kdfExpand,
  lengthPrefixed,
  mac,
  Nh,
  Nn,
  Npk,
  Nseed,
  random,
  utf8,
  xor,
} from './suite.js';

const LABEL_MASKING_KEY = utf8('MaskingKey');
const LABEL_AUTH_KEY = utf8('AuthKey');
const LABEL_EXPORT_KEY = utf8('ExportKey');
const LABEL_PRIVATE_KEY = utf8('PrivateKey');
const LABEL_PAD = utf8('CredentialResponsePad');

/** CleartextCredentials (RFC 9807 §4.1) with the nil-identity defaults already applied. */
export interface CleartextCredentials {
  readonly serverPublicKey: Uint8Array;
  readonly serverIdentity: Uint8Array;
  readonly clientIdentity: Uint8Array;
}

/** CreateCleartextCredentials: a missing identity defaults to the matching public key. */
export function createCleartextCredentials(
  serverPublicKey: Uint8Array,
  clientPublicKey: Uint8Array,
  serverIdentity: Uint8Array | undefined,
  clientIdentity: Uint8Array | undefined,
): CleartextCredentials {
  return {
    serverPublicKey,
    serverIdentity: serverIdentity ?? serverPublicKey,
    clientIdentity: clientIdentity ?? clientPublicKey,
  };
}

/** The wire form of CleartextCredentials, input to the envelope MAC. */
export function serializeCleartextCredentials(c: CleartextCredentials): Uint8Array {
  return concat(
    c.serverPublicKey,
    lengthPrefixed(c.serverIdentity),
    lengthPrefixed(c.clientIdentity),
  );
}

/** What Store returns. */
export interface StoreResult {
  readonly envelope: Envelope;
  readonly clientPublicKey: Uint8Array;
  readonly maskingKey: Uint8Array;
  readonly exportKey: Uint8Array;
}

/** Store (RFC 9807 §4.1.2). `envelopeNonce` is fixed only by vector tests. */
export function store(
  randomizedPassword: Uint8Array,
  serverPublicKey: Uint8Array,
  serverIdentity: Uint8Array | undefined,
  clientIdentity: Uint8Array | undefined,
  envelopeNonce: Uint8Array = random(Nn),
): StoreResult {
  const maskingKey = kdfExpand(randomizedPassword, LABEL_MASKING_KEY, Nh);
  const authKey = kdfExpand(randomizedPassword, concat(envelopeNonce, LABEL_AUTH_KEY), Nh);
  const exportKey = kdfExpand(randomizedPassword, concat(envelopeNonce, LABEL_EXPORT_KEY), Nh);
  const seed = kdfExpand(randomizedPassword, concat(envelopeNonce, LABEL_PRIVATE_KEY), Nseed);
  const { publicKey: clientPublicKey } = deriveDiffieHellmanKeyPair(seed);
  const credentials = createCleartextCredentials(
    serverPublicKey,
    clientPublicKey,
    serverIdentity,
    clientIdentity,
  );
  const authTag = mac(authKey, concat(envelopeNonce, serializeCleartextCredentials(credentials)));
  return { envelope: { nonce: envelopeNonce, authTag }, clientPublicKey, maskingKey, exportKey };
}

/** What Recover returns. */
export interface RecoverResult {
  readonly clientPrivateKey: Uint8Array;
  readonly credentials: CleartextCredentials;
  readonly exportKey: Uint8Array;
}

/**
 * Recover (RFC 9807 §4.1.3).
 * @throws AuthenticationError (`EnvelopeRecoveryError`) when the tag does not verify: wrong
 *   password, wrong identities, or a fake record for an unknown user.
 */
export function recover(
  randomizedPassword: Uint8Array,
  serverPublicKey: Uint8Array,
  envelope: Envelope,
  serverIdentity: Uint8Array | undefined,
  clientIdentity: Uint8Array | undefined,
): RecoverResult {
  const authKey = kdfExpand(randomizedPassword, concat(envelope.nonce, LABEL_AUTH_KEY), Nh);
  const exportKey = kdfExpand(randomizedPassword, concat(envelope.nonce, LABEL_EXPORT_KEY), Nh);
  const seed = kdfExpand(randomizedPassword, concat(envelope.nonce, LABEL_PRIVATE_KEY), Nseed);
  const { privateKey, publicKey } = deriveDiffieHellmanKeyPair(seed);
  const credentials = createCleartextCredentials(
    serverPublicKey,
    publicKey,
    serverIdentity,
    clientIdentity,
  );
  const expected = mac(authKey, concat(envelope.nonce, serializeCleartextCredentials(credentials)));
  if (!ctEqual(envelope.authTag, expected)) {
    throw new AuthenticationError('envelope recovery failed (wrong password or unknown user)');
  }
  return { clientPrivateKey: privateKey, credentials, exportKey };
}

/** The pad XORed over `server_public_key ‖ envelope` (RFC 9807 §6.3.2.1 / §6.3.2.2). */
export function credentialResponsePad(
  maskingKey: Uint8Array,
  maskingNonce: Uint8Array,
): Uint8Array {
  return kdfExpand(maskingKey, concat(maskingNonce, LABEL_PAD), MASKED_RESPONSE_SIZE);
}

/** Unmasks `masked_response` into the server public key and the envelope. */
export function unmask(
  maskingKey: Uint8Array,
  maskingNonce: Uint8Array,
  maskedResponse: Uint8Array,
): { serverPublicKey: Uint8Array; envelope: Envelope } {
  const clear = xor(credentialResponsePad(maskingKey, maskingNonce), maskedResponse);
  return {
    serverPublicKey: clear.slice(0, Npk),
    envelope: { nonce: clear.slice(Npk, Npk + Nn), authTag: clear.slice(Npk + Nn) },
  };
}

/** The masking key of a randomized password (RFC 9807 §6.3.2.2). */
export function maskingKeyOf(randomizedPassword: Uint8Array): Uint8Array {
  return kdfExpand(randomizedPassword, LABEL_MASKING_KEY, Nh);
}
