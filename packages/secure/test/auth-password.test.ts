import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageReader } from '../src/auth/message-reader.js';
import { ensureSession, KEYWAY_PROLOGUE } from '../src/auth/server-session.js';
import { encodeClientHello, encodeClientHelloBody } from '../src/auth/wire.js';
import { identityX25519 } from '../src/identity.js';
import {
  type AcceptedConnection,
  AuthenticationError,
  AuthorizedKeys,
  anyOf,
  compose,
  generateIdentity,
  KnownHosts,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  performHandshake,
  publicKeyAuth,
} from '../src/index.js';
import { dial, login, type Rig, startRig } from './auth-helpers.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const hostKey = generateIdentity('host');
const alice = generateIdentity('alice@lab');
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

let rig: Rig | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const c of cleanups.splice(0)) c();
});

describe('passwordAuth (OPAQUE inside the Noise channel)', () => {
  it('accepts the right password with credentials { user }', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const client = await login(rig.port, {
      knownHosts: knownHostsFor(rig.port),
      username: 'alice',
      password: PASSWORD,
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials).toMatchObject({ user: 'alice', methods: ['password'] });
    client.close();
  });

  it('wrong password, unknown user and no password fail the same way to the peer, precisely in the log', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const known = knownHostsFor(rig.port);
    const attempts = [
      login(rig.port, { knownHosts: known, username: 'alice', password: 'wrong' }),
      login(rig.port, { knownHosts: known, username: 'nobody', password: PASSWORD }),
      login(rig.port, { knownHosts: known }),
    ];
    const errors = await Promise.all(
      attempts.map((a) =>
        a.then(
          () => undefined,
          (e: Error) => e,
        ),
      ),
    );
    for (const error of errors) {
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error?.message).toBe('authentication failed');
    }
    await Promise.all(rig.accepted);
    const reasons = rig.log.map((e) => e.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'client has no password',
        'unknown user',
        expect.stringContaining('no valid KE3'),
      ]),
    );
  });

  it('limits failed attempts per user, refusing even the right password while backing off', async () => {
    const limiter = {
      perUser: { freeFailures: 1, baseDelayMs: 60_000 },
      perSource: { freeFailures: 100 },
    };
    rig = await startRig(
      passwordAuth({ identity: hostKey, passwords: await passwordFile(), limiter }),
    );
    const known = knownHostsFor(rig.port);
    for (let i = 0; i < 2; i++) {
      await expect(
        login(rig.port, { knownHosts: known, username: 'alice', password: 'nope' }),
      ).rejects.toThrow(AuthenticationError);
    }
    await expect(
      login(rig.port, { knownHosts: known, username: 'alice', password: PASSWORD }),
    ).rejects.toThrow(AuthenticationError);
    await Promise.all(rig.accepted);
    expect(rig.log.at(-1)?.reason).toMatch(/^rate limited/);
  });

  it('composes: key and password both required, or either one accepted', async () => {
    const authorizedKeys = AuthorizedKeys.parse(alice.publicKeyLine());
    const passwords = await passwordFile();
    rig = await startRig(
      compose(
        publicKeyAuth({ identity: hostKey, authorizedKeys }),
        passwordAuth({ identity: hostKey, passwords }),
      ),
    );
    const both = await login(rig.port, {
      identity: alice,
      knownHosts: knownHostsFor(rig.port),
      username: 'alice',
      password: PASSWORD,
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(server.credentials).toMatchObject({ user: 'alice', methods: ['publickey', 'password'] });
    both.close();
    await rig.close();

    rig = await startRig(
      anyOf(
        publicKeyAuth({ identity: hostKey, authorizedKeys }),
        passwordAuth({ identity: hostKey, passwords }),
      ),
    );
    const stranger = generateIdentity();
    const either = await login(rig.port, {
      identity: stranger,
      knownHosts: knownHostsFor(rig.port),
      username: 'alice',
      password: PASSWORD,
    });
    expect(((await rig.accepted[0]) as AcceptedConnection).credentials.methods).toEqual([
      'password',
    ]);
    either.close();
  });

  it('refuses to start with a password file made for another host key', async () => {
    const passwords = await passwordFile();
    expect(() => passwordAuth({ identity: generateIdentity(), passwords })).toThrow(
      /another host key/,
    );
    // A stable code, not a plain Error.
    expect(() => passwordAuth({ identity: generateIdentity(), passwords })).toThrow(
      expect.objectContaining({ name: 'PasswordFileError', code: 'ERR_PASSWORD_FILE' }),
    );
  });

  it('a relay terminating two Noise sessions fails, and never sees the password', async () => {
    rig = await startRig(passwordAuth({ identity: hostKey, passwords: await passwordFile() }));
    const realPort = rig.port;
    const relayKey = generateIdentity('relay');
    const seen: Uint8Array[] = [];
    // The relay: a keyway server to the victim, a keyway client to the real server, and it
    // forwards every authentication message between the two channels.
    const relay: Server = createServer(async (victim: Socket) => {
      victim.on('error', () => {});
      try {
        const inner = await ensureSession(victim, { identity: relayKey });
        const upstream = await dial(realPort);
        upstream.on('error', () => {});
        const outer = await performHandshake(upstream, {
          role: 'initiator',
          staticKeyPair: identityX25519(relayKey),
          prologue: KEYWAY_PROLOGUE,
          localPayload: encodeClientHello(encodeClientHelloBody({})),
          verifyRemote: () => {},
        });
        const outerReader = new MessageReader(outer.channel);
        const pump = async (from: MessageReader, to: MessageReader) => {
          for (let i = 0; i < 10; i++) {
            const m = await from.next();
            seen.push(m);
            to.send(m);
          }
        };
        await Promise.race([
          pump(outerReader, inner.reader),
          pump(inner.reader, outerReader),
        ]).catch(() => {});
        outerReader.close();
        inner.reader.close();
      } catch {
        victim.destroy();
      }
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    cleanups.push(() => relay.close());
    const relayAddress = relay.address();
    if (relayAddress === null || typeof relayAddress === 'string') throw new Error('no port');
    // The worst case: the victim accepts whatever host key it is shown.
    const socket = await new Promise<Socket>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: relayAddress.port }, () => resolve(s));
    });
    socket.on('error', () => {});
    const { clientHandshake } = await import('../src/index.js');
    const attempt = clientHandshake(socket, {
      host: '127.0.0.1',
      port: relayAddress.port,
      hostKeyPolicy: 'insecure-any',
      username: 'alice',
      password: PASSWORD,
      ksfBounds: { scryptMinMemoryBytes: 0 },
    });
    await expect(attempt).rejects.toThrow(AuthenticationError);
    socket.destroy();
    // The relay forwarded KE1 and KE2 (and nothing that verifies); the password is in none.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    const text = Buffer.concat(seen).toString('latin1');
    expect(text).not.toContain(PASSWORD);
    const server = await rig.accepted[0];
    expect(server).toBeInstanceOf(AuthenticationError);
  });
});
