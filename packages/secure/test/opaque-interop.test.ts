/**
 * Interop with an independent OPAQUE implementation: @serenity-kit/opaque (opaque-ke,
 * Rust, compiled to WASM). Both directions, registration and login, with and without
 * identities, using the same KSF on both sides.
 *
 * What fixes the shared configuration: serenity-kit only offers Argon2id as KSF (no scrypt,
 * no identity) and exposes no `context` parameter (opaque-ke then uses the empty context).
 * So these tests run our Argon2id KSF (RFC 9106 via @noble/hashes, salt = 16 zero bytes,
 * 64-byte output, as RFC 9807 and opaque-ke specify) with small parameters, and the empty
 * context. keyway's default scrypt KSF and its channel-bound context cannot be exercised
 * against this peer; both are covered by our own tests and the RFC vector.
 */
import * as serenity from '@serenity-kit/opaque';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError } from '../src/errors.js';
import { OpaqueClientLogin, OpaqueClientRegistration } from '../src/opaque/client.js';
import type { KsfParams } from '../src/opaque/ksf.js';
import {
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  deserializeRegistrationResponse,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
  serializeRegistrationResponse,
} from '../src/opaque/messages.js';
import { generateServerSetup, OpaqueServer, type OpaqueServerSetup } from '../src/opaque/server.js';
import { deriveDiffieHellmanKeyPair } from '../src/opaque/suite.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));
const ARGON = { m: 1024, t: 1, p: 1 };
const ksf: KsfParams = { algorithm: 'argon2id', ...ARGON };
const keyStretching = {
  'argon2id-custom': { memory: ARGON.m, iterations: ARGON.t, parallelism: ARGON.p },
};
const enc = new TextEncoder();

/**
 * serenity-kit's setup string is base64url(oprf_seed ‖ server_private_key ‖ fake public
 * key), opaque-ke's ServerSetup layout; building it from our setup makes both servers hold
 * the same secrets.
 */
function serenitySetup(setup: OpaqueServerSetup): string {
  const fake = deriveDiffieHellmanKeyPair(new Uint8Array(32).fill(7)).publicKey;
  return b64(Buffer.concat([setup.oprfSeed, setup.keyPair.privateKey, fake]));
}

const cases = [
  { name: 'no identities', ids: undefined },
  { name: 'with identities', ids: { client: 'alice@example.com', server: 'keyway.example' } },
] as const;

describe('interop with @serenity-kit/opaque', () => {
  const setup = generateServerSetup();
  const ours = new OpaqueServer(setup);
  let theirSetup = '';

  beforeAll(async () => {
    await serenity.ready;
    theirSetup = serenitySetup(setup);
  });

  it('their setup string carries our server key', () => {
    expect(unb64(serenity.server.getPublicKey(theirSetup))).toEqual(ours.publicKey);
  });

  it('registration responses are byte-identical for the same request and user', () => {
    const { registrationRequest } = serenity.client.startRegistration({ password: 'pw' });
    const theirs = serenity.server.createRegistrationResponse({
      serverSetup: theirSetup,
      userIdentifier: 'alice',
      registrationRequest,
    }).registrationResponse;
    const mine = ours.createRegistrationResponse(
      deserializeRegistrationRequest(unb64(registrationRequest)),
      'alice',
    );
    expect(b64(serializeRegistrationResponse(mine))).toBe(theirs);
  });

  for (const { name, ids } of cases) {
    const ourIds =
      ids === undefined
        ? {}
        : { clientIdentity: enc.encode(ids.client), serverIdentity: enc.encode(ids.server) };

    it(`our client registers and logs in against their server (${name})`, async () => {
      const { request, registration } = OpaqueClientRegistration.start('correct horse');
      const { registrationResponse } = serenity.server.createRegistrationResponse({
        serverSetup: theirSetup,
        userIdentifier: 'alice',
        registrationRequest: b64(serializeRegistrationRequest(request)),
      });
      const { record, exportKey } = await registration.finish(
        deserializeRegistrationResponse(unb64(registrationResponse)),
        { ksf, ...ourIds },
      );
      const registrationRecord = b64(serializeRegistrationRecord(record));

      const { ke1, login } = OpaqueClientLogin.start('correct horse');
      const { loginResponse, serverLoginState } = serenity.server.startLogin({
        serverSetup: theirSetup,
        userIdentifier: 'alice',
        registrationRecord,
        startLoginRequest: b64(serializeKE1(ke1)),
        ...(ids ? { identifiers: ids } : {}),
      });
      const result = await login.finish(deserializeKE2(unb64(loginResponse)), { ksf, ...ourIds });
      const { sessionKey } = serenity.server.finishLogin({
        serverLoginState,
        finishLoginRequest: b64(serializeKE3(result.ke3)),
        ...(ids ? { identifiers: ids } : {}),
      });
      expect(b64(result.sessionKey)).toBe(sessionKey);
      expect(result.exportKey).toEqual(exportKey);
    });

    it(`their client registers and logs in against our server (${name})`, async () => {
      const start = serenity.client.startRegistration({ password: 'correct horse' });
      const response = ours.createRegistrationResponse(
        deserializeRegistrationRequest(unb64(start.registrationRequest)),
        'bob',
      );
      const fin = serenity.client.finishRegistration({
        clientRegistrationState: start.clientRegistrationState,
        registrationResponse: b64(serializeRegistrationResponse(response)),
        password: 'correct horse',
        keyStretching,
        ...(ids ? { identifiers: ids } : {}),
      });
      const record = deserializeRegistrationRecord(unb64(fin.registrationRecord));
      expect(unb64(fin.serverStaticPublicKey)).toEqual(ours.publicKey);

      const loginStart = serenity.client.startLogin({ password: 'correct horse' });
      const { ke2, login } = ours.startLogin(
        deserializeKE1(unb64(loginStart.startLoginRequest)),
        'bob',
        record,
        ourIds,
      );
      const done = serenity.client.finishLogin({
        clientLoginState: loginStart.clientLoginState,
        loginResponse: b64(serializeKE2(ke2)),
        password: 'correct horse',
        keyStretching,
        ...(ids ? { identifiers: ids } : {}),
      });
      expect(done).toBeDefined();
      const { sessionKey } = login.finish(deserializeKE3(unb64(done!.finishLoginRequest)));
      expect(b64(sessionKey)).toBe(done!.sessionKey);
      expect(done!.exportKey).toBe(fin.exportKey);
    });
  }

  it('a record made by their client logs in with our client at our server', async () => {
    const start = serenity.client.startRegistration({ password: 'pw' });
    const fin = serenity.client.finishRegistration({
      clientRegistrationState: start.clientRegistrationState,
      registrationResponse: b64(
        serializeRegistrationResponse(
          ours.createRegistrationResponse(
            deserializeRegistrationRequest(unb64(start.registrationRequest)),
            'carol',
          ),
        ),
      ),
      password: 'pw',
      keyStretching,
    });
    const record = deserializeRegistrationRecord(unb64(fin.registrationRecord));
    const { ke1, login } = OpaqueClientLogin.start('pw');
    const { ke2, login: srv } = ours.startLogin(ke1, 'carol', record);
    const r = await login.finish(ke2, { ksf });
    expect(srv.finish(r.ke3).sessionKey).toEqual(r.sessionKey);
    expect(b64(r.exportKey)).toBe(fin.exportKey);
  });

  it('a record made by our client logs in with their client at their server', async () => {
    const { request, registration } = OpaqueClientRegistration.start('pw');
    const { registrationResponse } = serenity.server.createRegistrationResponse({
      serverSetup: theirSetup,
      userIdentifier: 'erin',
      registrationRequest: b64(serializeRegistrationRequest(request)),
    });
    const { record, exportKey } = await registration.finish(
      deserializeRegistrationResponse(unb64(registrationResponse)),
      { ksf },
    );
    const loginStart = serenity.client.startLogin({ password: 'pw' });
    const { loginResponse, serverLoginState } = serenity.server.startLogin({
      serverSetup: theirSetup,
      userIdentifier: 'erin',
      registrationRecord: b64(serializeRegistrationRecord(record)),
      startLoginRequest: loginStart.startLoginRequest,
    });
    const done = serenity.client.finishLogin({
      clientLoginState: loginStart.clientLoginState,
      loginResponse,
      password: 'pw',
      keyStretching,
    });
    expect(done).toBeDefined();
    expect(done!.exportKey).toBe(b64(exportKey));
    const { sessionKey } = serenity.server.finishLogin({
      serverLoginState,
      finishLoginRequest: done!.finishLoginRequest,
    });
    expect(sessionKey).toBe(done!.sessionKey);
  });

  it('their server binds the empty context: any other context fails (why keyway context cannot be used with it)', async () => {
    const { request, registration } = OpaqueClientRegistration.start('pw');
    const { registrationResponse } = serenity.server.createRegistrationResponse({
      serverSetup: theirSetup,
      userIdentifier: 'frank',
      registrationRequest: b64(serializeRegistrationRequest(request)),
    });
    const { record } = await registration.finish(
      deserializeRegistrationResponse(unb64(registrationResponse)),
      { ksf },
    );
    const run = async (context: Uint8Array) => {
      const { ke1, login } = OpaqueClientLogin.start('pw');
      const { loginResponse } = serenity.server.startLogin({
        serverSetup: theirSetup,
        userIdentifier: 'frank',
        registrationRecord: b64(serializeRegistrationRecord(record)),
        startLoginRequest: b64(serializeKE1(ke1)),
      });
      return login.finish(deserializeKE2(unb64(loginResponse)), { ksf, context });
    };
    await expect(run(new Uint8Array(0))).resolves.toBeDefined();
    await expect(run(enc.encode('keyway/1'))).rejects.toThrow(AuthenticationError);
  });

  it('their client with a wrong password is refused by our server, and vice versa', async () => {
    const { request, registration } = OpaqueClientRegistration.start('right');
    const { record } = await registration.finish(ours.createRegistrationResponse(request, 'dave'), {
      ksf,
    });
    const loginStart = serenity.client.startLogin({ password: 'wrong' });
    const { ke2 } = ours.startLogin(
      deserializeKE1(unb64(loginStart.startLoginRequest)),
      'dave',
      record,
    );
    const done = serenity.client.finishLogin({
      clientLoginState: loginStart.clientLoginState,
      loginResponse: b64(serializeKE2(ke2)),
      password: 'wrong',
      keyStretching,
    });
    expect(done).toBeUndefined();

    // Their server answering for a user it has no record of: our client fails the same way.
    const { ke1, login } = OpaqueClientLogin.start('right');
    const { loginResponse } = serenity.server.startLogin({
      serverSetup: theirSetup,
      userIdentifier: 'nobody',
      registrationRecord: null,
      startLoginRequest: b64(serializeKE1(ke1)),
    });
    expect(unb64(loginResponse).length).toBe(serializeKE2(ke2).length);
    await expect(login.finish(deserializeKE2(unb64(loginResponse)), { ksf })).rejects.toThrow(
      AuthenticationError,
    );
  });
});
