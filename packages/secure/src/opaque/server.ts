/**
 * OPAQUE-3DH server, sans-IO (RFC 9807 §5.2.1 CreateRegistrationResponse; §6.2 GenerateKE2
 * and ServerFinish, with CreateCredentialResponse §6.3.2.1 and AuthServerRespond §6.4.4).
 *
 * Unknown users (RFC 9807 §10.9, "client enumeration"): `startLogin` with no record answers
 * with a fake record whose masking key is derived from `oprf_seed` and the credential
 * identifier, so repeated probes for the same unknown name see consistent behaviour, the
 * OPRF key is derived exactly as for a real user, and KE2 has the same size and the same
 * work as a real reply. The login then fails at the client MAC, like a wrong password.
 */
import { ristretto255 } from '@noble/curves/ed25519.js';
import { AuthenticationError } from '../errors.js';
import { createCleartextCredentials, credentialResponsePad } from './envelope.js';
import { OpaqueFormatError } from './errors.js';
import type {
  KE1,
  KE2,
  KE3,
  RegistrationRecord,
  RegistrationRequest,
  RegistrationResponse,
} from './messages.js';
import { MASKED_RESPONSE_SIZE, serializeEnvelope } from './messages.js';
import {
  checkElement,
  concat,
  ctEqual,
  deriveDiffieHellmanKeyPair,
  deriveOprfPrivateKey,
  type KeyPair,
  kdfExpand,
  kdfExtract,
  Ne,
  Nh,
  Nn,
  Nok,
  Nseed,
  Nsk,
  oprfBlindEvaluate,
  random,
  utf8,
  xor,
} from './suite.js';
import { preamble, serverKeys } from './three-dh.js';

/** The server's long-term OPAQUE secrets: `oprf_seed` and the AKE key pair. */
export interface OpaqueServerSetup {
  /** `oprf_seed`, Nh (64) random bytes; every user's OPRF key derives from it. */
  readonly oprfSeed: Uint8Array;
  /** The server's AKE key pair (ristretto255). */
  readonly keyPair: KeyPair;
}

/** Serialized size of an {@link OpaqueServerSetup}: oprf_seed ‖ server_private_key. */
export const SERVER_SETUP_SIZE = Nh + Nsk;

const LABEL_OPRF_KEY = utf8('OprfKey');
const LABEL_FAKE_MASKING = utf8('keyway-FakeMaskingKey');
const LABEL_FAKE_CLIENT = utf8('keyway-FakeClientKey');
const SETUP_SALT = utf8('keyway/1 OPAQUE server setup');
const encoder = new TextEncoder();

/** A fresh random server setup. */
export function generateServerSetup(): OpaqueServerSetup {
  return { oprfSeed: random(Nh), keyPair: deriveDiffieHellmanKeyPair(random(Nseed)) };
}

/**
 * Derives the server setup from a long-term secret (keyway uses the host identity's 32-byte
 * Ed25519 seed) with HKDF-SHA512 under a keyway-specific salt and labels, so the OPAQUE
 * secrets are independent of every other use of that secret and need no file of their own.
 * @param secret - at least 32 bytes of secret key material.
 * @throws RangeError if `secret` is shorter than 32 bytes.
 */
export function deriveServerSetup(secret: Uint8Array): OpaqueServerSetup {
  if (!(secret instanceof Uint8Array)) throw new TypeError('secret must be a Uint8Array');
  if (secret.length < 32) throw new RangeError('secret must be at least 32 bytes');
  const prk = kdfExtract(SETUP_SALT, secret);
  const oprfSeed = kdfExpand(prk, utf8('oprf_seed'), Nh);
  const keyPair = deriveDiffieHellmanKeyPair(kdfExpand(prk, utf8('server AKE key seed'), Nseed));
  prk.fill(0);
  return { oprfSeed, keyPair };
}

/** oprf_seed ‖ server_private_key (96 bytes). Secret: store like a private key. */
export function serializeServerSetup(setup: OpaqueServerSetup): Uint8Array {
  return concat(setup.oprfSeed, setup.keyPair.privateKey);
}

/**
 * Parses {@link serializeServerSetup}'s output and recomputes the public key.
 * @throws OpaqueFormatError on a wrong size or an invalid scalar.
 */
export function deserializeServerSetup(bytes: Uint8Array): OpaqueServerSetup {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('server setup must be a Uint8Array');
  if (bytes.length !== SERVER_SETUP_SIZE) {
    throw new OpaqueFormatError(`server setup must be ${SERVER_SETUP_SIZE} bytes`);
  }
  const privateKey = bytes.slice(Nh);
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyOf(privateKey);
  } catch (cause) {
    throw new OpaqueFormatError('server setup holds an invalid private key', { cause });
  }
  return { oprfSeed: bytes.slice(0, Nh), keyPair: { privateKey, publicKey } };
}

function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const { Point } = ristretto255;
  const k = Point.Fn.fromBytes(privateKey);
  if (k === 0n) throw new RangeError('zero scalar');
  return Point.BASE.multiply(k).toBytes();
}

function identifierBytes(id: string | Uint8Array): Uint8Array {
  if (typeof id === 'string') return encoder.encode(id);
  if (id instanceof Uint8Array) return id;
  throw new TypeError('credentialIdentifier must be a string or a Uint8Array');
}

type StartLogin = (
  server: OpaqueServer,
  ke1: KE1,
  credentialIdentifier: string | Uint8Array,
  record: RegistrationRecord | undefined,
  options: OpaqueServerLoginOptions,
  inputs: ServerDeterministicInputs,
) => { ke2: KE2; login: OpaqueServerLogin };
let startLoginWithImpl: StartLogin;
let newServerLogin: (mac: Uint8Array, key: Uint8Array, known: boolean) => OpaqueServerLogin;

/**
 * @internal `startLogin` with fixed nonces, seeds and fake record: reproduces published
 * vectors. Not exported from the package.
 */
export function serverStartLoginWith(...args: Parameters<StartLogin>) {
  return startLoginWithImpl(...args);
}

/** Options of {@link OpaqueServer.startLogin}. */
export interface OpaqueServerLoginOptions {
  /** Application context bound into the transcript; must equal the client's. */
  context?: Uint8Array;
  /** Client identity as used at registration; defaults to the client's public key. */
  clientIdentity?: Uint8Array;
  /** Server identity as used at registration; defaults to the server's public key. */
  serverIdentity?: Uint8Array;
}

/** Fixed values used only to reproduce published vectors. */
export interface ServerDeterministicInputs {
  maskingNonce?: Uint8Array;
  serverNonce?: Uint8Array;
  serverKeyshareSeed?: Uint8Array;
  /** The fake record's public key and masking key (RFC 9807 fake-record vectors). */
  fakeRecord?: { clientPublicKey: Uint8Array; maskingKey: Uint8Array };
}

/**
 * The server side of OPAQUE for one setup. Stateless between logins: each login's secrets
 * live in the {@link OpaqueServerLogin} that `startLogin` returns.
 * @example
 * const server = new OpaqueServer(deriveServerSetup(hostSeed));
 * const { ke2, login } = server.startLogin(ke1, 'alice', recordOrUndefined, { context });
 * const { sessionKey } = login.finish(ke3);
 */
export class OpaqueServer {
  readonly #setup: OpaqueServerSetup;
  readonly #fakeClientPublicKey: Uint8Array;

  /** @param setup - the server's `oprf_seed` and AKE key pair. */
  constructor(setup: OpaqueServerSetup) {
    if (!(setup?.oprfSeed instanceof Uint8Array) || setup.oprfSeed.length !== Nh) {
      throw new RangeError(`setup.oprfSeed must be ${Nh} bytes`);
    }
    checkElement(setup.keyPair.publicKey, 'server_public_key');
    if (setup.keyPair.privateKey.length !== Nsk) {
      throw new RangeError(`setup.keyPair.privateKey must be ${Nsk} bytes`);
    }
    this.#setup = { oprfSeed: setup.oprfSeed.slice(), keyPair: { ...setup.keyPair } };
    this.#fakeClientPublicKey = deriveDiffieHellmanKeyPair(
      kdfExpand(this.#setup.oprfSeed, LABEL_FAKE_CLIENT, Nseed),
    ).publicKey;
  }

  /** The server's AKE public key (`server_public_key`), bound into every envelope. */
  get publicKey(): Uint8Array {
    return this.#setup.keyPair.publicKey.slice();
  }

  #oprfKey(credentialIdentifier: Uint8Array): Uint8Array {
    const seed = kdfExpand(this.#setup.oprfSeed, concat(credentialIdentifier, LABEL_OPRF_KEY), Nok);
    return deriveOprfPrivateKey(seed);
  }

  /**
   * CreateRegistrationResponse (RFC 9807 §5.2.1).
   * @param credentialIdentifier - the user name (UTF-8) or bytes; fixes the user's OPRF key.
   */
  createRegistrationResponse(
    request: RegistrationRequest,
    credentialIdentifier: string | Uint8Array,
  ): RegistrationResponse {
    checkElement(request.blindedMessage, 'blinded_message');
    const oprfKey = this.#oprfKey(identifierBytes(credentialIdentifier));
    const evaluatedMessage = oprfBlindEvaluate(oprfKey, request.blindedMessage);
    oprfKey.fill(0);
    return { evaluatedMessage, serverPublicKey: this.publicKey };
  }

  /**
   * GenerateKE2 (RFC 9807 §6.2.2). Pass `record = undefined` for an unknown user: the reply
   * is then built from a fake record and is indistinguishable on the wire.
   */
  startLogin(
    ke1: KE1,
    credentialIdentifier: string | Uint8Array,
    record: RegistrationRecord | undefined,
    options: OpaqueServerLoginOptions = {},
  ): { ke2: KE2; login: OpaqueServerLogin } {
    return this.#startLogin(ke1, credentialIdentifier, record, options, {});
  }

  static {
    startLoginWithImpl = (server, ke1, id, record, options, inputs) =>
      server.#startLogin(ke1, id, record, options, inputs);
  }

  #startLogin(
    ke1: KE1,
    credentialIdentifier: string | Uint8Array,
    record: RegistrationRecord | undefined,
    options: OpaqueServerLoginOptions,
    inputs: ServerDeterministicInputs,
  ): { ke2: KE2; login: OpaqueServerLogin } {
    checkElement(ke1.blindedMessage, 'blinded_message');
    checkElement(ke1.clientPublicKeyshare, 'client_public_keyshare');
    if (ke1.clientNonce.length !== Nn) throw new OpaqueFormatError('client_nonce has wrong size');
    const id = identifierBytes(credentialIdentifier);
    const known = record !== undefined;
    const rec: RegistrationRecord = known
      ? record
      : {
          clientPublicKey: inputs.fakeRecord?.clientPublicKey ?? this.#fakeClientPublicKey,
          maskingKey:
            inputs.fakeRecord?.maskingKey ??
            kdfExpand(this.#setup.oprfSeed, concat(id, LABEL_FAKE_MASKING), Nh),
          // RFC 9807 §6.3.2.2 / its reference code: the fake envelope is all zeroes.
          envelope: { nonce: new Uint8Array(Nn), authTag: new Uint8Array(Ne - Nn) },
        };
    // Checked for the fake record too, so both paths do the same work.
    checkElement(rec.clientPublicKey, 'client_public_key');

    // CreateCredentialResponse (§6.3.2.1)
    const oprfKey = this.#oprfKey(id);
    const evaluatedMessage = oprfBlindEvaluate(oprfKey, ke1.blindedMessage);
    oprfKey.fill(0);
    const maskingNonce = inputs.maskingNonce ?? random(Nn);
    const pad = credentialResponsePad(rec.maskingKey, maskingNonce);
    const maskedResponse = xor(
      pad,
      concat(this.#setup.keyPair.publicKey, serializeEnvelope(rec.envelope)),
    );
    if (maskedResponse.length !== MASKED_RESPONSE_SIZE) throw new OpaqueFormatError('bad record');
    const credentialResponse = { evaluatedMessage, maskingNonce, maskedResponse };

    // AuthServerRespond (§6.4.4)
    const credentials = createCleartextCredentials(
      this.#setup.keyPair.publicKey,
      rec.clientPublicKey,
      options.serverIdentity,
      options.clientIdentity,
    );
    const serverNonce = inputs.serverNonce ?? random(Nn);
    const keyshare = deriveDiffieHellmanKeyPair(inputs.serverKeyshareSeed ?? random(Nseed));
    const partial = { credentialResponse, serverNonce, serverPublicKeyshare: keyshare.publicKey };
    const pre = preamble(options.context ?? new Uint8Array(0), credentials, ke1, partial);
    const keys = serverKeys(
      pre,
      keyshare.privateKey,
      this.#setup.keyPair.privateKey,
      ke1.clientPublicKeyshare,
      rec.clientPublicKey,
    );
    keyshare.privateKey.fill(0);
    const ke2: KE2 = { ...partial, serverMac: keys.serverMac };
    return {
      ke2,
      login: newServerLogin(keys.expectedClientMac, keys.sessionKey, known),
    };
  }

  /** Never shows secrets in logs. */
  toJSON(): string {
    return 'OpaqueServer';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'OpaqueServer {}';
  }
}

/** One server-side login in progress: waits for KE3. Single use; a replayed KE3 fails. */
export class OpaqueServerLogin {
  #expectedClientMac: Uint8Array | undefined;
  #sessionKey: Uint8Array | undefined;
  readonly #known: boolean;

  private constructor(expectedClientMac: Uint8Array, sessionKey: Uint8Array, known: boolean) {
    this.#expectedClientMac = expectedClientMac;
    this.#sessionKey = sessionKey;
    this.#known = known;
  }

  static {
    newServerLogin = (mac, key, known) => new OpaqueServerLogin(mac, key, known);
  }

  /**
   * ServerFinish (RFC 9807 §6.2.2): checks the client MAC.
   * @returns the session key shared with the client.
   * @throws AuthenticationError (uniform message; `reason` says why, for local logs only).
   */
  finish(ke3: KE3): { sessionKey: Uint8Array } {
    const expected = this.#expectedClientMac;
    const sessionKey = this.#sessionKey;
    this.#expectedClientMac = undefined;
    this.#sessionKey = undefined;
    if (expected === undefined || sessionKey === undefined) {
      throw new AuthenticationError('login already finished (replayed KE3)');
    }
    const ok = ke3.clientMac instanceof Uint8Array && ctEqual(ke3.clientMac, expected);
    expected.fill(0);
    if (!ok || !this.#known) {
      sessionKey.fill(0);
      throw new AuthenticationError(
        this.#known
          ? 'client MAC did not verify (wrong password or altered messages)'
          : 'unknown user',
      );
    }
    return { sessionKey };
  }

  /** Never shows secrets in logs. */
  toJSON(): string {
    return 'OpaqueServerLogin';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'OpaqueServerLogin {}';
  }
}
