import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  AuthorizedKeys,
  generateIdentity,
  KnownHosts,
  publicKeyAuth,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const hostKey = generateIdentity('host');
const alice = generateIdentity('alice@lab');

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('publicKeyAuth refusal reasons', () => {
  it('names the line that held the key and why it refused it; the peer learns nothing', async () => {
    const lines = [
      `expiry-time="20000101" ${alice.publicKeyLine()}`,
      `from="10.1.2.3" ${alice.publicKeyLine()}`,
    ].join('\n');
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: AuthorizedKeys.parse(lines) }),
    );
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', rig.port, hostKey.publicKey);
    const attempt = login(rig.port, { identity: alice, knownHosts });
    await expect(attempt).rejects.toThrow('authentication failed');
    const serverSide = await rig.accepted[0];
    expect(serverSide).toBeInstanceOf(AuthenticationError);
    expect(rig.log[0]).toMatchObject({
      outcome: 'failure',
      fingerprint: alice.fingerprint,
      reason:
        'key not authorized (line 1: key expired; line 2: remote address 127.0.0.1 not allowed by from="10.1.2.3")',
    });
  });
});
