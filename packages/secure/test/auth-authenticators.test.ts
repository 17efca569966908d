import { x25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYWAY_PROLOGUE } from '../src/auth/server-session.js';
import { encodeClientHello, encodeClientHelloBody } from '../src/auth/wire.js';
import {
  type AcceptedConnection,
  AuthenticationError,
  AuthorizedKeys,
  anonymousAuth,
  anyOf,
  compose,
  generateIdentity,
  HandshakeError,
  HostKeyError,
  ipAllowlist,
  KnownHosts,
  performHandshake,
  publicKeyAuth,
  scanHostKey,
} from '../src/index.js';
import { dial, login, type Rig, roundTrip, startRig } from './auth-helpers.js';
import { tempDir } from './openssh-tools.js';

const hostKey = generateIdentity('host');
const alice = generateIdentity('alice@lab');
const mallory = generateIdentity('mallory@evil');

function authorized(...lines: string[]): AuthorizedKeys {
  return AuthorizedKeys.parse(lines.join('\n'));
}

function knownHostsFor(port: number, key = hostKey.publicKey): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, key);
  return known;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('publicKeyAuth', () => {
  it('admits an authorized client to a known server and both get a working channel', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    const client = await login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials).toMatchObject({
      publicKey: { fingerprint: alice.fingerprint, comment: 'alice@lab' },
      remoteAddress: '127.0.0.1',
      methods: ['publickey'],
    });
    expect(await roundTrip(client, server.transport, 'hello server')).toBe('hello server');
    expect(rig.log).toEqual([expect.objectContaining({ method: 'publickey', outcome: 'success' })]);
    client.close();
  });

  it('refuses an unknown key with a uniform error to the peer and the reason in the log', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    const attempt = login(rig.port, { identity: mallory, knownHosts: knownHostsFor(rig.port) });
    await expect(attempt).rejects.toThrow(AuthenticationError);
    await expect(attempt).rejects.toThrow('authentication failed');
    const serverSide = await rig.accepted[0];
    expect(serverSide).toBeInstanceOf(AuthenticationError);
    expect((serverSide as AuthenticationError).reason).toContain('key not authorized');
    expect(rig.log[0]).toMatchObject({
      outcome: 'failure',
      reason: 'key not authorized',
      fingerprint: mallory.fingerprint,
    });
  });

  it('refuses an anonymous client', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    await expect(login(rig.port, { knownHosts: knownHostsFor(rig.port) })).rejects.toThrow(
      AuthenticationError,
    );
    expect(rig.log[0]).toMatchObject({ outcome: 'failure', reason: 'client offered no key' });
  });

  it('honours keyway-services restrictions against the service the server exposes', async () => {
    const keys = authorized(`keyway-services="Builds" ${alice.publicKeyLine()}`);
    rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: keys }), 'Calculator');
    await expect(
      login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) }),
    ).rejects.toThrow(AuthenticationError);
    await rig.close();
    rig = await startRig(publicKeyAuth({ identity: hostKey, authorizedKeys: keys }), 'Builds');
    const client = await login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials.services).toEqual(['Builds']);
    client.close();
  });

  it('rejects a client whose claimed key is not the key it proved in the handshake', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    // A forger holds some static key but claims alice's public key in its hello.
    const secretKey = x25519.utils.randomSecretKey();
    await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(
        encodeClientHelloBody({ publicKey: alice.publicKey }),
        new Uint8Array(64),
      ),
      verifyRemote: () => {},
    }).catch(() => undefined);
    const serverSide = await rig.accepted[0];
    expect(serverSide).toBeInstanceOf(HandshakeError);
    expect((serverSide as Error).message).toContain('does not match');
    socket.destroy();
  });
});

describe('client host-key policies', () => {
  it('strict: an unknown host is refused before the client reveals its key', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    const attempt = login(rig.port, { identity: alice, knownHosts: KnownHosts.parse('') });
    await expect(attempt).rejects.toThrow(HostKeyError);
    await expect(attempt).rejects.toThrow(/not in known_hosts.*SHA256:/);
    // The server never got message 3: its handshake failed, no key was ever checked.
    const serverSide = await rig.accepted[0];
    expect(serverSide).toBeInstanceOf(HandshakeError);
    expect(rig.log).toEqual([]);
  });

  it('strict: a changed host key is refused with the line and how to remove it', async () => {
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const known = knownHostsFor(rig.port, generateIdentity().publicKey);
    const attempt = login(rig.port, { identity: alice, knownHosts: known });
    await expect(attempt).rejects.toThrow(HostKeyError);
    await expect(attempt).rejects.toThrow(`HOST KEY CHANGED for [127.0.0.1]:${rig.port}`);
    await expect(attempt).rejects.toThrow(`keyway known-hosts remove [127.0.0.1]:${rig.port}`);
  });

  it('a revoked host key is refused under every policy but insecure-any', async () => {
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const known = KnownHosts.parse(`@revoked * ${hostKey.publicKeyLine()}`);
    for (const hostKeyPolicy of ['strict', 'accept-new'] as const) {
      await expect(login(rig.port, { knownHosts: known, hostKeyPolicy })).rejects.toThrow(
        /@revoked/,
      );
    }
    const client = await login(rig.port, { hostKeyPolicy: 'insecure-any' });
    client.close();
  });

  it('accept-new: records an unknown host in known_hosts, then a changed key is refused', async () => {
    const tmp = tempDir();
    try {
      rig = await startRig(anonymousAuth({ identity: hostKey }));
      const path = tmp.path('known_hosts');
      const first = await login(rig.port, {
        knownHosts: await KnownHosts.load(path),
        hostKeyPolicy: 'accept-new',
      });
      first.close();
      const reloaded = await KnownHosts.load(path);
      expect(reloaded.check('127.0.0.1', rig.port, hostKey.publicKey).status).toBe('match');
      const again = await login(rig.port, { knownHosts: reloaded });
      again.close();
      await rig.close();
      rig = await startRig(anonymousAuth({ identity: generateIdentity() }));
      reloaded.add('127.0.0.1', rig.port, hostKey.publicKey);
      await expect(
        login(rig.port, { knownHosts: reloaded, hostKeyPolicy: 'accept-new' }),
      ).rejects.toThrow('HOST KEY CHANGED');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('anonymousAuth, ipAllowlist, compose and anyOf', () => {
  it('anonymousAuth encrypts and lets an anonymous client in', async () => {
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const client = await login(rig.port, { knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials.methods).toEqual(['anonymous']);
    expect(server.credentials.publicKey).toBeUndefined();
    expect(await roundTrip(server.transport, client, 'hi')).toBe('hi');
    client.close();
  });

  it('an IP allow-list in front of public-key auth is one line, and its credentials merge', async () => {
    const authorizedKeys = authorized(alice.publicKeyLine());
    rig = await startRig(
      compose(
        ipAllowlist(['127.0.0.0/8', '::1']),
        publicKeyAuth({ identity: hostKey, authorizedKeys }),
      ),
    );
    const client = await login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials.methods).toEqual(['ip', 'publickey']);
    expect(server.credentials.publicKey?.fingerprint).toBe(alice.fingerprint);
    client.close();
  });

  it('an address outside the allow-list is dropped before any cryptography', async () => {
    const authorizedKeys = authorized(alice.publicKeyLine());
    rig = await startRig(
      compose(ipAllowlist(['10.0.0.0/8']), publicKeyAuth({ identity: hostKey, authorizedKeys })),
    );
    await expect(
      login(rig.port, { identity: alice, knownHosts: knownHostsFor(rig.port) }),
    ).rejects.toThrow(HandshakeError);
    expect(rig.log).toEqual([expect.objectContaining({ method: 'ip', outcome: 'failure' })]);
    expect(await rig.accepted[0]).toBeInstanceOf(AuthenticationError);
  });

  it('anyOf falls through to the next alternative on the same handshake', async () => {
    rig = await startRig(
      anyOf(
        publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
        anonymousAuth({ identity: hostKey }),
      ),
    );
    const client = await login(rig.port, {
      identity: mallory,
      knownHosts: knownHostsFor(rig.port),
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials.methods).toEqual(['anonymous']);
    expect(rig.log.map((e) => `${e.method}:${e.outcome}`)).toEqual([
      'publickey:failure',
      'anonymous:success',
    ]);
    client.close();
  });

  it('a chain that establishes no channel is refused, never served in plain text', async () => {
    rig = await startRig(ipAllowlist(['127.0.0.1']));
    await expect(login(rig.port, { hostKeyPolicy: 'insecure-any' })).rejects.toThrow();
    const serverSide = await rig.accepted[0];
    expect(serverSide).toBeInstanceOf(AuthenticationError);
    expect((serverSide as AuthenticationError).reason).toContain('no secure channel');
  });

  it('validates its arguments', () => {
    expect(() => compose()).toThrow(TypeError);
    expect(() => anyOf()).toThrow(TypeError);
    expect(() => ipAllowlist(['not-an-ip'])).toThrow(RangeError);
    expect(() => publicKeyAuth({ identity: hostKey } as never)).toThrow(TypeError);
  });
});

describe('scanHostKey', () => {
  it('reads the host key like ssh-keyscan, revealing no identity and logging no attempt', async () => {
    rig = await startRig(
      publicKeyAuth({ identity: hostKey, authorizedKeys: authorized(alice.publicKeyLine()) }),
    );
    const socket = await dial(rig.port);
    socket.on('error', () => {});
    const scanned = await scanHostKey(socket);
    socket.destroy();
    expect(scanned.fingerprint).toBe(hostKey.fingerprint);
    expect(Buffer.from(scanned.publicKey)).toEqual(Buffer.from(hostKey.publicKey));
    expect(await rig.accepted[0]).toBeInstanceOf(HandshakeError);
    expect(rig.log).toEqual([]);
  });
});
