/**
 * Password login without the classic weakness (docs/security.md "Authentication"):
 * `passwordAuth` runs OPAQUE-3DH (RFC 9807) inside the Noise channel, after the server
 * has proved its host key. The server stores only OPAQUE records and never sees the
 * password; the OPAQUE context is `"keyway/1" ‖ Noise handshake hash`, so a relay between
 * two Noise sessions fails; unknown users and rate-limited attempts get a fake reply of
 * the same size and work, which never verifies (see password-server.ts).
 *
 * Channel messages (each prefixed by its AuthMessage type byte):
 *   server → client  PASSWORD_REQUEST
 *   client → server  PASSWORD_KE1 ‖ LoginStart(user, KE1)   or PASSWORD_UNAVAILABLE
 *   server → client  PASSWORD_KE2 ‖ LoginResponse(KSF parameters, KE2)
 *   client → server  PASSWORD_KE3 ‖ LoginFinish(KE3)
 */
import { AuthenticationError } from '../errors.js';
import { LoginLimiter, type LoginLimiterOptions } from '../opaque/login-limiter.js';
import { decodeLoginFinish, decodeLoginStart } from '../opaque/login-messages.js';
import { bytesEqual } from '../openssh/wire.js';
import { type PasswordFile, PasswordFileError } from '../password-file.js';
import { fail, succeed } from './outcome.js';
import { PasswordServer } from './password-server.js';
import { checkHandshakeSettings, ensureSession, type HandshakeSettings } from './server-session.js';
import type { Authenticator } from './types.js';
import { AuthMessage, authMessage } from './wire.js';

export { opaqueServerFor } from './password-server.js';

/** Options of {@link passwordAuth}. */
export interface PasswordAuthOptions extends HandshakeSettings {
  /** The users' OPAQUE records (`keyway passwd add` writes them). */
  passwords: PasswordFile;
  /**
   * Attempt limits per user and per source address, with back-off (sshd's MaxAuthTries /
   * PerSourcePenalties); an attempt counts from the moment it is admitted. A
   * `LoginLimiter` to share one between servers, or its options; defaults to
   * `DEFAULT_LOGIN_LIMITS`. A server that supplies a shared gate in the context (a
   * `ThreadPoolServer`, whose workers each build their own `passwordAuth`) overrides it.
   */
  limiter?: LoginLimiter | LoginLimiterOptions;
}

/**
 * Password login with OPAQUE: the password never leaves the client, the server's file
 * holds no password and no password hash, and a man in the middle learns nothing.
 * @throws TypeError when `passwords` is missing, PasswordFileError (`ERR_PASSWORD_FILE`)
 *   when the password file was made for another host key (records would never verify),
 *   RangeError when `authQueueLimits` or `authenticatedLimits` is out of range
 * @example
 * passwordAuth({ identity: hostKey, passwords: await PasswordFile.load('passwords') })
 */
export function passwordAuth(options: PasswordAuthOptions): Authenticator {
  if (!options?.passwords) throw new TypeError('passwordAuth: passwords is required');
  checkHandshakeSettings(options);
  const server = new PasswordServer(options.identity, options.passwords);
  const bound = options.passwords.serverPublicKey;
  if (bound !== undefined && !bytesEqual(bound, server.publicKey)) {
    throw new PasswordFileError(
      'passwordAuth: the password file was made for another host key; re-register the users or use the original host key',
    );
  }
  const limiter =
    options.limiter instanceof LoginLimiter ? options.limiter : new LoginLimiter(options.limiter);
  const passwords = options.passwords;
  return async (stream, context) => {
    const session = await ensureSession(stream, options, context.service);
    const reader = session.reader;
    const source = context.remoteAddress;
    reader.send(authMessage(AuthMessage.PASSWORD_REQUEST));
    const first = await reader.next();
    if (first[0] === AuthMessage.PASSWORD_UNAVAILABLE) {
      fail(context, 'password', 'client has no password');
    }
    if (first[0] !== AuthMessage.PASSWORD_KE1) fail(context, 'password', 'unexpected message');
    let start: ReturnType<typeof decodeLoginStart>;
    try {
      start = decodeLoginStart(first.subarray(1));
    } catch {
      fail(context, 'password', 'malformed KE1');
    }
    const user = start.user;
    try {
      // `keyway passwd add/remove` take effect without a restart.
      await passwords.refresh();
    } catch (error) {
      fail(context, 'password', `password file refused: ${(error as Error).message}`, { user });
    }
    const bound = passwords.serverPublicKey;
    if (bound !== undefined && !bytesEqual(bound, server.publicKey)) {
      fail(context, 'password', 'password file now holds records for another host key', { user });
    }
    // Checked and counted in one step, before any reply: KE2 alone lets the client test
    // its guess offline, so the attempt counts whatever happens next.
    const admission = await (context.loginGate ?? limiter).admit(user, source);
    const { response, login, known } = server.respond(
      user,
      start.ke1,
      session.handshakeHash,
      !admission.allowed,
    );
    reader.send(authMessage(AuthMessage.PASSWORD_KE2, response));
    let reason: string;
    try {
      const finish = await reader.next();
      if (finish[0] !== AuthMessage.PASSWORD_KE3)
        throw new AuthenticationError('unexpected message');
      login.finish(decodeLoginFinish(finish.subarray(1)).ke3);
      if (!known) throw new AuthenticationError('unknown user');
      if (!admission.allowed) throw new AuthenticationError('rate limited');
      admission.settle(true);
      succeed(context, 'password', { user });
      return {
        stream: session.channel,
        credentials: { user, remoteAddress: source, methods: ['password'] },
      };
    } catch (error) {
      // A wrong password is usually seen first by the client, which then hangs up: a
      // closed channel here is a failed attempt too (already counted at admission).
      reason =
        error instanceof AuthenticationError
          ? error.reason
          : `no valid KE3 (${(error as Error).message})`;
    }
    if (admission.allowed) admission.settle(false);
    else reason = `rate limited (${admission.reason})`;
    fail(
      context,
      'password',
      known ? reason : `unknown user${admission.allowed ? '' : ` (${reason})`}`,
      { user },
    );
  };
}
