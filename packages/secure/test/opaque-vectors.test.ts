/**
 * RFC 9807 Appendix C vectors for OPAQUE-3DH ristretto255-SHA512 (sources in
 * `test/vectors/OPAQUE.md`): every intermediate message and key must match byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLoginWith, startRegistrationWith } from '../src/opaque/client.js';
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
import { OpaqueServer, serverStartLoginWith } from '../src/opaque/server.js';

interface Vector {
  name: string;
  configuration: Record<string, string | number>;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
}

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vectorFiles = ['opaque-rfc9807-c1-1.json', 'opaque-cfrg-draft18-real2.json'];

for (const file of vectorFiles) {
  const v = JSON.parse(readFileSync(join(import.meta.dirname, 'vectors', file), 'utf8')) as Vector;
  const i = v.inputs;
  const o = v.outputs;
  const opt = (k: string) => (i[k] === undefined ? undefined : hex(i[k]));
  const identities = {
    clientIdentity: opt('client_identity'),
    serverIdentity: opt('server_identity'),
  };
  const context = hex(String(v.configuration.Context));
  const server = new OpaqueServer({
    oprfSeed: hex(i.oprf_seed!),
    keyPair: { privateKey: hex(i.server_private_key!), publicKey: hex(i.server_public_key!) },
  });

  describe(v.name, () => {
    it('reproduces registration request, response and record', async () => {
      const { request, registration } = startRegistrationWith(hex(i.password!), {
        blind: hex(i.blind_registration!),
        envelopeNonce: hex(i.envelope_nonce!),
      });
      expect(toHex(serializeRegistrationRequest(request))).toBe(o.registration_request);
      const req = deserializeRegistrationRequest(hex(o.registration_request!));
      const response = server.createRegistrationResponse(req, hex(i.credential_identifier!));
      expect(toHex(serializeRegistrationResponse(response))).toBe(o.registration_response);
      const { record, exportKey } = await registration.finish(
        deserializeRegistrationResponse(hex(o.registration_response!)),
        { ksf: { algorithm: 'identity' }, ...identities },
      );
      expect(toHex(serializeRegistrationRecord(record))).toBe(o.registration_upload);
      expect(toHex(exportKey)).toBe(o.export_key);
    });

    it('reproduces KE1, KE2, KE3, the session key and the export key', async () => {
      const { ke1, login } = startLoginWith(hex(i.password!), {
        blind: hex(i.blind_login!),
        clientNonce: hex(i.client_nonce!),
        clientKeyshareSeed: hex(i.client_keyshare_seed!),
      });
      expect(toHex(serializeKE1(ke1))).toBe(o.KE1);
      const record = deserializeRegistrationRecord(hex(o.registration_upload!));
      const { ke2, login: serverLogin } = serverStartLoginWith(
        server,
        deserializeKE1(hex(o.KE1!)),
        hex(i.credential_identifier!),
        record,
        { context, ...identities },
        {
          maskingNonce: hex(i.masking_nonce!),
          serverNonce: hex(i.server_nonce!),
          serverKeyshareSeed: hex(i.server_keyshare_seed!),
        },
      );
      expect(toHex(serializeKE2(ke2))).toBe(o.KE2);
      const result = await login.finish(deserializeKE2(hex(o.KE2!)), {
        ksf: { algorithm: 'identity' },
        context,
        ...identities,
      });
      expect(toHex(serializeKE3(result.ke3))).toBe(o.KE3);
      expect(toHex(result.sessionKey)).toBe(o.session_key);
      expect(toHex(result.exportKey)).toBe(o.export_key);
      const { sessionKey } = serverLogin.finish(deserializeKE3(hex(o.KE3!)));
      expect(toHex(sessionKey)).toBe(o.session_key);
    });
  });
}

describe('OPAQUE-3DH Fake Test Vector 1 (unknown user)', () => {
  const v = JSON.parse(
    readFileSync(join(import.meta.dirname, 'vectors', 'opaque-cfrg-draft18-fake1.json'), 'utf8'),
  ) as Vector;
  const i = v.inputs;

  it('reproduces KE2 through the unknown-user path with the given fake record', () => {
    const server = new OpaqueServer({
      oprfSeed: hex(i.oprf_seed!),
      keyPair: { privateKey: hex(i.server_private_key!), publicKey: hex(i.server_public_key!) },
    });
    const { ke2, login } = serverStartLoginWith(
      server,
      deserializeKE1(hex(i.KE1!)),
      hex(i.credential_identifier!),
      undefined,
      {
        context: hex(String(v.configuration.Context)),
        clientIdentity: hex(i.client_identity!),
        serverIdentity: hex(i.server_identity!),
      },
      {
        maskingNonce: hex(i.masking_nonce!),
        serverNonce: hex(i.server_nonce!),
        serverKeyshareSeed: hex(i.server_keyshare_seed!),
        fakeRecord: { clientPublicKey: hex(i.client_public_key!), maskingKey: hex(i.masking_key!) },
      },
    );
    expect(toHex(serializeKE2(ke2))).toBe(v.outputs.KE2);
    expect(() => login.finish({ clientMac: new Uint8Array(64) })).toThrow(/authentication failed/);
  });
});
