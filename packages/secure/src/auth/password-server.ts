/**
 * The server's half of one password login, without I/O (docs/security.md, "Password
 * login"): turns a client's `LoginStart` into the `LoginResponse` to send back, and later
 * checks its `LoginFinish`. `passwordAuth` drives it over the channel; keeping it apart
 * lets the work done between KE1 and KE2 be measured and reasoned about on its own.
 */
import type { Identity } from '../identity.js';
import { identitySeed } from '../identity.js';
import { encodeLoginResponse, opaqueContext } from '../opaque/login-messages.js';
import type { KE1 } from '../opaque/messages.js';
import { deriveServerSetup, OpaqueServer, type OpaqueServerLogin } from '../opaque/server.js';
import type { PasswordFile } from '../password-file.js';

/** What the server answers to KE1, and the login waiting for KE3. */
export interface PasswordReply {
  /** The `LoginResponse` body (KSF parameters ‖ KE2) to send. */
  readonly response: Uint8Array;
  /** Checks KE3; throws `AuthenticationError` when it does not verify. */
  readonly login: OpaqueServerLogin;
  /** Whether the user has a record (for the server's log only). */
  readonly known: boolean;
}

/**
 * The OPAQUE server of a host: its OPRF seed and key pair derived from the host key with
 * domain separation, so the password file needs no secret of its own and every server
 * sharing the host key accepts the same records. Register users with it.
 * @example
 * await passwords.register(opaqueServerFor(hostKey), 'alice', password);
 */
export function opaqueServerFor(identity: Identity): OpaqueServer {
  return new OpaqueServer(deriveServerSetup(identitySeed(identity)));
}

/** Answers KE1 for the users of one password file, as the host `identity`. */
export class PasswordServer {
  readonly #server: OpaqueServer;
  readonly #passwords: PasswordFile;

  /**
   * @param identity - the host key the OPAQUE secrets derive from
   * @param passwords - the users' records
   */
  constructor(identity: Identity, passwords: PasswordFile) {
    this.#server = opaqueServerFor(identity);
    this.#passwords = passwords;
  }

  /** The OPAQUE server public key (records must have been made with it). */
  get publicKey(): Uint8Array {
    return this.#server.publicKey;
  }

  /**
   * KE1 → KE2 for `user` on the Noise session with `handshakeHash`.
   * @returns the response to send and the login that checks KE3
   */
  respond(user: string, ke1: KE1, handshakeHash: Uint8Array): PasswordReply {
    const entry = this.#passwords.get(user);
    const { ke2, login } = this.#server.startLogin(ke1, user, entry?.record, {
      context: opaqueContext(handshakeHash),
    });
    const ksf = entry?.ksf ?? this.#passwords.fakeKsfParams();
    return { response: encodeLoginResponse({ ksf, ke2 }), login, known: entry !== undefined };
  }
}
