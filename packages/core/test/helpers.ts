import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

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
