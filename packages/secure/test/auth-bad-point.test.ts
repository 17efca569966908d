/**
 * A hello whose Ed25519 key is not a valid curve point is a malformed hello
 * (docs/security.md, "Authentication"): both sides fail the handshake with HandshakeError
 * (the KeyFormatError kept as `cause`), the documented error, not KeyFormatError.
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
} from '../src/auth/wire.js';
import {
  AuthorizedKeys,
  anonymousAuth,
  clientHandshake,
  generateIdentity,
  HandshakeError,
  KeyFormatError,
  performHandshake,
  publicKeyAuth,
  scanHostKey,
} from '../src/index.js';
import { dial, type Rig, startRig } from './auth-helpers.js';

const hostKey = generateIdentity('host');

/** 32-byte strings that are not Ed25519 points (y ≥ p, or no x for that y). */
const BAD_POINTS: readonly [string, Uint8Array][] = [
  ['ff…ff', new Uint8Array(32).fill(0xff)],
  ['01 00…00', Uint8Array.of(1, ...new Uint8Array(31))],
  ['02 00…00', Uint8Array.of(2, ...new Uint8Array(31))],
];

function freshKeyPair() {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

function expectMalformedHello(error: unknown, who: 'client' | 'server'): void {
  expect(error).toBeInstanceOf(HandshakeError);
  expect(error).toMatchObject({
    code: 'ERR_HANDSHAKE',
    message: `${who} hello holds an invalid Ed25519 key`,
  });
  expect((error as Error).cause).toBeInstanceOf(KeyFormatError);
}

let rig: Rig | undefined;
let rawServer: { server: Server; sockets: Set<Socket> } | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (rawServer) {
    for (const s of rawServer.sockets) s.destroy();
    await new Promise<void>((r) => rawServer?.server.close(() => r()));
    rawServer = undefined;
  }
});

describe('an invalid Ed25519 key in the client hello', () => {
  for (const [name, key] of BAD_POINTS) {
    for (const [method, authenticator] of [
      [
        'publicKeyAuth',
        publicKeyAuth({ identity: hostKey, authorizedKeys: AuthorizedKeys.parse('') }),
      ],
      ['anonymousAuth', anonymousAuth({ identity: hostKey })],
    ] as const) {
      it(`${name}: ${method} fails the handshake with HandshakeError`, async () => {
        rig = await startRig(authenticator);
        const socket = await dial(rig.port);
        socket.on('error', () => {});
        await performHandshake(socket, {
          role: 'initiator',
          staticKeyPair: freshKeyPair(),
          prologue: KEYWAY_PROLOGUE,
          localPayload: encodeClientHello(
            encodeClientHelloBody({ publicKey: key }),
            new Uint8Array(64),
          ),
          verifyRemote: () => {},
        }).catch(() => undefined);
        expectMalformedHello(await rig.accepted[0], 'client');
        socket.destroy();
      });
    }
  }
});

/** A server that answers message 1 with a hello naming `hostKeyBytes` as its host key. */
async function lyingServer(hostKeyBytes: Uint8Array): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    performHandshake(socket, {
      role: 'responder',
      staticKeyPair: freshKeyPair(),
      prologue: KEYWAY_PROLOGUE,
      localPayload: encodeServerHello(
        encodeServerHelloBody({ hostKey: hostKeyBytes }),
        new Uint8Array(64),
      ),
      verifyRemote: () => {},
    }).catch(() => undefined);
  });
  rawServer = { server, sockets };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('an invalid Ed25519 host key in the server hello', () => {
  for (const [name, key] of BAD_POINTS) {
    it(`${name}: clientHandshake fails with HandshakeError`, async () => {
      const port = await lyingServer(key);
      const socket = await dial(port);
      socket.on('error', () => {});
      const error = await clientHandshake(socket, {
        host: '127.0.0.1',
        port,
        hostKeyPolicy: 'insecure-any',
      }).catch((e: unknown) => e);
      expectMalformedHello(error, 'server');
    });

    it(`${name}: scanHostKey fails with HandshakeError`, async () => {
      const port = await lyingServer(key);
      const socket = await dial(port);
      socket.on('error', () => {});
      const error = await scanHostKey(socket).catch((e: unknown) => e);
      expectMalformedHello(error, 'server');
    });
  }
});
