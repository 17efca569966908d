/**
 * The 3DH authenticated key exchange of OPAQUE-3DH (RFC 9807 §6.4): the transcript
 * preamble (§6.4.2), key schedule with Expand-Label / Derive-Secret (§6.4.2), and the MAC
 * computations of AuthServerRespond (§6.4.4) and AuthClientFinalize (§6.4.3).
 */
import { AuthenticationError } from '../errors.js';
import type { CleartextCredentials } from './envelope.js';
import type { KE1, KE2 } from './messages.js';
import { serializeCredentialResponse, serializeKE1 } from './messages.js';
import {
  concat,
  ctEqual,
  diffieHellman,
  diffieHellman2,
  hash,
  i2osp2,
  kdfExpand,
  kdfExtract,
  lengthPrefixed,
  mac,
  Nx,
} from './suite.js';

const EMPTY = new Uint8Array(0);
const PREAMBLE_LABEL = new TextEncoder().encode('OPAQUEv1-');
const LABEL_PREFIX = new TextEncoder().encode('OPAQUE-');

/** Expand-Label(Secret, Label, Context, Length) (RFC 9807 §6.4.2). */
export function expandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const fullLabel = concat(LABEL_PREFIX, new TextEncoder().encode(label));
  if (context.length > 255) throw new RangeError('Expand-Label context longer than 255 bytes');
  const info = concat(
    i2osp2(length),
    Uint8Array.of(fullLabel.length),
    fullLabel,
    Uint8Array.of(context.length),
    context,
  );
  return kdfExpand(secret, info, length);
}

/** Derive-Secret(Secret, Label, TranscriptHash) = Expand-Label(Secret, Label, TranscriptHash, Nx). */
export function deriveSecret(secret: Uint8Array, label: string, transcriptHash: Uint8Array) {
  return expandLabel(secret, label, transcriptHash, Nx);
}

/** Preamble (RFC 9807 §6.4.2): everything both sides saw, bound to the application context. */
export function preamble(
  context: Uint8Array,
  credentials: CleartextCredentials,
  ke1: KE1,
  ke2: Pick<KE2, 'credentialResponse' | 'serverNonce' | 'serverPublicKeyshare'>,
): Uint8Array {
  return concat(
    PREAMBLE_LABEL,
    lengthPrefixed(context),
    lengthPrefixed(credentials.clientIdentity),
    serializeKE1(ke1),
    lengthPrefixed(credentials.serverIdentity),
    serializeCredentialResponse(ke2.credentialResponse),
    ke2.serverNonce,
    ke2.serverPublicKeyshare,
  );
}

/** DeriveKeys (RFC 9807 §6.4.2): Km2, Km3 and the session key from the 3DH output. */
export function deriveKeys(ikm: Uint8Array, preambleBytes: Uint8Array) {
  const prk = kdfExtract(EMPTY, ikm);
  const preambleHash = hash(preambleBytes);
  const handshakeSecret = deriveSecret(prk, 'HandshakeSecret', preambleHash);
  const sessionKey = deriveSecret(prk, 'SessionKey', preambleHash);
  const km2 = deriveSecret(handshakeSecret, 'ServerMAC', EMPTY);
  const km3 = deriveSecret(handshakeSecret, 'ClientMAC', EMPTY);
  return { km2, km3, sessionKey, preambleHash };
}

/** Server half of 3DH: the server MAC, the expected client MAC and the session key. */
export function serverKeys(
  preambleBytes: Uint8Array,
  serverPrivateKeyshare: Uint8Array,
  serverPrivateKey: Uint8Array,
  clientPublicKeyshare: Uint8Array,
  clientPublicKey: Uint8Array,
) {
  const [dh1, dh2] = diffieHellman2(serverPrivateKeyshare, serverPrivateKey, clientPublicKeyshare);
  const ikm = concat(dh1, dh2, diffieHellman(serverPrivateKeyshare, clientPublicKey));
  const { km2, km3, sessionKey, preambleHash } = deriveKeys(ikm, preambleBytes);
  const serverMac = mac(km2, preambleHash);
  const expectedClientMac = mac(km3, hash(concat(preambleBytes, serverMac)));
  return { serverMac, expectedClientMac, sessionKey };
}

/**
 * Client half of 3DH (AuthClientFinalize).
 * @throws AuthenticationError (`ServerAuthenticationError`) when the server MAC is wrong.
 */
export function clientKeys(
  preambleBytes: Uint8Array,
  clientSecret: Uint8Array,
  clientPrivateKey: Uint8Array,
  serverPublicKeyshare: Uint8Array,
  serverPublicKey: Uint8Array,
  serverMac: Uint8Array,
) {
  const [dh1, dh3] = diffieHellman2(clientSecret, clientPrivateKey, serverPublicKeyshare);
  const ikm = concat(dh1, diffieHellman(clientSecret, serverPublicKey), dh3);
  const { km2, km3, sessionKey, preambleHash } = deriveKeys(ikm, preambleBytes);
  const expectedServerMac = mac(km2, preambleHash);
  if (!ctEqual(serverMac, expectedServerMac)) {
    throw new AuthenticationError('server MAC did not verify');
  }
  const clientMac = mac(km3, hash(concat(preambleBytes, expectedServerMac)));
  return { clientMac, sessionKey };
}
