/**
 * The client bounds the stretching a server asks for: a floor (a server must not make a
 * login cheap to guess), a ceiling (nor make the client allocate or compute without
 * bound), and the login's deadline, at which the stretching stops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkKsfBounds,
  createKsf,
  DEFAULT_KSF_BOUNDS,
  DEFAULT_KSF_PARAMS,
  generateIdentity,
  HandshakeError,
  KnownHosts,
  KsfBoundsError,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const hostKey = generateIdentity('host');
const PASSWORD = 'correct horse battery staple';

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

/** A file whose record for alice announces `announced` (the record itself is cheap). */
async function announcing(announced: KsfParams): Promise<PasswordFile> {
  const passwords = new PasswordFile();
  const entry = await passwords.register(opaqueServerFor(hostKey), 'alice', PASSWORD, {
    ksf: cheap,
  });
  passwords.add('alice', entry.record, announced);
  return passwords;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('client bounds on the stretching a server asks for', () => {
  it('refuses a server asking for stretching below the floor (scrypt N=1024)', async () => {
    const passwords = new PasswordFile();
    await passwords.register(opaqueServerFor(hostKey), 'alice', PASSWORD, { ksf: cheap });
    rig = await startRig(passwordAuth({ identity: hostKey, passwords }));
    const attempt = login(rig.port, {
      knownHosts: knownHostsFor(rig.port),
      username: 'alice',
      password: PASSWORD,
      ksfBounds: {},
    });
    await expect(attempt).rejects.toThrow(KsfBoundsError);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_KSF_BOUNDS' });
  });

  it('floor and ceiling: defaults accept keyway and RFC 9807 parameters, refuse the extremes', () => {
    expect(checkKsfBounds(DEFAULT_KSF_PARAMS)).toEqual(DEFAULT_KSF_PARAMS);
    const accepted: KsfParams[] = [
      { algorithm: 'scrypt', N: 2 ** 15, r: 8, p: 1 },
      { algorithm: 'argon2id', m: 2 ** 21, t: 1, p: 4 },
      { algorithm: 'argon2id', m: 19_456, t: 2, p: 1 },
    ];
    for (const params of accepted) expect(checkKsfBounds(params)).toEqual(params);
    const refused: KsfParams[] = [
      { algorithm: 'scrypt', N: 2 ** 14, r: 8, p: 1 },
      { algorithm: 'scrypt', N: 2 ** 17, r: 1, p: 1 },
      { algorithm: 'scrypt', N: 2 ** 20, r: 8, p: 1 },
      { algorithm: 'scrypt', N: 2 ** 17, r: 8, p: 16 },
      { algorithm: 'argon2id', m: 4096, t: 2, p: 1 },
      { algorithm: 'argon2id', m: 2 ** 21, t: 2, p: 1 },
      { algorithm: 'identity' },
    ];
    for (const params of refused) expect(() => checkKsfBounds(params)).toThrow(KsfBoundsError);
    expect(checkKsfBounds(cheap, { scryptMinMemoryBytes: 0 })).toEqual(cheap);
    expect(() => checkKsfBounds(cheap, { scryptMinMemoryBytes: -1 })).toThrow(RangeError);
    expect(DEFAULT_KSF_BOUNDS.scryptMinMemoryBytes).toBe(128 * 2 ** 15 * 8);
  });

  it('stops stretching at the login deadline instead of computing on', async () => {
    // Within the ceiling, but a minute or more of pure-JS Argon2id.
    const slow: KsfParams = { algorithm: 'argon2id', m: 2 ** 17, t: 16, p: 1 };
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await announcing(slow) }));
    const started = performance.now();
    await expect(
      login(rig.port, {
        knownHosts: knownHostsFor(rig.port),
        username: 'alice',
        password: PASSWORD,
        timeoutMs: 1_500,
      }),
    ).rejects.toThrow(HandshakeError);
    expect(performance.now() - started).toBeLessThan(10_000);
    // Had the stretching gone on, this process would keep a core busy.
    await new Promise((r) => setTimeout(r, 200));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1_000));
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    expect(cpuMs, `${cpuMs} ms of CPU in the second after the deadline`).toBeLessThan(150);
  }, 30_000);

  it('an aborted stretch rejects with the signal’s reason, on every provider', async () => {
    const input = new Uint8Array(64).fill(3);
    for (const [params, options] of [
      [{ algorithm: 'scrypt', N: 2 ** 16, r: 8, p: 1 }, { scryptProvider: 'noble' }],
      [{ algorithm: 'scrypt', N: 2 ** 16, r: 8, p: 1 }, { scryptProvider: 'node' }],
      [{ algorithm: 'argon2id', m: 2 ** 16, t: 3, p: 1 }, {}],
    ] as const) {
      const reason = new Error('deadline');
      const controller = new AbortController();
      const work = createKsf(params, options).stretch(input, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 20);
      await expect(work).rejects.toBe(reason);
    }
    const already = AbortSignal.abort(new Error('before'));
    await expect(createKsf(cheap).stretch(input, { signal: already })).rejects.toThrow('before');
  });
});
