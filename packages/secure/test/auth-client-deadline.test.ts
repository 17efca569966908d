/**
 * The client's deadline covers its whole exchange (docs/security.md, "Authentication"):
 * the Noise handshake, the server's verdict and a password login. A server that finishes
 * the handshake and then stalls gets a closed channel and a HandshakeError, like a server
 * that stalls inside the handshake. Options are checked at the boundary.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionOf } from '../src/auth/server-session.js';
import { AuthMessage, authMessage } from '../src/auth/wire.js';
import {
  anonymousAuth,
  ChannelError,
  clientHandshake,
  generateIdentity,
  HandshakeError,
  type HostKeyPolicy,
  KnownHosts,
} from '../src/index.js';
import { dial } from './auth-helpers.js';

const hostKey = generateIdentity('host');

interface StallingServer {
  port: number;
  /** What the server received after the handshake, per connection, in order. */
  received: Uint8Array[];
  close(): Promise<void>;
}

/**
 * A server that completes the Noise handshake (as anonymousAuth does) and then sends
 * `script` and nothing else: never a verdict.
 */
async function stallingServer(
  script: Uint8Array[] = [],
  after?: (socket: Socket) => void,
): Promise<StallingServer> {
  const sockets = new Set<Socket>();
  const received: Uint8Array[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    anonymousAuth({ identity: hostKey })(socket, { remoteAddress: '127.0.0.1' })
      .then(async () => {
        const reader = sessionOf(socket)!.reader;
        for (const message of script) reader.send(message);
        after?.(socket);
        for (;;) received.push(await reader.next());
      })
      .catch(() => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

/** The outcome of `attempt`, or 'still pending' after `ms`. */
function settledWithin<T>(attempt: Promise<T>, ms: number): Promise<T | Error | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    attempt.catch((e: Error) => e),
    new Promise<'still pending'>((r) => {
      timer = setTimeout(() => r('still pending'), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

let server: StallingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('clientHandshake deadline', () => {
  it('rejects with HandshakeError and closes the channel when no verdict comes', async () => {
    server = await stallingServer();
    const socket = await dial(server.port);
    socket.on('error', () => {});
    const outcome = await settledWithin(
      clientHandshake(socket, {
        host: '127.0.0.1',
        port: server.port,
        knownHosts: knownHostsFor(server.port),
        timeoutMs: 300,
      }),
      3000,
    );
    expect(outcome).toBeInstanceOf(HandshakeError);
    expect((outcome as HandshakeError).code).toBe('ERR_HANDSHAKE');
    expect((outcome as HandshakeError).message).toBe('handshake did not finish within 300 ms');
    // The channel was closed: our half of the socket is ended.
    expect(socket.writableEnded || socket.destroyed).toBe(true);
  });

  it('also covers a password login the server leaves hanging', async () => {
    server = await stallingServer([authMessage(AuthMessage.PASSWORD_REQUEST)]);
    const socket = await dial(server.port);
    socket.on('error', () => {});
    const outcome = await settledWithin(
      clientHandshake(socket, {
        host: '127.0.0.1',
        port: server.port,
        knownHosts: knownHostsFor(server.port),
        username: 'alice',
        password: 'correct horse battery staple',
        timeoutMs: 300,
      }),
      3000,
    );
    expect(outcome).toBeInstanceOf(HandshakeError);
    expect((outcome as HandshakeError).message).toMatch(/did not finish within 300 ms/);
    // The client did start the login: KE1 reached the server before the deadline.
    expect(server.received[0]?.[0]).toBe(AuthMessage.PASSWORD_KE1);
  });
});

describe('a server that goes away before its verdict', () => {
  // A server stopping (or a balancer cutting the connection) between the Noise handshake
  // and the verdict: connect() fails as a handshake, with the channel's reason as cause.
  const endings: [string, (socket: Socket) => void][] = [
    ['closes the channel', (socket) => sessionOf(socket)!.reader.close()],
    ['closes it with an error', (socket) => sessionOf(socket)!.reader.close(new Error('drain'))],
    ['drops the connection', (socket) => socket.destroy()],
  ];
  for (const [what, ending] of endings) {
    it(`${what}: HandshakeError whose cause is the channel's`, async () => {
      server = await stallingServer([], ending);
      const socket = await dial(server.port);
      socket.on('error', () => {});
      const outcome = await settledWithin(
        clientHandshake(socket, {
          host: '127.0.0.1',
          port: server.port,
          knownHosts: knownHostsFor(server.port),
          timeoutMs: 2000,
        }),
        3000,
      );
      expect(outcome).toBeInstanceOf(HandshakeError);
      expect((outcome as HandshakeError).code).toBe('ERR_HANDSHAKE');
      expect((outcome as HandshakeError).message).toBe(
        'the channel closed before the server accepted or refused the login',
      );
      expect((outcome as HandshakeError).cause).toBeInstanceOf(ChannelError);
    });
  }
});

describe('clientHandshake options', () => {
  it('refuses an unknown hostKeyPolicy, naming the allowed values', async () => {
    server = await stallingServer();
    const socket = await dial(server.port);
    socket.on('error', () => {});
    const attempt = clientHandshake(socket, {
      host: '127.0.0.1',
      port: server.port,
      knownHosts: knownHostsFor(server.port),
      hostKeyPolicy: 'accept-all' as HostKeyPolicy,
    });
    await expect(attempt).rejects.toThrow(TypeError);
    await expect(attempt).rejects.toThrow(/'strict', 'accept-new', 'insecure-any'/);
    socket.destroy();
  });

  it('refuses a timeoutMs that is not a positive number', async () => {
    server = await stallingServer();
    const socket = await dial(server.port);
    socket.on('error', () => {});
    for (const timeoutMs of [0, -5, Number.NaN]) {
      await expect(
        clientHandshake(socket, { host: '127.0.0.1', port: 1, timeoutMs }),
      ).rejects.toThrow(RangeError);
    }
    socket.destroy();
  });
});
