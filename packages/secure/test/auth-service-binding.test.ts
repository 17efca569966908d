/**
 * The service a server serves is inside its signed hello (docs/security.md, "Signed
 * hellos"): a client that names the service it expects detects a redirect to another
 * service sharing the host key, with `ServiceMismatchError`, before it reveals its key.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { x25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYWAY_PROLOGUE } from '../src/auth/server-session.js';
import {
  encodeClientHello,
  encodeClientHelloBody,
  encodeServerHello,
  encodeServerHelloBody,
  helloSignedData,
  SERVER_SIGNATURE_LABEL,
} from '../src/auth/wire.js';
import { identitySign, identityX25519 } from '../src/identity.js';
import {
  type AcceptedConnection,
  AuthorizedKeys,
  anonymousAuth,
  type ClientHandshakeResult,
  clientHandshake,
  generateIdentity,
  HandshakeError,
  KnownHosts,
  nodeCryptoProvider,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
  performHandshake,
  publicKeyAuth,
  ServiceMismatchError,
} from '../src/index.js';
import { dial, type Rig, startRig } from './auth-helpers.js';

const hostKey = generateIdentity('shared host key');
const alice = generateIdentity('alice');

const rigs: Rig[] = [];
let raw: { server: Server; sockets: Set<Socket> } | undefined;
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
  if (raw) {
    for (const s of raw.sockets) s.destroy();
    await new Promise<void>((r) => raw?.server.close(() => r()));
    raw = undefined;
  }
});

async function rig(service: string | undefined): Promise<Rig> {
  const r = await startRig(
    publicKeyAuth({
      identity: hostKey,
      authorizedKeys: AuthorizedKeys.parse(`${alice.publicKeyLine()}\n`),
    }),
    service,
  );
  rigs.push(r);
  return r;
}

function knownHosts(...ports: number[]): KnownHosts {
  const known = KnownHosts.parse('');
  for (const port of ports) known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

async function attempt(
  port: number,
  expectedService: string | undefined,
  known = knownHosts(port),
): Promise<ClientHandshakeResult | Error> {
  const socket = await dial(port);
  socket.on('error', () => {});
  return clientHandshake(socket, {
    host: '127.0.0.1',
    port,
    identity: alice,
    knownHosts: known,
    expectedService,
  }).catch((error: Error) => {
    socket.destroy();
    return error;
  });
}

describe('the served service is signed into the server hello', () => {
  it('a client that expects the service the server serves gets in, and learns the name', async () => {
    const calc = await rig('Calc');
    const result = (await attempt(calc.port, 'Calc')) as ClientHandshakeResult;
    expect(result.service).toBe('Calc');
    const accepted = (await calc.accepted[0]) as AcceptedConnection;
    expect(accepted.credentials.publicKey?.fingerprint).toBe(alice.fingerprint);
    result.transport.close();
  });

  it('a redirect to another service sharing the host key fails with ServiceMismatchError, before the client reveals its key', async () => {
    const calc = await rig('Calc');
    const admin = await rig('Admin');
    const known = knownHosts(calc.port, admin.port);
    // Both servers prove the same host key, so known_hosts alone cannot tell them apart.
    const error = await attempt(admin.port, 'Calc', known);
    expect(error).toBeInstanceOf(ServiceMismatchError);
    expect(error).toMatchObject({
      code: 'ERR_SERVICE_MISMATCH',
      expected: 'Calc',
      actual: 'Admin',
      message: 'expected service "Calc", but the server serves "Admin"',
    });
    // The server never got message 3: no key was checked or logged.
    expect(await admin.accepted[0]).toBeInstanceOf(HandshakeError);
    expect(admin.log).toEqual([]);
    const ok = (await attempt(calc.port, 'Calc', known)) as ClientHandshakeResult;
    ok.transport.close();
  });

  it('a server that names no service does not satisfy a client that expects one', async () => {
    const unnamed = await rig(undefined);
    const error = await attempt(unnamed.port, 'Calc');
    expect(error).toBeInstanceOf(ServiceMismatchError);
    expect((error as ServiceMismatchError).actual).toBeUndefined();
  });

  it('a client that expects nothing accepts any service, and is told which', async () => {
    const admin = await rig('Admin');
    const result = (await attempt(admin.port, undefined)) as ClientHandshakeResult;
    expect(result.service).toBe('Admin');
    result.transport.close();
  });

  it('a hello naming one service but signed over another fails the signature check', async () => {
    // A relay that rewrites the service name cannot re-sign; here the host key's holder
    // signs a hello for "Admin" and sends one that says "Calc".
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      performHandshake(socket, {
        role: 'responder',
        staticKeyPair: identityX25519(hostKey),
        prologue: KEYWAY_PROLOGUE,
        localPayload: (h) => {
          const signedBody = encodeServerHelloBody({
            hostKey: hostKey.publicKey,
            service: 'Admin',
          });
          const sentBody = encodeServerHelloBody({ hostKey: hostKey.publicKey, service: 'Calc' });
          const signature = identitySign(
            hostKey,
            helloSignedData(SERVER_SIGNATURE_LABEL, h, signedBody),
            nodeCryptoProvider,
          );
          return encodeServerHello(sentBody, signature);
        },
        verifyRemote: () => {},
      }).catch(() => undefined);
    });
    raw = { server, sockets };
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const error = await attempt(address.port, 'Calc');
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as Error).message).toBe(
      'server hello signature does not verify under its host key',
    );
  });

  it('a server refuses a client whose hello asks for a service it does not serve', async () => {
    const r = await startRig(anonymousAuth({ identity: hostKey }), 'Calc');
    rigs.push(r);
    const socket = await dial(r.port);
    socket.on('error', () => {});
    const secretKey = x25519.utils.randomSecretKey();
    await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: { secretKey, publicKey: x25519.getPublicKey(secretKey) },
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeClientHello(encodeClientHelloBody({ service: 'Admin' })),
      verifyRemote: () => {},
    }).catch(() => undefined);
    const outcome = await r.accepted[0];
    expect(outcome).toBeInstanceOf(ServiceMismatchError);
    expect(outcome).toMatchObject({ expected: 'Admin', actual: 'Calc' });
    socket.destroy();
  });

  it('passwordAuth signs the served service too, when it runs the handshake', async () => {
    const passwords = new PasswordFile();
    await passwords.register(opaqueServerFor(hostKey), 'alice', 'a long password', {
      ksf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    const r = await startRig(passwordAuth({ identity: hostKey, passwords }), 'Calc');
    rigs.push(r);
    const error = await attempt(r.port, 'Admin');
    expect(error).toMatchObject({ code: 'ERR_SERVICE_MISMATCH', actual: 'Calc' });
    const socket = await dial(r.port);
    const ok = await clientHandshake(socket, {
      host: '127.0.0.1',
      port: r.port,
      knownHosts: knownHosts(r.port),
      username: 'alice',
      password: 'a long password',
      expectedService: 'Calc',
      // The test's records use cheap stretching, below the client's default floor.
      ksfBounds: { scryptMinMemoryBytes: 0 },
    });
    expect(ok.service).toBe('Calc');
    ok.transport.close();
  });

  it('a service name out of range is a RangeError before any I/O', async () => {
    const calc = await rig('Calc');
    const socket = await dial(calc.port);
    await expect(
      clientHandshake(socket, {
        host: '127.0.0.1',
        port: calc.port,
        knownHosts: knownHosts(calc.port),
        expectedService: 'x'.repeat(256),
      }),
    ).rejects.toThrow(RangeError);
    socket.destroy();
  });
});
