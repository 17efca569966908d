/**
 * The passwordAuth message layer: codecs for LoginStart / LoginResponse / LoginFinish, a
 * full login driven through encoded messages, and channel binding through the context:
 * a relay between two Noise sessions (two handshake hashes) fails without learning the
 * password.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { OpaqueClientLogin } from '../src/opaque/client.js';
import { OpaqueFormatError } from '../src/opaque/errors.js';
import { formatKsfParams, type KsfParams } from '../src/opaque/ksf.js';
import {
  decodeLoginFinish,
  decodeLoginResponse,
  decodeLoginStart,
  encodeLoginFinish,
  encodeLoginResponse,
  encodeLoginStart,
  opaqueContext,
} from '../src/opaque/login-messages.js';
import { generateServerSetup, OpaqueServer } from '../src/opaque/server.js';
import { PasswordFile } from '../src/password-file.js';

const ksf: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };

async function setup() {
  const server = new OpaqueServer(generateServerSetup());
  const passwords = new PasswordFile();
  await passwords.register(server, 'alice', 'correct horse', { ksf });
  return { server, passwords };
}

/** Server side as passwordAuth would run it, from encoded messages only. */
function serverRespond(
  server: OpaqueServer,
  passwords: PasswordFile,
  startBytes: Uint8Array,
  context: Uint8Array,
) {
  const { user, ke1 } = decodeLoginStart(startBytes);
  const entry = passwords.get(user);
  const { ke2, login } = server.startLogin(ke1, user, entry?.record, { context });
  const response = encodeLoginResponse({
    ksf: entry?.ksf ?? passwords.fakeKsfParams(user, new Uint8Array(32)),
    ke2,
  });
  return { response, login, user };
}

describe('passwordAuth messages', () => {
  it('a full login through encoded messages', async () => {
    const { server, passwords } = await setup();
    const context = opaqueContext(randomBytes(32));
    const { ke1, login } = OpaqueClientLogin.start('correct horse');
    const start = encodeLoginStart({ user: 'alice', ke1 });
    expect(start.length).toBe(2 + 5 + 96);
    const srv = serverRespond(server, passwords, start, context);
    const resp = decodeLoginResponse(srv.response);
    expect(resp.ksf).toEqual(ksf);
    const done = await login.finish(resp.ke2, { ksf: resp.ksf, context });
    const fin = encodeLoginFinish({ ke3: done.ke3 });
    expect(fin.length).toBe(65);
    expect(srv.login.finish(decodeLoginFinish(fin).ke3).sessionKey).toEqual(done.sessionKey);
  });

  it('unknown users get a response of the same length and KSF as known ones', async () => {
    const { server, passwords } = await setup();
    const context = opaqueContext(randomBytes(32));
    const known = serverRespond(
      server,
      passwords,
      encodeLoginStart({ user: 'alice', ke1: OpaqueClientLogin.start('x').ke1 }),
      context,
    );
    const unknown = serverRespond(
      server,
      passwords,
      encodeLoginStart({ user: 'alicf', ke1: OpaqueClientLogin.start('x').ke1 }),
      context,
    );
    expect(unknown.response.length).toBe(known.response.length);
    expect(decodeLoginResponse(unknown.response).ksf).toEqual(
      decodeLoginResponse(known.response).ksf,
    );
  });

  it('a relay terminating two Noise sessions fails: contexts differ', async () => {
    const { server, passwords } = await setup();
    // Client <-> relay session has one handshake hash; relay <-> server another.
    const clientSide = opaqueContext(randomBytes(32));
    const serverSide = opaqueContext(randomBytes(32));
    const { ke1, login } = OpaqueClientLogin.start('correct horse');
    // The relay forwards bytes unchanged; it never sees the password, only KE1/KE2/KE3.
    const srv = serverRespond(
      server,
      passwords,
      encodeLoginStart({ user: 'alice', ke1 }),
      serverSide,
    );
    const resp = decodeLoginResponse(srv.response);
    const err = await login
      .finish(resp.ke2, { ksf: resp.ksf, context: clientSide })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).reason).toMatch(/server MAC/);
  });

  it('rejects malformed messages with OpaqueFormatError, never another error', () => {
    const good = encodeLoginFinish({ ke3: { clientMac: new Uint8Array(64) } });
    expect(() => decodeLoginFinish(good.subarray(0, 64))).toThrow(OpaqueFormatError);
    expect(() => decodeLoginStart(good)).toThrow(OpaqueFormatError);
    const decoders = [
      decodeLoginStart,
      (b: Uint8Array) => decodeLoginResponse(b),
      decodeLoginFinish,
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.integer({ min: 1, max: 3 }), (b, t) => {
        const bytes = b.length > 0 ? Uint8Array.from([t, ...b.subarray(1)]) : b;
        for (const decode of decoders) {
          try {
            decode(bytes);
          } catch (e) {
            if (!(e instanceof OpaqueFormatError)) throw e;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a client refuses the identity KSF and out-of-range parameters from the server', async () => {
    const { server, passwords } = await setup();
    const context = opaqueContext(randomBytes(32));
    const { ke1 } = OpaqueClientLogin.start('x');
    const { response } = serverRespond(
      server,
      passwords,
      encodeLoginStart({ user: 'alice', ke1 }),
      context,
    );
    const ke2 = decodeLoginResponse(response).ke2;
    const identity = encodeLoginResponse({ ksf: { algorithm: 'identity' }, ke2 });
    expect(() => decodeLoginResponse(identity)).toThrow(/identity KSF refused/);
    expect(decodeLoginResponse(identity, { allowIdentityKsf: true }).ksf.algorithm).toBe(
      'identity',
    );
    const huge = Buffer.from(response);
    const text = 'scrypt:N=1073741824,r=8,p=1';
    const forged = Buffer.concat([
      Buffer.from([2, text.length]),
      Buffer.from(text),
      huge.subarray(2 + huge[1]!),
    ]);
    expect(() => decodeLoginResponse(forged)).toThrow(OpaqueFormatError);
  });

  it('opaqueContext is "keyway/1" followed by the handshake hash', () => {
    const h = new Uint8Array(32).fill(0xab);
    const c = opaqueContext(h);
    expect(Buffer.from(c.subarray(0, 8)).toString()).toBe('keyway/1');
    expect(c.subarray(8)).toEqual(h);
    expect(() => opaqueContext(new Uint8Array(0))).toThrow(RangeError);
  });

  it('fakeKsfParams draws from the record parameters, the default for an empty file', async () => {
    const server = new OpaqueServer(generateServerSetup());
    const key = new Uint8Array(32).fill(1);
    const f = new PasswordFile();
    expect(f.fakeKsfParams('x', key)).toEqual({ algorithm: 'scrypt', N: 65536, r: 8, p: 1 });
    const other: KsfParams = { algorithm: 'scrypt', N: 2048, r: 8, p: 1 };
    await f.register(server, 'a', 'p', { ksf: other });
    expect(f.fakeKsfParams('x', key)).toEqual(other);
    await f.register(server, 'b', 'p', { ksf });
    const drawn = new Set(
      Array.from({ length: 64 }, (_, i) => formatKsfParams(f.fakeKsfParams(`n${i}`, key))),
    );
    expect(drawn).toEqual(new Set([formatKsfParams(ksf), formatKsfParams(other)]));
    expect(() => f.fakeKsfParams('x', new Uint8Array(8))).toThrow(TypeError);
  });
});
