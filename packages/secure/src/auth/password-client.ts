/**
 * The client's half of the password login (docs/security.md, "Authentication"): answers
 * the server's PASSWORD_REQUEST with OPAQUE-3DH (RFC 9807) inside the Noise channel, the
 * OPAQUE context bound to the handshake hash. Kept apart from the server's half
 * (password.ts), which reads password files, so that a client, a browser's too, needs
 * no file system.
 */
import { AuthenticationError } from '../errors.js';
import { OpaqueClientLogin } from '../opaque/client.js';
import { checkKsfBounds, type KsfBounds, type KsfOptions } from '../opaque/ksf.js';
import {
  decodeLoginResponse,
  encodeLoginFinish,
  encodeLoginStart,
  opaqueContext,
} from '../opaque/login-messages.js';
import type { MessageReader } from './message-reader.js';
import { AuthMessage, authMessage } from './wire.js';

/**
 * The client's half: answers a PASSWORD_REQUEST with OPAQUE, or with PASSWORD_UNAVAILABLE
 * when it has no password.
 * @param signal - stops the key stretching at the login's deadline
 * @throws AuthenticationError when the password is wrong, the user unknown, or a relay sits
 *   between client and server (the server's MAC fails to verify); KsfBoundsError
 *   (`ERR_KSF_BOUNDS`) when the server asks for stretching outside `ksfBounds`
 */
export async function answerPasswordRequest(
  reader: MessageReader,
  handshakeHash: Uint8Array,
  credentials: {
    username?: string | undefined;
    password?: string | undefined;
    ksfBounds?: Partial<KsfBounds> | undefined;
    ksfOptions?: KsfOptions | undefined;
  },
  signal?: AbortSignal,
): Promise<void> {
  const { username, password } = credentials;
  if (username === undefined || password === undefined) {
    reader.send(authMessage(AuthMessage.PASSWORD_UNAVAILABLE));
    return;
  }
  const { ke1, login } = OpaqueClientLogin.start(password);
  reader.send(authMessage(AuthMessage.PASSWORD_KE1, encodeLoginStart({ user: username, ke1 })));
  const reply = await reader.next();
  if (reply[0] === AuthMessage.FAIL) throw new AuthenticationError('server refused the login');
  if (reply[0] !== AuthMessage.PASSWORD_KE2) {
    throw new AuthenticationError(`unexpected message ${reply[0]} during password login`);
  }
  const { ksf, ke2 } = decodeLoginResponse(reply.subarray(1));
  // The server chose these parameters: run them only within this client's bounds.
  checkKsfBounds(ksf, credentials.ksfBounds);
  const { ke3 } = await login.finish(ke2, {
    ksf,
    context: opaqueContext(handshakeHash),
    signal,
    ...(credentials.ksfOptions && { ksfOptions: credentials.ksfOptions }),
  });
  reader.send(authMessage(AuthMessage.PASSWORD_KE3, encodeLoginFinish({ ke3 })));
}
