/**
 * A real TCP rig for authentication tests: a server on 127.0.0.1 port 0 that runs
 * `acceptConnection` with a given authenticator on every socket, and a client dialler.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  type AcceptedConnection,
  type Authenticator,
  type AuthLogEvent,
  acceptConnection,
  type ClientHandshakeOptions,
  clientHandshake,
  type MessageTransport,
} from '../src/index.js';

export interface Rig {
  port: number;
  /** Settles once per accepted socket, in order. */
  accepted: Promise<AcceptedConnection | Error>[];
  log: AuthLogEvent[];
  close(): Promise<void>;
}

export async function startRig(authenticator: Authenticator, service?: string): Promise<Rig> {
  const accepted: Promise<AcceptedConnection | Error>[] = [];
  const log: AuthLogEvent[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    accepted.push(
      acceptConnection(socket, authenticator, {
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort,
        service,
        log: (e) => log.push(e),
      }).catch((e: Error) => e),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    accepted,
    log,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

export async function login(
  port: number,
  options: Omit<ClientHandshakeOptions, 'host' | 'port'>,
): Promise<MessageTransport> {
  const socket = await dial(port);
  socket.on('error', () => {});
  try {
    // Test records use cheap stretching (scrypt N=1024), below a client's default floor.
    const { transport } = await clientHandshake(socket, {
      host: '127.0.0.1',
      port,
      ksfBounds: { scryptMinMemoryBytes: 0 },
      ...options,
    });
    return transport;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Sends `text` one way and resolves with what the other side received. */
export function roundTrip(
  from: MessageTransport,
  to: MessageTransport,
  text: string,
): Promise<string> {
  return new Promise((resolve) => {
    to.start({ onMessage: (d) => resolve(new TextDecoder().decode(d)), onClose: () => {} });
    from.start({ onMessage: () => {}, onClose: () => {} });
    from.send(new TextEncoder().encode(text));
  });
}
