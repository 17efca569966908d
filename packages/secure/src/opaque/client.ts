/**
 * OPAQUE-3DH client, sans-IO (RFC 9807 §5.2 registration: CreateRegistrationRequest,
 * FinalizeRegistrationRequest; §6.2 login: GenerateKE1, GenerateKE3, with RecoverCredentials
 * §6.3.2.2 and AuthClientStart/AuthClientFinalize §6.4.3). Each flow is a single-use object
 * whose secrets (password, blind, ephemeral key) live in #private fields and are wiped once
 * the flow finishes or fails.
 */
import { AuthenticationError, SecureError } from '../errors.js';
import { maskingKeyOf, recover, store, unmask } from './envelope.js';
import { type KeyStretchingFunction, type KsfOptions, type KsfParams, toKsf } from './ksf.js';
import type {
  KE1,
  KE2,
  KE3,
  RegistrationRecord,
  RegistrationRequest,
  RegistrationResponse,
} from './messages.js';
import {
  checkElement,
  concat,
  deriveDiffieHellmanKeyPair,
  kdfExtract,
  Nn,
  Nseed,
  oprfBlind,
  oprfFinalize,
  random,
} from './suite.js';
import { clientKeys, preamble } from './three-dh.js';

/** Options shared by the client's finishing steps. */
export interface OpaqueClientOptions {
  /** The key stretching function or its parameters (must match registration). */
  ksf: KsfParams | KeyStretchingFunction;
  /** KSF provider choice when `ksf` is given as parameters. */
  ksfOptions?: KsfOptions;
  /** Client identity; defaults to the client's public key (RFC 9807 §4.1). */
  clientIdentity?: Uint8Array;
  /** Server identity; defaults to the server's public key. */
  serverIdentity?: Uint8Array;
}

/** Options of {@link OpaqueClientLogin.finish}. */
export interface OpaqueClientLoginOptions extends OpaqueClientOptions {
  /** Application context bound into the transcript (keyway: `"keyway/1" ‖ handshake hash`). */
  context?: Uint8Array;
  /** Stops the key stretching (the login's deadline); `finish` then rejects. */
  signal?: AbortSignal | undefined;
}

/** Fixed values used only to reproduce published vectors; absent means fresh randomness. */
export interface ClientDeterministicInputs {
  blind?: Uint8Array;
  envelopeNonce?: Uint8Array;
  clientNonce?: Uint8Array;
  clientKeyshareSeed?: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

let newRegistration: (
  password: Uint8Array,
  blind: Uint8Array,
  envelopeNonce: Uint8Array | undefined,
) => OpaqueClientRegistration;
let newLogin: (
  password: Uint8Array,
  blind: Uint8Array,
  secret: Uint8Array,
  ke1: KE1,
) => OpaqueClientLogin;

/**
 * Password text is NFC-normalised (as RFC 8265's OpaqueString profile does) so that the
 * same password typed on systems that compose accents differently still matches; bytes are
 * used exactly as given.
 */
function passwordBytes(password: string | Uint8Array): Uint8Array {
  if (typeof password === 'string') return encoder.encode(password.normalize('NFC'));
  if (password instanceof Uint8Array) return password.slice();
  throw new TypeError('password must be a string or a Uint8Array');
}

function checkIdentity(identity: Uint8Array | undefined, name: string): Uint8Array | undefined {
  if (identity === undefined) return undefined;
  if (!(identity instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (identity.length === 0 || identity.length > 0xffff) {
    throw new RangeError(`${name} must be 1..65535 bytes`);
  }
  return identity;
}

/** randomized_password = Extract("", oprf_output ‖ Stretch(oprf_output)) (RFC 9807 §5.2.2). */
async function randomizePassword(
  password: Uint8Array,
  blind: Uint8Array,
  evaluatedMessage: Uint8Array,
  options: OpaqueClientOptions & { signal?: AbortSignal | undefined },
): Promise<Uint8Array> {
  const oprfOutput = oprfFinalize(password, blind, evaluatedMessage);
  const stretched = await toKsf(options.ksf, options.ksfOptions).stretch(oprfOutput, {
    signal: options.signal,
  });
  return kdfExtract(EMPTY, concat(oprfOutput, stretched));
}

/** Result of a finished registration: the record to upload and the client-only export key. */
export interface ClientRegistrationResult {
  /** RegistrationRecord to send to the server. */
  readonly record: RegistrationRecord;
  /** `export_key` (Nh bytes): known to the client only, stable across logins. */
  readonly exportKey: Uint8Array;
}

/**
 * Client side of registration. `start()` gives the request to send; `finish()` takes the
 * server's response and yields the record.
 * @example
 * const { request, registration } = OpaqueClientRegistration.start('hunter2');
 * const response = server.createRegistrationResponse(request, 'alice');
 * const { record } = await registration.finish(response, { ksf: DEFAULT_KSF_PARAMS });
 */
export class OpaqueClientRegistration {
  #password: Uint8Array | undefined;
  #blind: Uint8Array | undefined;
  #envelopeNonce: Uint8Array | undefined;

  private constructor(password: Uint8Array, blind: Uint8Array, envelopeNonce?: Uint8Array) {
    this.#password = password;
    this.#blind = blind;
    this.#envelopeNonce = envelopeNonce;
  }

  /**
   * CreateRegistrationRequest: blinds the password.
   * @param password - text (NFC-normalised, then UTF-8) or raw bytes (used as given).
   */
  static start(password: string | Uint8Array): {
    request: RegistrationRequest;
    registration: OpaqueClientRegistration;
  } {
    return startRegistrationWith(password, {});
  }

  static {
    // The only way to build one besides start(): lets the vector hook reach the private
    // constructor without a public factory.
    newRegistration = (password, blind, envelopeNonce) =>
      new OpaqueClientRegistration(password, blind, envelopeNonce);
  }

  /**
   * FinalizeRegistrationRequest.
   * @throws SecureError if called twice.
   */
  async finish(
    response: RegistrationResponse,
    options: OpaqueClientOptions,
  ): Promise<ClientRegistrationResult> {
    const password = this.#password;
    const blind = this.#blind;
    if (password === undefined || blind === undefined) {
      throw new SecureError('ERR_OPAQUE_STATE', 'registration already finished');
    }
    this.#password = undefined;
    this.#blind = undefined;
    try {
      checkElement(response.evaluatedMessage, 'evaluated_message');
      checkElement(response.serverPublicKey, 'server_public_key');
      const rwd = await randomizePassword(password, blind, response.evaluatedMessage, options);
      const stored = store(
        rwd,
        response.serverPublicKey,
        checkIdentity(options.serverIdentity, 'serverIdentity'),
        checkIdentity(options.clientIdentity, 'clientIdentity'),
        this.#envelopeNonce,
      );
      rwd.fill(0);
      return {
        record: {
          clientPublicKey: stored.clientPublicKey,
          maskingKey: stored.maskingKey,
          envelope: stored.envelope,
        },
        exportKey: stored.exportKey,
      };
    } finally {
      password.fill(0);
      blind.fill(0);
    }
  }

  /** Never shows secrets in logs or `util.inspect`. */
  toJSON(): string {
    return 'OpaqueClientRegistration';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'OpaqueClientRegistration {}';
  }
}

/** @internal Registration start with fixed inputs (vector tests). */
export function startRegistrationWith(
  password: string | Uint8Array,
  inputs: ClientDeterministicInputs,
) {
  const pw = passwordBytes(password);
  const { blind, blindedMessage } = oprfBlind(pw, inputs.blind);
  const registration = newRegistration(pw, blind, inputs.envelopeNonce);
  return { request: { blindedMessage } as RegistrationRequest, registration };
}

/** Result of a successful client login. */
export interface ClientLoginResult {
  /** KE3, to send to the server. */
  readonly ke3: KE3;
  /** Shared session key (Nx bytes); equal to the server's only if KE3 verifies there. */
  readonly sessionKey: Uint8Array;
  /** `export_key`, the same as at registration. */
  readonly exportKey: Uint8Array;
  /** The server's OPAQUE public key, as bound in the envelope. */
  readonly serverPublicKey: Uint8Array;
}

/**
 * Client side of login. `start()` gives KE1; `finish(ke2)` recovers the credentials,
 * authenticates the server and yields KE3 and the session key.
 * @example
 * const { ke1, login } = OpaqueClientLogin.start('hunter2');
 * const ke2 = ...; // from the server
 * const { ke3, sessionKey } = await login.finish(ke2, { ksf: params, context });
 */
export class OpaqueClientLogin {
  #password: Uint8Array | undefined;
  #blind: Uint8Array | undefined;
  #clientSecret: Uint8Array | undefined;
  readonly #ke1: KE1;

  private constructor(password: Uint8Array, blind: Uint8Array, secret: Uint8Array, ke1: KE1) {
    this.#password = password;
    this.#blind = blind;
    this.#clientSecret = secret;
    this.#ke1 = ke1;
  }

  /**
   * GenerateKE1: blinds the password and makes the ephemeral key share.
   * @param password - text (NFC-normalised, then UTF-8) or raw bytes (used as given).
   */
  static start(password: string | Uint8Array): { ke1: KE1; login: OpaqueClientLogin } {
    return startLoginWith(password, {});
  }

  static {
    newLogin = (password, blind, secret, ke1) =>
      new OpaqueClientLogin(password, blind, secret, ke1);
  }

  /**
   * GenerateKE3.
   * @throws AuthenticationError when the password is wrong, the user unknown, the record
   *   tampered with, the identities or context differ, or the server MAC fails.
   */
  async finish(ke2: KE2, options: OpaqueClientLoginOptions): Promise<ClientLoginResult> {
    const password = this.#password;
    const blind = this.#blind;
    const clientSecret = this.#clientSecret;
    if (password === undefined || blind === undefined || clientSecret === undefined) {
      throw new AuthenticationError('login already finished');
    }
    this.#password = undefined;
    this.#blind = undefined;
    this.#clientSecret = undefined;
    try {
      const serverIdentity = checkIdentity(options.serverIdentity, 'serverIdentity');
      const clientIdentity = checkIdentity(options.clientIdentity, 'clientIdentity');
      const context = options.context ?? EMPTY;
      const cr = ke2.credentialResponse;
      checkElement(cr.evaluatedMessage, 'evaluated_message');
      checkElement(ke2.serverPublicKeyshare, 'server_public_keyshare');
      const rwd = await randomizePassword(password, blind, cr.evaluatedMessage, options);
      const maskingKey = maskingKeyOf(rwd);
      const { serverPublicKey, envelope } = unmask(maskingKey, cr.maskingNonce, cr.maskedResponse);
      const recovered = recover(rwd, serverPublicKey, envelope, serverIdentity, clientIdentity);
      rwd.fill(0);
      // The tag verified, so serverPublicKey is what registration bound; still refuse a
      // non-canonical element rather than multiply by it.
      checkElement(serverPublicKey, 'server_public_key');
      const pre = preamble(context, recovered.credentials, this.#ke1, ke2);
      const { clientMac, sessionKey } = clientKeys(
        pre,
        clientSecret,
        recovered.clientPrivateKey,
        ke2.serverPublicKeyshare,
        serverPublicKey,
        ke2.serverMac,
      );
      recovered.clientPrivateKey.fill(0);
      return { ke3: { clientMac }, sessionKey, exportKey: recovered.exportKey, serverPublicKey };
    } finally {
      password.fill(0);
      blind.fill(0);
      clientSecret.fill(0);
    }
  }

  /** Never shows secrets in logs. */
  toJSON(): string {
    return 'OpaqueClientLogin';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'OpaqueClientLogin {}';
  }
}

/** @internal Login start with fixed inputs (vector tests). */
export function startLoginWith(password: string | Uint8Array, inputs: ClientDeterministicInputs) {
  const pw = passwordBytes(password);
  const { blind, blindedMessage } = oprfBlind(pw, inputs.blind);
  const clientNonce = inputs.clientNonce ?? random(Nn);
  const keyshare = deriveDiffieHellmanKeyPair(inputs.clientKeyshareSeed ?? random(Nseed));
  const ke1: KE1 = { blindedMessage, clientNonce, clientPublicKeyshare: keyshare.publicKey };
  return { ke1, login: newLogin(pw, blind, keyshare.privateKey, ke1) };
}
