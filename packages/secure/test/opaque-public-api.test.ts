/**
 * The public door: everything `passwordAuth` will need, imported from `src/index.ts` only,
 * driven the way the authenticator will drive it (three channel messages, limiter before
 * any OPAQUE work, uniform errors to the peer, a precise reason for the local log).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  decodeLoginFinish,
  decodeLoginResponse,
  decodeLoginStart,
  deriveServerSetup,
  encodeLoginFinish,
  encodeLoginResponse,
  encodeLoginStart,
  type KsfParams,
  LoginLimiter,
  OpaqueClientLogin,
  OpaqueFormatError,
  OpaqueServer,
  type OpaqueServerLogin,
  opaqueContext,
  PasswordFile,
} from '../src/index.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };

/** The server half of passwordAuth as a sans-IO object: bytes in, bytes out. */
const FAKE_KSF_KEY = new Uint8Array(32).fill(9);

class ServerSide {
  #login: OpaqueServerLogin | undefined;
  #settle: (succeeded: boolean) => void = () => {};
  #user = '';
  constructor(
    private readonly server: OpaqueServer,
    private readonly passwords: PasswordFile,
    private readonly limiter: LoginLimiter,
    private readonly source: string,
    private readonly context: Uint8Array,
  ) {}

  onStart(bytes: Uint8Array): Uint8Array {
    let start: ReturnType<typeof decodeLoginStart>;
    try {
      start = decodeLoginStart(bytes);
    } catch (cause) {
      throw new AuthenticationError('malformed LoginStart', { cause });
    }
    const admission = this.limiter.admit(start.user, this.source);
    if (!admission.allowed) throw new AuthenticationError(`rate limited by ${admission.reason}`);
    this.#settle = admission.settle;
    const entry = this.passwords.get(start.user);
    const { ke2, login } = this.server.startLogin(start.ke1, start.user, entry?.record, {
      context: this.context,
    });
    this.#login = login;
    this.#user = start.user;
    return encodeLoginResponse({
      ksf: entry?.ksf ?? this.passwords.fakeKsfParams(start.user, FAKE_KSF_KEY),
      ke2,
    });
  }

  onFinish(bytes: Uint8Array): { user: string } {
    const login = this.#login;
    if (!login) throw new AuthenticationError('LoginFinish before LoginStart');
    try {
      login.finish(decodeLoginFinish(bytes).ke3);
    } catch (cause) {
      this.#settle(false);
      if (cause instanceof AuthenticationError) throw cause;
      throw new AuthenticationError('malformed LoginFinish', { cause });
    }
    this.#settle(true);
    return { user: this.#user };
  }
}

async function attempt(
  server: OpaqueServer,
  passwords: PasswordFile,
  limiter: LoginLimiter,
  user: string,
  password: string,
  tamper?: (finish: Uint8Array) => Uint8Array,
) {
  const hh = randomBytes(32);
  const side = new ServerSide(server, passwords, limiter, '192.0.2.1', opaqueContext(hh));
  const { ke1, login } = OpaqueClientLogin.start(password);
  const response = decodeLoginResponse(side.onStart(encodeLoginStart({ user, ke1 })));
  let ke3: Uint8Array;
  try {
    const done = await login.finish(response.ke2, {
      ksf: response.ksf,
      context: opaqueContext(hh),
    });
    ke3 = encodeLoginFinish({ ke3: done.ke3 });
  } catch {
    // A real client stops here; a hostile one sends garbage, which must fail the same way.
    ke3 = encodeLoginFinish({ ke3: { clientMac: new Uint8Array(64) } });
  }
  return side.onFinish(tamper ? tamper(ke3) : ke3);
}

describe('public API: a passwordAuth-shaped login', () => {
  const server = new OpaqueServer(deriveServerSetup(randomBytes(32)));

  it('accepts the right password with credentials { user }; everything else is uniform', async () => {
    const passwords = new PasswordFile();
    await passwords.register(server, 'alice', 'correct horse', { ksf: cheap });
    const limiter = new LoginLimiter({
      perUser: { freeFailures: 100 },
      perSource: { freeFailures: 100 },
    });
    await expect(attempt(server, passwords, limiter, 'alice', 'correct horse')).resolves.toEqual({
      user: 'alice',
    });
    const failures = await Promise.all([
      attempt(server, passwords, limiter, 'alice', 'wrong').catch((e: unknown) => e),
      attempt(server, passwords, limiter, 'mallory', 'x').catch((e: unknown) => e),
      attempt(server, passwords, limiter, 'alice', 'correct horse', (b) => b.subarray(0, 40)).catch(
        (e: unknown) => e,
      ),
    ]);
    const reasons = failures.map((e) => {
      expect(e).toBeInstanceOf(AuthenticationError);
      expect((e as AuthenticationError).message).toBe('authentication failed');
      return (e as AuthenticationError).reason;
    });
    expect(reasons[0]).toMatch(/client MAC/);
    expect(reasons[1]).toMatch(/unknown user/);
    expect(reasons[2]).toMatch(/malformed/);
    expect((failures[2] as AuthenticationError).cause).toBeInstanceOf(OpaqueFormatError);
  });

  it('the limiter stops guessing before any OPAQUE work', async () => {
    const passwords = new PasswordFile();
    await passwords.register(server, 'alice', 'correct horse', { ksf: cheap });
    const limiter = new LoginLimiter({ perUser: { freeFailures: 2, baseDelayMs: 60_000 } });
    for (let i = 0; i < 3; i++) {
      await expect(attempt(server, passwords, limiter, 'alice', `guess${i}`)).rejects.toThrow();
    }
    const err = await attempt(server, passwords, limiter, 'alice', 'correct horse').catch(
      (e: unknown) => e,
    );
    expect((err as AuthenticationError).reason).toMatch(/rate limited by user/);
  });
});
