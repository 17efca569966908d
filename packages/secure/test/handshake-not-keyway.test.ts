/**
 * A client dialled at an SSH or HTTP port learns at once that the peer does not speak
 * keyway (NotKeywayError, `ERR_NOT_KEYWAY`), instead of waiting for the handshake
 * deadline or reporting "message too large".
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { performHandshake } from '../src/channel/perform-handshake.js';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';
import { HandshakeError, NotKeywayError } from '../src/errors.js';
import { dial } from './auth-helpers.js';
import { PROLOGUE } from './channel-helpers.js';

const servers: (Server | ReturnType<typeof createHttpServer>)[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: Socket) => sockets.add(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** Runs the initiator's handshake against `port` with a long deadline; resolves its failure. */
async function handshakeFailure(port: number): Promise<{ error: unknown; ms: number }> {
  const socket = await dial(port);
  socket.on('error', () => {});
  const started = performance.now();
  try {
    await performHandshake(socket, {
      role: 'initiator',
      staticKeyPair: nodeCryptoProvider.generateKeyPair(),
      prologue: PROLOGUE,
      verifyRemote: () => {},
      timeoutMs: 20_000,
      maxHandshakeMessageBytes: 65535,
    });
    return { error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

describe('a peer that is not keyway', () => {
  it('an SSH server (it speaks first) is named at once, even with the largest message bound', async () => {
    const port = await listen(
      createServer((socket) => {
        socket.on('error', () => {});
        socket.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
      }),
    );
    const { error, ms } = await handshakeFailure(port);
    expect(error).toBeInstanceOf(NotKeywayError);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({
      code: 'ERR_NOT_KEYWAY',
      protocol: 'ssh',
      banner: 'SSH-2.0-OpenSSH_9.2p1 Debian-2',
    });
    // Well before the 20 s deadline (generous: the machine is loaded).
    expect(ms).toBeLessThan(10_000);
  });

  it('an HTTP server (it answers message 1 with an error page) is named at once', async () => {
    const port = await listen(createHttpServer((_req, res) => res.end('hello')));
    const { error, ms } = await handshakeFailure(port);
    expect(error).toMatchObject({ code: 'ERR_NOT_KEYWAY', protocol: 'http' });
    expect((error as NotKeywayError).banner).toMatch(/^HTTP\/1\.[01] 400/);
    expect(ms).toBeLessThan(10_000);
  });

  it('other text, read as an oversize first message, is a NotKeywayError with its start shown', async () => {
    const port = await listen(
      createServer((socket) => {
        socket.on('error', () => {});
        socket.write('220 mail.example ESMTP\r\n');
      }),
    );
    const socket = await dial(port);
    socket.on('error', () => {});
    await expect(
      performHandshake(socket, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue: PROLOGUE,
        verifyRemote: () => {},
      }),
    ).rejects.toMatchObject({
      code: 'ERR_NOT_KEYWAY',
      protocol: undefined,
      banner: '220 mail.example ESMTP',
    });
  });

  it('the banner shown is printable ASCII only, at most 64 characters', async () => {
    const port = await listen(
      createServer((socket) => {
        socket.on('error', () => {});
        socket.write(`SSH-2.0-\u001b[31mevil\u0007${'A'.repeat(200)}\r\n`);
      }),
    );
    const { error } = await handshakeFailure(port);
    const banner = (error as NotKeywayError).banner;
    expect(banner).toMatch(/^SSH-2\.0-\.\[31mevil\.A+$/);
    expect(banner.length).toBeLessThanOrEqual(64);
  });
});
