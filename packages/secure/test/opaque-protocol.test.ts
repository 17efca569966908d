/**
 * OPAQUE-3DH end to end with our own client and server: the right password is accepted;
 * wrong passwords, unknown users, tampered records, mismatched context or identities,
 * replayed KE3 and malformed messages are all rejected with typed errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { OpaqueClientLogin, OpaqueClientRegistration } from '../src/opaque/client.js';
import { OpaqueFormatError } from '../src/opaque/errors.js';
import type { KsfParams } from '../src/opaque/ksf.js';
import {
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  deserializeRegistrationResponse,
  OPAQUE_MESSAGE_SIZES,
  type RegistrationRecord,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
} from '../src/opaque/messages.js';
import {
  deriveServerSetup,
  deserializeServerSetup,
  generateServerSetup,
  OpaqueServer,
  serializeServerSetup,
} from '../src/opaque/server.js';
import { deriveOprfKeyPair, deriveOprfPrivateKey } from '../src/opaque/suite.js';

// Cheap scrypt keeps the suite fast; the default parameters are exercised in ksf tests.
const ksf: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const enc = new TextEncoder();

async function register(server: OpaqueServer, user: string, password: string, extra = {}) {
  const { request, registration } = OpaqueClientRegistration.start(password);
  const response = server.createRegistrationResponse(request, user);
  return registration.finish(response, { ksf, ...extra });
}

async function login(
  server: OpaqueServer,
  user: string,
  password: string | Uint8Array,
  record: RegistrationRecord | undefined,
  clientOpts: Record<string, Uint8Array> = {},
  serverOpts: Record<string, Uint8Array> = {},
) {
  const { ke1, login: client } = OpaqueClientLogin.start(password);
  const { ke2, login: srv } = server.startLogin(
    deserializeKE1(serializeKE1(ke1)),
    user,
    record,
    serverOpts,
  );
  const wire = serializeKE2(ke2);
  const result = await client.finish(deserializeKE2(wire), { ksf, ...clientOpts });
  return { ...srv.finish(deserializeKE3(serializeKE3(result.ke3))), client: result, wire };
}

describe('OPAQUE-3DH round trip', () => {
  const server = new OpaqueServer(generateServerSetup());

  it('accepts the right password; both sides share the session key', async () => {
    const { record, exportKey } = await register(server, 'alice', 'correct horse');
    const r = await login(server, 'alice', 'correct horse', record);
    expect(r.sessionKey).toEqual(r.client.sessionKey);
    expect(r.client.exportKey).toEqual(exportKey);
    expect(r.client.serverPublicKey).toEqual(server.publicKey);
  });

  it('binds the context: a different context on each side fails', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const ctx = { context: enc.encode('keyway/1 a') };
    await expect(login(server, 'alice', 'pw', record, ctx, ctx)).resolves.toBeDefined();
    await expect(
      login(server, 'alice', 'pw', record, ctx, { context: enc.encode('keyway/1 b') }),
    ).rejects.toThrow(AuthenticationError);
  });

  it('binds identities given at registration', async () => {
    const ids = { clientIdentity: enc.encode('alice'), serverIdentity: enc.encode('host') };
    const { record } = await register(server, 'alice', 'pw', ids);
    await expect(login(server, 'alice', 'pw', record, ids, ids)).resolves.toBeDefined();
    await expect(login(server, 'alice', 'pw', record, {}, {})).rejects.toThrow(AuthenticationError);
  });

  it('rejects a wrong password at the client (envelope recovery)', async () => {
    const { record } = await register(server, 'alice', 'right');
    const err = await login(server, 'alice', 'wrong', record).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).message).toBe('authentication failed');
    expect((err as AuthenticationError).reason).toMatch(/envelope/);
  });

  it('gives unknown users a fake KE2 of the same size, consistent per name, and fails', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const real = server.startLogin(OpaqueClientLogin.start('pw').ke1, 'alice', record).ke2;
    const fake1 = server.startLogin(OpaqueClientLogin.start('pw').ke1, 'mallory', undefined);
    expect(serializeKE2(fake1.ke2).length).toBe(serializeKE2(real).length);
    expect(serializeKE2(fake1.ke2).length).toBe(OPAQUE_MESSAGE_SIZES.ke2);
    const err = await login(server, 'mallory', 'pw', undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    // Same OPRF key for the same unknown name across probes: one evaluation is reproducible.
    const { ke1 } = OpaqueClientLogin.start('x');
    const a = server.startLogin(ke1, 'mallory', undefined).ke2.credentialResponse;
    const b = server.startLogin(ke1, 'mallory', undefined).ke2.credentialResponse;
    expect(a.evaluatedMessage).toEqual(b.evaluatedMessage);
  });

  it('server rejects a forged KE3 and a replayed KE3', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const { ke1, login: client } = OpaqueClientLogin.start('pw');
    const { ke2, login: srv } = server.startLogin(ke1, 'alice', record);
    const { ke3 } = await client.finish(ke2, { ksf });
    const forged = serializeKE3(ke3);
    forged[0]! ^= 1;
    const first = (() => {
      try {
        srv.finish(deserializeKE3(forged));
      } catch (e) {
        return e;
      }
    })();
    expect(first).toBeInstanceOf(AuthenticationError);
    // After any finish the login is spent: even the genuine KE3 is refused now.
    expect(() => srv.finish(ke3)).toThrow(/authentication failed/);

    const again = server.startLogin(ke1, 'alice', record);
    expect(() => again.login.finish(ke3)).toThrow(AuthenticationError);
  });

  it('rejects a tampered record', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const bytes = serializeRegistrationRecord(record);
    for (const offset of [40, 100, 140]) {
      const t = bytes.slice();
      t[offset]! ^= 0x80;
      await expect(login(server, 'alice', 'pw', deserializeRegistrationRecord(t))).rejects.toThrow(
        AuthenticationError,
      );
    }
  });

  it('rejects a KE2 altered in flight', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const { ke1, login: client } = OpaqueClientLogin.start('pw');
    const wire = serializeKE2(server.startLogin(ke1, 'alice', record).ke2);
    wire[300]! ^= 1; // inside server_mac
    await expect(client.finish(deserializeKE2(wire), { ksf })).rejects.toThrow(AuthenticationError);
  });

  it('a client login object is single use', async () => {
    const { record } = await register(server, 'alice', 'pw');
    const { ke1, login: client } = OpaqueClientLogin.start('pw');
    const { ke2 } = server.startLogin(ke1, 'alice', record);
    await client.finish(ke2, { ksf });
    await expect(client.finish(ke2, { ksf })).rejects.toThrow(AuthenticationError);
  });

  it('normalises password text to NFC (composed and decomposed accents match)', async () => {
    const { record } = await register(server, 'zoe', 'caf\u00e9');
    await expect(login(server, 'zoe', 'cafe\u0301', record)).resolves.toBeDefined();
    // Raw bytes are used as given: the decomposed bytes are a different password.
    const decomposed = new TextEncoder().encode('cafe\u0301');
    await expect(login(server, 'zoe', decomposed, record)).rejects.toThrow(AuthenticationError);
  });

  it('different users get different OPRF keys (same password, different records)', async () => {
    const a = await register(server, 'a', 'same');
    const b = await register(server, 'b', 'same');
    expect(a.record.clientPublicKey).not.toEqual(b.record.clientPublicKey);
    await expect(login(server, 'b', 'same', a.record)).rejects.toThrow(AuthenticationError);
  });

  it('does not show secrets through util.inspect or JSON', async () => {
    const { inspect } = await import('node:util');
    const { login: client } = OpaqueClientLogin.start('hunter2');
    expect(inspect(client)).not.toMatch(/hunter2|Uint8Array/);
    expect(JSON.stringify({ client, server })).not.toMatch(/hunter2|\d{2,}/);
  });
});

describe('server setup', () => {
  it('round-trips through its 96-byte form', () => {
    const s = generateServerSetup();
    const bytes = serializeServerSetup(s);
    expect(bytes.length).toBe(96);
    const back = deserializeServerSetup(bytes);
    expect(back.keyPair.publicKey).toEqual(s.keyPair.publicKey);
    expect(back.oprfSeed).toEqual(s.oprfSeed);
    expect(() => deserializeServerSetup(bytes.subarray(1))).toThrow(OpaqueFormatError);
    expect(() => deserializeServerSetup(new Uint8Array(96))).toThrow(OpaqueFormatError);
  });

  it('derives deterministically from a host secret, differently per secret', () => {
    const a = deriveServerSetup(new Uint8Array(32).fill(1));
    const b = deriveServerSetup(new Uint8Array(32).fill(1));
    const c = deriveServerSetup(new Uint8Array(32).fill(2));
    expect(serializeServerSetup(a)).toEqual(serializeServerSetup(b));
    expect(a.oprfSeed).not.toEqual(c.oprfSeed);
    expect(() => deriveServerSetup(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('message codecs', () => {
  const decoders = {
    registrationRequest: deserializeRegistrationRequest,
    registrationResponse: deserializeRegistrationResponse,
    registrationRecord: deserializeRegistrationRecord,
    ke1: deserializeKE1,
    ke2: deserializeKE2,
    ke3: deserializeKE3,
  } as const;

  it('rejects truncated and extended messages with OpaqueFormatError', async () => {
    const server = new OpaqueServer(generateServerSetup());
    const { record } = await register(server, 'u', 'p');
    const { ke1, login: client } = OpaqueClientLogin.start('p');
    const { ke2 } = server.startLogin(ke1, 'u', record);
    const { ke3 } = await client.finish(ke2, { ksf });
    const samples: [keyof typeof decoders, Uint8Array][] = [
      ['registrationRecord', serializeRegistrationRecord(record)],
      ['ke1', serializeKE1(ke1)],
      ['ke2', serializeKE2(ke2)],
      ['ke3', serializeKE3(ke3)],
    ];
    for (const [name, bytes] of samples) {
      expect(bytes.length).toBe(OPAQUE_MESSAGE_SIZES[name]);
      expect(() => decoders[name](bytes.subarray(0, bytes.length - 1))).toThrow(OpaqueFormatError);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decoders[name](longer)).toThrow(OpaqueFormatError);
    }
  });

  it('rejects the identity element and non-canonical encodings', () => {
    expect(() => deserializeRegistrationRequest(new Uint8Array(32))).toThrow(/identity/);
    expect(() => deserializeRegistrationRequest(new Uint8Array(32).fill(0xff))).toThrow(
      OpaqueFormatError,
    );
  });

  it('any byte string gives a value or an OpaqueFormatError, never another error', () => {
    for (const [name, decode] of Object.entries(decoders)) {
      const size = OPAQUE_MESSAGE_SIZES[name as keyof typeof decoders];
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 400 }),
            fc.uint8Array({ minLength: size, maxLength: size }),
          ),
          (bytes) => {
            try {
              decode(bytes);
            } catch (e) {
              if (!(e instanceof OpaqueFormatError)) throw e;
            }
          },
        ),
        { numRuns: 150 },
      );
    }
  });
});

describe('suite shortcuts', () => {
  it('deriveOprfPrivateKey equals the private half of RFC 9497 DeriveKeyPair', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        expect(deriveOprfPrivateKey(seed)).toEqual(deriveOprfKeyPair(seed).privateKey);
      }),
      { numRuns: 50 },
    );
  });
});

describe('properties', () => {
  const server = new OpaqueServer(generateServerSetup());
  const identity: KsfParams = { algorithm: 'identity' };

  it('login succeeds exactly when the password matches, for any passwords and context', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        async (pw, other, context, useSame) => {
          const guess = useSame ? pw : other;
          const { request, registration } = OpaqueClientRegistration.start(pw);
          const { record } = await registration.finish(
            server.createRegistrationResponse(request, 'p'),
            { ksf: identity },
          );
          const { ke1, login: client } = OpaqueClientLogin.start(guess);
          const { ke2, login: srv } = server.startLogin(ke1, 'p', record, { context });
          const same = Buffer.from(pw).equals(Buffer.from(guess));
          try {
            const r = await client.finish(ke2, { ksf: identity, context });
            expect(srv.finish(r.ke3).sessionKey).toEqual(r.sessionKey);
            expect(same).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(AuthenticationError);
            expect(same).toBe(false);
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
