/**
 * Password back-off over real connections: an attempt counts from the moment it is
 * admitted (so concurrent attempts cannot outrun the budget), and a refused attempt looks
 * to the client exactly like a wrong password.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  type Authenticator,
  generateIdentity,
  KnownHosts,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const hostKey = generateIdentity('host');
const PASSWORD = 'correct horse battery staple';

async function passwordFile(): Promise<PasswordFile> {
  const passwords = new PasswordFile();
  await passwords.register(opaqueServerFor(hostKey), 'alice', PASSWORD, { ksf: cheap });
  return passwords;
}

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

/** Each accepted connection appears to come from the next of `sources`, in turn. */
function fromSources(inner: Authenticator, sources: string[]): Authenticator {
  let next = 0;
  return (stream, context) =>
    inner(stream, { ...context, remoteAddress: sources[next++ % sources.length]! });
}

const settle = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('password back-off', () => {
  it('64 concurrent attempts from 4 sources for one user: only the budget reaches OPAQUE', async () => {
    // A long back-off, so that a slow machine cannot let a later attempt in legitimately.
    const limiter = {
      perUser: { freeFailures: 5, baseDelayMs: 600_000, maxDelayMs: 600_000 },
      perSource: { freeFailures: 100 },
    };
    const sources = ['192.0.2.1', '192.0.2.2', '198.51.100.3', '203.0.113.4'];
    rig = await startRig(
      fromSources(
        passwordAuth({ identity: hostKey, passwords: await passwordFile(), limiter }),
        sources,
      ),
    );
    const known = knownHostsFor(rig.port);
    const attempts = Array.from({ length: 64 }, (_, i) =>
      settle(
        login(rig!.port, {
          knownHosts: known,
          username: 'alice',
          password: `guess ${i}`,
          timeoutMs: 60_000,
        }),
      ),
    );
    const errors = await Promise.all(attempts);
    await Promise.all(rig.accepted);
    for (const error of errors) expect(error).toBeInstanceOf(AuthenticationError);
    expect(rig.log).toHaveLength(64);
    const reachedOpaque = rig.log.filter((e) => !e.reason.startsWith('rate limited'));
    // freeFailures free attempts, then the one whose failure starts the back-off.
    expect(reachedOpaque).toHaveLength(6);
  }, 120_000);

  it('a refused attempt gets a KE2 and fails at the client exactly like a wrong password', async () => {
    const limiter = {
      perUser: { freeFailures: 1, baseDelayMs: 600_000, maxDelayMs: 600_000 },
      perSource: { freeFailures: 100 },
    };
    rig = await startRig(
      passwordAuth({ identity: hostKey, passwords: await passwordFile(), limiter }),
    );
    const known = knownHostsFor(rig.port);
    const options = { knownHosts: known };
    const wrong = (await settle(
      login(rig.port, { ...options, username: 'alice', password: 'nope' }),
    )) as AuthenticationError;
    const unknown = (await settle(
      login(rig.port, { ...options, username: 'nobody', password: 'nope' }),
    )) as AuthenticationError;
    await settle(login(rig.port, { ...options, username: 'alice', password: 'nope again' }));
    // The back-off is on now: even the right password is refused, but the client cannot
    // tell the refusal from a wrong password.
    const limited = (await settle(
      login(rig.port, { ...options, username: 'alice', password: PASSWORD }),
    )) as AuthenticationError;
    await Promise.all(rig.accepted);
    expect(rig.log.at(-1)?.reason).toMatch(/^rate limited/);
    for (const error of [wrong, unknown, limited]) {
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error.message).toBe('authentication failed');
    }
    expect(limited.reason).toBe(wrong.reason);
    expect(unknown.reason).toBe(wrong.reason);
  });
});
