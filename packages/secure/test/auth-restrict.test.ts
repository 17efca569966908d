/**
 * The authorized_keys `restrict` option reaches the credentials as `restricted: true`
 * (sshd(8) "AUTHORIZED_KEYS FILE FORMAT": restrict withholds every optional capability),
 * and `compose` keeps a login restricted when any method that succeeded restricted it.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AcceptedConnection,
  AuthenticationError,
  type Authenticator,
  AuthorizedKeys,
  anonymousAuth,
  anyOf,
  type Credentials,
  compose,
  generateIdentity,
  ipAllowlist,
  KnownHosts,
  publicKeyAuth,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const hostKey = generateIdentity('host');
const alice = generateIdentity('alice@lab');
const mallory = generateIdentity('mallory@evil');

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Logs alice in through `authenticator` and returns what the server learned. */
async function aliceLogsIn(authenticator: Authenticator, service?: string) {
  rig = await startRig(authenticator, service);
  const client = await login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) });
  const server = (await rig.accepted[0]) as AcceptedConnection;
  client.close();
  const log = rig.log;
  await rig.close();
  rig = undefined;
  return { credentials: server.credentials, log };
}

function keyAuth(optionsText: string): Authenticator {
  const line =
    optionsText === '' ? alice.publicKeyLine() : `${optionsText} ${alice.publicKeyLine()}`;
  return publicKeyAuth({ identity: hostKey, authorizedKeys: AuthorizedKeys.parse(line) });
}

describe('publicKeyAuth and restrict', () => {
  it('a key line with restrict gives restricted credentials; without it, unrestricted', async () => {
    const restricted = await aliceLogsIn(keyAuth('restrict'));
    expect(restricted.credentials).toMatchObject({
      publicKey: { fingerprint: alice.fingerprint },
      methods: ['publickey'],
      restricted: true,
    });
    expect(restricted.log).toEqual([
      expect.objectContaining({ outcome: 'success', reason: 'accepted (restricted)' }),
    ]);
    const plain = await aliceLogsIn(keyAuth(''));
    expect(plain.credentials.restricted).toBe(false);
    expect(plain.log).toEqual([expect.objectContaining({ reason: 'accepted' })]);
  });

  it('restrict combines with keyway-services and from= in either order', async () => {
    for (const options of [
      'restrict,keyway-services="calc"',
      'keyway-services="calc",restrict',
      'from="127.0.0.0/8",RESTRICT,keyway-services="calc"',
    ]) {
      const { credentials } = await aliceLogsIn(keyAuth(options), 'calc');
      expect(credentials).toMatchObject({ restricted: true, services: ['calc'] });
    }
    // The service list still narrows: restrict does not widen or drop it.
    rig = await startRig(keyAuth('restrict,keyway-services="calc"'), 'shell');
    await expect(
      login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) }),
    ).rejects.toThrow(AuthenticationError);
  });

  it("sshd's re-enabling flags after restrict grant nothing keyway has: still restricted", async () => {
    const { credentials } = await aliceLogsIn(keyAuth('restrict,pty,port-forwarding,user-rc'));
    expect(credentials.restricted).toBe(true);
  });

  it('an unknown option that would re-enable something fails closed', async () => {
    const keys = AuthorizedKeys.parse(`restrict,keyway-classic ${alice.publicKeyLine()}`);
    expect(keys.list()[0]?.error).toMatch(/unsupported option "keyway-classic"/);
    expect(await keys.authorize(alice.publicKey, { remoteAddress: '127.0.0.1' })).toBeUndefined();
  });

  it('anyOf hands on the restriction of the alternative that succeeded', async () => {
    const either = anyOf(keyAuth('restrict'), anonymousAuth({ identity: hostKey }));
    expect((await aliceLogsIn(either)).credentials).toMatchObject({
      methods: ['publickey'],
      restricted: true,
    });
    rig = await startRig(either);
    const client = await login(rig.port, {
      identity: mallory,
      knownHosts: knownHostsFor(rig.port),
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials.methods).toEqual(['anonymous']);
    expect(server.credentials.restricted).toBeFalsy();
    client.close();
  });

  it('compose over a real handshake: an allow-list in front keeps the key restricted', async () => {
    const { credentials } = await aliceLogsIn(
      compose(ipAllowlist(['127.0.0.1']), keyAuth('restrict')),
    );
    expect(credentials).toMatchObject({ methods: ['ip', 'publickey'], restricted: true });
    const plain = await aliceLogsIn(compose(ipAllowlist(['127.0.0.1']), keyAuth('')));
    expect(plain.credentials).toMatchObject({ methods: ['ip', 'publickey'], restricted: false });
  });
});

describe('compose merges restricted: restricted if any method says so', () => {
  /** A user-written method that admits everyone with the given `restricted` value. */
  function method(name: string, restricted: Credentials['restricted']): Authenticator {
    return async (stream, context) => ({
      stream,
      credentials: {
        remoteAddress: context.remoteAddress,
        methods: [name],
        ...(restricted === undefined ? {} : { restricted }),
      },
    });
  }

  async function merged(...values: Credentials['restricted'][]) {
    const chain = compose(...values.map((v, i) => method(`m${i}`, v)));
    const result = await chain(new PassThrough(), { remoteAddress: '192.0.2.1' });
    return result.credentials;
  }

  it('is true when any link is restricted, wherever it stands in the chain', async () => {
    const values = [undefined, false, true] as const;
    for (const a of values) {
      for (const b of values) {
        for (const c of values) {
          const credentials = await merged(a, b, c);
          expect(credentials.restricted === true).toBe(a === true || b === true || c === true);
          expect(credentials.methods).toEqual(['m0', 'm1', 'm2']);
        }
      }
    }
  });

  it('a non-boolean truthy value from a user-written method counts as restricted', async () => {
    const odd = 'yes' as unknown as boolean;
    expect((await merged(false, odd)).restricted).toBe(true);
    expect((await merged(odd, undefined)).restricted).toBe(true);
  });

  it('a single method is handed on unchanged', async () => {
    expect((await merged(true)).restricted).toBe(true);
    expect((await merged(undefined)).restricted).toBeUndefined();
  });
});
