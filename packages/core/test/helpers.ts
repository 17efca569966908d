import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { type Connection, type ConnectionOptions, connectTransport } from '../src/connection.js';
import { duplexTransport } from '../src/duplex-transport.js';
import { memoryTransportPair } from '../src/memory-transport.js';
import { messagePortTransport } from '../src/message-port-transport.js';
import type { Transport } from '../src/transport.js';

/** A connected pair of TCP sockets on 127.0.0.1 (port 0), and a way to close the listener. */
export async function tcpPair(): Promise<{ client: Socket; server: Socket; listener: Server }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = netConnect(address.port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  client.setNoDelay(true);
  server.setNoDelay(true);
  listener.close();
  return { client, server, listener };
}

export const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/** Waits until `predicate` holds, polling, for at most `ms`. */
export async function waitFor(predicate: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The transports every conformance test runs over. */
export const TRANSPORTS = ['memory', 'tcp', 'message-port'] as const;
export type TransportKind = (typeof TRANSPORTS)[number];

export async function transportPair(kind: TransportKind): Promise<[Transport, Transport]> {
  if (kind === 'memory') return memoryTransportPair();
  if (kind === 'message-port') {
    const { port1, port2 } = new MessageChannel();
    return [messagePortTransport(port1, 'port:b'), messagePortTransport(port2, 'port:a')];
  }
  const { client, server } = await tcpPair();
  return [duplexTransport(server), duplexTransport(client)];
}

/** A server and a client connection over the given transport. */
export async function connectionPair(
  kind: TransportKind,
  serverOptions: ConnectionOptions = {},
  clientOptions: ConnectionOptions = {},
): Promise<{ server: Connection; client: Connection }> {
  const [a, b] = await transportPair(kind);
  const [server, client] = await Promise.all([
    connectTransport(a, serverOptions),
    connectTransport(b, clientOptions),
  ]);
  return { server, client };
}
