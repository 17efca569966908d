/**
 * What an accepted connection stops holding: the server's authentication state (the
 * client's hello, the handshake hash) is forgotten once the connection is accepted, and
 * the reader of the authentication messages steps out when the RPC engine starts the
 * transport, the channel then delivering to it directly, with nothing lost or reordered.
 */
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionOf } from '../src/auth/server-session.js';
import {
  type AcceptedConnection,
  AuthorizedKeys,
  acceptConnection,
  generateIdentity,
  KnownHosts,
  publicKeyAuth,
} from '../src/index.js';
import { login } from './auth-helpers.js';

const hostKey = generateIdentity('host');
const alice = generateIdentity('alice@lab');
const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function acceptOne(): Promise<{
  port: number;
  accepted: Promise<{ socket: Socket; connection: AcceptedConnection }>;
}> {
  const authenticator = publicKeyAuth({
    identity: hostKey,
    authorizedKeys: AuthorizedKeys.parse(alice.publicKeyLine()),
  });
  let done!: (value: { socket: Socket; connection: AcceptedConnection }) => void;
  const accepted = new Promise<{ socket: Socket; connection: AcceptedConnection }>((resolve) => {
    done = resolve;
  });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    void acceptConnection(socket, authenticator, {
      remoteAddress: socket.remoteAddress ?? '',
    }).then((connection) => done({ socket, connection }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  cleanup = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { port, accepted };
}

describe('an accepted connection', () => {
  it('no longer keeps the server session of its stream', async () => {
    const { port, accepted } = await acceptOne();
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', port, hostKey.publicKey);
    const client = await login(port, { identity: alice, knownHosts });
    const { socket, connection } = await accepted;
    expect(sessionOf(socket)).toBeUndefined();
    expect(connection.handshakeHash).toHaveLength(32);
    client.close();
  });

  it('delivers what the client sent before the transport started, then the rest, in order', async () => {
    const { port, accepted } = await acceptOne();
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', port, hostKey.publicKey);
    const client = await login(port, { identity: alice, knownHosts });
    client.start({ onMessage: () => {}, onClose: () => {} });
    for (const text of ['one', 'two', 'three']) client.send(encode(text));
    const { connection } = await accepted;
    // Let the early messages reach the server's reader before the transport starts.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const received: string[] = [];
    let closed: Error | undefined | null = null;
    const all = new Promise<void>((resolve) => {
      connection.transport.start({
        onMessage: (data) => {
          received.push(decode(data));
          if (received.length === 5) resolve();
        },
        onClose: (error) => {
          closed = error;
        },
      });
    });
    expect(() => connection.transport.start({ onMessage: () => {}, onClose: () => {} })).toThrow(
      'transport already started',
    );
    client.send(encode('four'));
    client.send(encode('five'));
    await all;
    expect(received).toEqual(['one', 'two', 'three', 'four', 'five']);
    const ended = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (closed !== null) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    client.close();
    await ended;
    expect(closed).toBeUndefined();
  });
});
