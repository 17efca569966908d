/**
 * The server's half of one password login, without I/O (docs/security.md, "Password
 * login"): turns a client's `LoginStart` into the `LoginResponse` to send back, and later
 * checks its `LoginFinish`. `passwordAuth` drives it over the channel; keeping it apart
 * lets the work done between KE1 and KE2 be measured and reasoned about on its own.
 *
 * Enumeration resistance (RFC 9807 §10.9): a known user, an unknown name and a refused
 * attempt (rate limited) get replies of the same form after the same work, one OPRF
 * evaluation under the name's OPRF key and one 3DH. An unknown name or a refused attempt
 * is answered from a fake record, whose KE2 can never verify; an unknown name announces
 * KSF parameters drawn like a real user's (`PasswordFile.fakeKsfParams`), a refused known
 * user its own. Nothing here walks the records.
 */
import type { Identity } from '../identity.js';
import { identitySeed } from '../identity.js';
import { encodeLoginResponse, opaqueContext } from '../opaque/login-messages.js';
import type { KE1 } from '../opaque/messages.js';
import { deriveServerSetup, OpaqueServer, type OpaqueServerLogin } from '../opaque/server.js';
import { kdfExpand, kdfExtract, utf8 } from '../opaque/suite.js';
import type { PasswordFile } from '../password-file.js';

const FAKE_KSF_SALT = utf8('keyway/1 fake KSF parameters');

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
  readonly #fakeKsfKey: Uint8Array;

  /**
   * @param identity - the host key the OPAQUE secrets derive from
   * @param passwords - the users' records
   */
  constructor(identity: Identity, passwords: PasswordFile) {
    this.#server = opaqueServerFor(identity);
    this.#passwords = passwords;
    // Secret, and stable across restarts: a name's drawn parameters must not change when
    // the server restarts, since a real user's do not.
    const prk = kdfExtract(FAKE_KSF_SALT, identitySeed(identity));
    this.#fakeKsfKey = kdfExpand(prk, utf8('draw key'), 32);
    prk.fill(0);
  }

  /** The OPAQUE server public key (records must have been made with it). */
  get publicKey(): Uint8Array {
    return this.#server.publicKey;
  }

  /**
   * KE1 → KE2 for `user` on the Noise session with `handshakeHash`.
   * @param refused - the attempt was not admitted (rate limited): answer from a fake
   *   record, so that the client sees a reply like any other and then fails as with a
   *   wrong password, without getting a guess it could test.
   * @returns the response to send and the login that checks KE3 (never verifies when
   *   the user is unknown or the attempt refused)
   */
  respond(user: string, ke1: KE1, handshakeHash: Uint8Array, refused = false): PasswordReply {
    const entry = this.#passwords.get(user);
    const { ke2, login } = this.#server.startLogin(ke1, user, refused ? undefined : entry?.record, {
      context: opaqueContext(handshakeHash),
    });
    const ksf = entry?.ksf ?? this.#passwords.fakeKsfParams(user, this.#fakeKsfKey);
    return { response: encodeLoginResponse({ ksf, ke2 }), login, known: entry !== undefined };
  }
}
