/**
 * A password supplied by a function (a prompt) is asked for only after the server's host
 * key passed the known_hosts check, as ssh asks only once the host is verified, and the
 * time the function takes does not count against the client's deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AcceptedConnection,
  generateIdentity,
  HostKeyError,
  KnownHosts,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  type PasswordRequest,
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

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('password from a function', () => {
  it('is asked for after the host key is verified, and told which host key that was', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const known = KnownHosts.parse('');
    known.add('127.0.0.1', rig.port, hostKey.publicKey);
    const requests: PasswordRequest[] = [];
    const client = await login(rig.port, {
      knownHosts: known,
      username: 'alice',
      password: (request) => {
        requests.push(request);
        return PASSWORD;
      },
    });
    expect((await rig.accepted[0]) as AcceptedConnection).toMatchObject({
      credentials: { user: 'alice' },
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      host: '127.0.0.1',
      port: rig.port,
      username: 'alice',
      hostKey: { fingerprint: hostKey.fingerprint },
    });
    client.close();
  });

  it('is never called when the host key is unknown', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    let asked = 0;
    await expect(
      login(rig.port, {
        knownHosts: KnownHosts.parse(''),
        username: 'alice',
        password: () => {
          asked++;
          return PASSWORD;
        },
      }),
    ).rejects.toThrow(HostKeyError);
    expect(asked).toBe(0);
  });

  it('may take longer than the client deadline (a person typing), still within the server`s', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const known = KnownHosts.parse('');
    known.add('127.0.0.1', rig.port, hostKey.publicKey);
    const client = await login(rig.port, {
      knownHosts: known,
      username: 'alice',
      // The whole exchange may take 1.5 s on a loaded machine; the prompt alone takes 2 s.
      timeoutMs: 1500,
      password: () => new Promise((resolve) => setTimeout(() => resolve(PASSWORD), 2000)),
    });
    client.close();
  });

  it('fails the login with what the function threw (a cancelled prompt)', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const known = KnownHosts.parse('');
    known.add('127.0.0.1', rig.port, hostKey.publicKey);
    await expect(
      login(rig.port, {
        knownHosts: known,
        username: 'alice',
        password: () => Promise.reject(new Error('prompt cancelled')),
      }),
    ).rejects.toThrow('prompt cancelled');
  });
});
